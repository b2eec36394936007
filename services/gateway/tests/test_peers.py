"""What peers and the bus say reaches a client only in a client's terms (API.md's shape, the right status)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import pytest

from flowtape.common.errors import FlowtapeError, NotFound, RateLimited, TimedOut
from flowtape.common.messages import engine as msg
from flowtape.common.messages.triggers import ListTriggers
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.topology import ENGINE_PARTITIONS, ENGINE_REQUESTS_QUEUE, partition_queue
from flowtape.gateway.peers import PeerBus

if TYPE_CHECKING:
    from services.gateway.tests.conftest import Gateway

INTERNALS = ("envelope", "recursion", "psycopg", "engine.", "Traceback", "relation", "v1")


class QuotaExceeded(FlowtapeError):
    """An error code a newer peer might send that this gateway does not know."""

    code: ClassVar[str] = "quota_exceeded"


def deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture
async def engine(gateway: Gateway) -> AsyncIterator[list[Any]]:
    """The engine's request queue on the in-process bus, answering the way a failing engine would."""
    handled: list[Any] = []

    async def get_workflow(m: msg.GetWorkflow) -> Any:
        raise NotFound(f"workflow {m.workflow_id!r} does not exist")

    async def list_workflows(_: msg.ListWorkflows) -> Any:
        raise RuntimeError('psycopg.errors.UndefinedTable: relation "engine.workflows" does not exist')

    async def get_execution(_: msg.GetExecution) -> Any:
        raise QuotaExceeded("the execution quota of project p-17 is exceeded")

    async def list_executions(_: msg.ListExecutions) -> Any:
        raise RateLimited("too many listings", details={"retry_after": 7})

    async def project_of(m: msg.GetProjectOf) -> Any:
        if m.kind_of == "workflow" and m.id == "w-404":
            raise NotFound(f"workflow {m.id!r} does not exist")
        return {"project_id": DEFAULT_PROJECT}

    async def start(m: msg.StartExecution) -> Any:
        handled.append(m)
        return {"execution_id": "e-1"}

    gateway.bus.subscribe(
        ENGINE_REQUESTS_QUEUE,
        {
            msg.GetWorkflow: get_workflow,
            msg.GetProjectOf: project_of,
            msg.ListWorkflows: list_workflows,
            msg.GetExecution: get_execution,
            msg.ListExecutions: list_executions,
        },
    )
    for partition in range(ENGINE_PARTITIONS):  # starts go to the partition of the run they name
        gateway.bus.subscribe(partition_queue(partition), {msg.StartExecution: start})
    await gateway.bus.start()
    try:
        yield handled
    finally:
        await gateway.bus.stop()


def assert_plain(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    for word in INTERNALS:
        assert word not in response.text, f"{word!r} leaked: {response.text}"
    return str(error["message"])


async def test_a_peers_client_error_passes_as_it_said_it(
    gateway: Gateway, client: httpx.AsyncClient, engine: list[Any]
) -> None:
    viewer = gateway.headers("viewer")
    missing = await client.get("/api/v1/workflows/w-404", headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "workflow 'w-404' does not exist"
    limited = await client.get("/api/v1/executions", headers=viewer)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"


async def test_a_peers_failure_is_a_plain_500(gateway: Gateway, client: httpx.AsyncClient, engine: list[Any]) -> None:
    viewer = gateway.headers("viewer")
    assert_plain(await client.get("/api/v1/workflows", headers=viewer), 500, "internal_error")
    unknown = await client.get("/api/v1/executions/e-1", headers=viewer)
    assert "quota" not in assert_plain(unknown, 500, "internal_error")


async def test_a_message_the_peer_cannot_parse_does_not_describe_the_bus(gateway: Gateway, engine: list[Any]) -> None:
    """The finding: a body 200 deep once answered 400 "not a Flowtape message envelope: Invalid JSON: recursion
    limit exceeded". The edge now refuses such bodies; should one reach a peer anyway, its answer is screened."""
    peers = PeerBus(gateway.bus)
    with pytest.raises(FlowtapeError) as refused:
        await peers.ask(msg.StartExecution(workflow_id="w", input=[deep(250)]), timeout=5)
    assert type(refused.value) is FlowtapeError and refused.value.code == "internal_error"
    assert refused.value.message == "the engine service failed to handle this"
    assert engine == []  # the engine never took it for a command
    assert (await peers.ask(msg.StartExecution(workflow_id="w", input=[deep(10)]), timeout=5)) == {
        "execution_id": "e-1"
    }


async def test_the_bus_timing_out_names_the_service_not_the_message(
    gateway: Gateway, client: httpx.AsyncClient, engine: list[Any]
) -> None:
    message = assert_plain(await client.get("/api/v1/triggers", headers=gateway.headers("viewer")), 504, "timeout")
    assert message == "the triggers service did not answer within 1 s; try again"
    with pytest.raises(TimedOut) as timed_out:
        await gateway.runtime.gateway.platform.ask(ListTriggers(), timeout=0.1)
    assert timed_out.value.message == "the triggers service did not answer within 0.1 s; try again"
