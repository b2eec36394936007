"""While the gateway's connection to RabbitMQ is down (a broker restart), every route that needs the bus answers
API.md's 503 with a Retry-After, never a 500 "unhandled error"; once the broker is back, the same routes work.
While only a peer is down, what the gateway already knows still serves (webhook routes).

The gateway runs in process on a real RabbitMQ virtual host of its own; the outage is that vhost's connections
closed and refused (:func:`tests.infra.broker_outage`), so the machine's broker is never restarted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from flowtape.common.bus.factory import rabbit_bus
from flowtape.common.bus.memory import MemoryBus
from flowtape.common.errors import Unavailable
from flowtape.common.hosting import build_app
from flowtape.common.messages import engine as msg
from flowtape.common.messages.triggers import ResolveWebhook
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.settings import Settings
from flowtape.common.topology import ENGINE_REQUESTS_QUEUE, TRIGGERS_REQUESTS_QUEUE
from flowtape.gateway.bootstrap import GatewayRuntime
from flowtape.gateway.webhooks import WebhookRoutes
from services.gateway.tests.conftest import Gateway
from tests.infra import broker_outage, rabbitmq_vhost


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    with rabbitmq_vhost("flowtape-gateway-outage") as url:
        yield url


@pytest.fixture
async def gateway_on_rabbit(tmp_path: Path, amqp_url: str) -> AsyncIterator[Gateway]:
    settings = Settings(data_dir=tmp_path, amqp_url=amqp_url, database_url=None, request_timeout_seconds=3.0)
    registry = CollectorRegistry()
    bus = rabbit_bus(amqp_url, "gateway", registry)
    runtime = GatewayRuntime(settings, bus, registry)

    async def list_workflows(_: msg.ListWorkflows) -> dict[str, object]:
        return {"items": [], "next_cursor": None}

    bus.subscribe(ENGINE_REQUESTS_QUEUE, {msg.ListWorkflows: list_workflows})  # an engine that answers lists
    runtime.subscribe(bus)
    await bus.start()
    try:
        yield Gateway(build_app(bus, [runtime], registry, title="Flowtape"), runtime, bus)  # type: ignore[arg-type]
    finally:
        await bus.stop()


Call = tuple[str, str, object]


async def answers_while_the_broker_is_down(
    gateway: Gateway, amqp_url: str, calls: dict[str, Call]
) -> dict[str, httpx.Response]:
    admin = gateway.headers("admin")
    async with gateway.client() as client:
        assert (await client.get("/api/v1/workflows", headers=admin)).status_code == 200
        # the gateway has seen the workflow and the run before (it keeps their projects): the outage is met
        # where the start or the read goes to the engine
        gateway.runtime.gateway.owners.learn("workflow", "w-1", DEFAULT_PROJECT)
        gateway.runtime.gateway.owners.learn("execution", "e-1", DEFAULT_PROJECT)
        with broker_outage(amqp_url):
            await asyncio.sleep(0.5)
            return {
                name: await client.request(method, path, json=body, headers=admin)
                for name, (method, path, body) in calls.items()
            }


async def test_routes_answer_503_with_retry_after_while_the_broker_is_down(
    gateway_on_rabbit: Gateway, amqp_url: str
) -> None:
    calls: dict[str, Call] = {
        "list workflows": ("GET", "/api/v1/workflows", None),
        "create a workflow": (
            "POST",
            "/api/v1/workflows",
            {"name": "w", "nodes": [{"id": "start", "type": "manual_trigger"}], "edges": []},
        ),
        "run a workflow": ("POST", "/api/v1/workflows/w-1/run", {"input": [{}]}),
        "read an execution": ("GET", "/api/v1/executions/e-1", None),
        "list triggers": ("GET", "/api/v1/triggers", None),
        "call a webhook": ("POST", "/hooks/orders", {"n": 1}),
    }
    answers = await answers_while_the_broker_is_down(gateway_on_rabbit, amqp_url, calls)
    for name, response in answers.items():
        assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
        error = response.json()["error"]
        assert error["code"] == "unavailable", name
        assert "message bus is unavailable" in error["message"] and "retry" in error["message"], name
        assert response.headers["retry-after"] == "5", name
        if name == "run a workflow":  # a caller of a run learns which run did not start
            assert error["details"]["execution_id"], f"{name}: {response.text}"
        for internal in ("amqp", "Channel", "RabbitMQ did not", "Traceback"):
            assert internal not in response.text, f"{name} leaked {internal!r}: {response.text}"


async def test_the_same_routes_work_once_the_broker_is_back(gateway_on_rabbit: Gateway, amqp_url: str) -> None:
    await answers_while_the_broker_is_down(gateway_on_rabbit, amqp_url, {"list": ("GET", "/api/v1/workflows", None)})
    async with gateway_on_rabbit.client() as client:
        for _ in range(60):  # aio-pika reconnects every 5 s
            answer = await client.get("/api/v1/workflows", headers=gateway_on_rabbit.headers("viewer"))
            if answer.status_code == 200:
                break
            # while the connection comes back: 503 (no bus yet), or 504 (the bus is back, the in-process engine
            # consumer not yet re-subscribed): both API.md's "try again", never a 500
            assert answer.status_code in (503, 504), answer.text
            await asyncio.sleep(0.5)
        assert answer.status_code == 200 and answer.json()["items"] == []


async def test_a_known_webhook_route_serves_while_the_triggers_service_is_down() -> None:
    """Webhook routes belong to the triggers service; its restart must not refuse callers of a path it resolved."""
    bus = MemoryBus()
    up = True

    async def resolve(m: ResolveWebhook) -> dict[str, object]:
        if not up:
            raise Unavailable("the triggers database is restarting")
        return {"workflow_id": "w-1", "version": 3, "method": m.method, "path": m.path}

    bus.subscribe(TRIGGERS_REQUESTS_QUEUE, {ResolveWebhook: resolve})
    await bus.start()
    try:
        routes = WebhookRoutes(bus, ttl=0)  # every call asks the triggers service again
        assert (await routes.resolve("POST", "orders")).version == 3
        up = False
        assert (await routes.resolve("post", "/orders/")).version == 3, "the route it gave before"
        with pytest.raises(Unavailable):  # a path never resolved cannot be guessed
            await routes.resolve("POST", "refunds")
    finally:
        await bus.stop()
