"""Webhooks: which workflow a call reaches (asked of the real triggers service, in process), the signature check,
what the body becomes, and how the answer is shaped."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from flowtape.common.errors import NotFound, Unauthorized
from flowtape.common.hosting import running
from flowtape.common.messages.engine import SyncWorkflowTriggers
from flowtape.common.messages.triggers import WebhookRoute
from flowtape.common.views import Execution
from flowtape.gateway.domain.webhooks import WebhookRequest, finished_answer, verify_signature
from flowtape.triggers.bootstrap import TriggersRuntime

if TYPE_CHECKING:
    from services.gateway.tests.conftest import Gateway

SECRET = "webhook-signing-secret"


def hooked(path: str, **params: Any) -> dict[str, Any]:
    return {
        "name": f"hook {path}",
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "method": "POST", **params}},
            {"id": "done", "type": "noop"},
        ],
        "edges": [{"from": "hook", "to": "done"}],
    }


@pytest.fixture
async def with_triggers(gateway: Gateway) -> AsyncIterator[Gateway]:
    """The gateway and the triggers service on one in-process bus, as ``flowtape up`` runs them."""
    triggers = TriggersRuntime(gateway.runtime._settings, gateway.bus)
    async with running(gateway.bus, [triggers, gateway.runtime]):
        for workflow_id, definition in (
            ("w-orders", hooked("shop/orders")),
            ("w-signed", hooked("signed", secret=SECRET)),
        ):
            await gateway.bus.ask(SyncWorkflowTriggers(workflow_id=workflow_id, version=3, definition=definition))
        yield gateway


async def test_a_call_reaches_the_workflow_that_registered_its_path_and_method(with_triggers: Gateway) -> None:
    routes = with_triggers.runtime.gateway.webhook_routes
    route = await routes.resolve("post", "/shop/orders/")
    assert (route.workflow_id, route.version, route.respond) == ("w-orders", 3, "immediately")
    with pytest.raises(NotFound):
        await routes.resolve("GET", "shop/orders")
    with pytest.raises(NotFound):
        await routes.resolve("POST", "shop")


async def test_a_deactivated_webhook_stops_answering_at_once(with_triggers: Gateway) -> None:
    routes = with_triggers.runtime.gateway.webhook_routes
    assert (await routes.resolve("POST", "shop/orders")).workflow_id == "w-orders"
    await with_triggers.bus.ask(SyncWorkflowTriggers(workflow_id="w-orders", definition=None))
    for _ in range(50):  # the TriggersChanged broadcast drops the cached route
        try:
            await routes.resolve("POST", "shop/orders")
        except NotFound:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the removed webhook still resolves")


async def test_a_signed_webhook_refuses_a_wrong_signature(with_triggers: Gateway) -> None:
    async with with_triggers.client() as client:
        body = b'{"n": 1}'
        for signature in (None, "sha256=" + "0" * 64, "sha1=abc"):
            headers = {"content-type": "application/json"} | ({"x-flowtape-signature": signature} if signature else {})
            refused = await client.post("/hooks/signed", content=body, headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        unknown = await client.post("/hooks/no-such-hook", json={})
        assert unknown.status_code == 404 and "no active workflow serves POST /hooks/no-such-hook" in unknown.text


def test_the_signature_is_an_hmac_of_the_raw_body() -> None:
    body = b'{"n": 1}'
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    verify_signature(SECRET, body, good)
    verify_signature(SECRET, body, good.upper())
    with pytest.raises(Unauthorized):
        verify_signature(SECRET, body + b" ", good)


def request(body: bytes, content_type: str | None = "application/json", **extra: Any) -> WebhookRequest:
    headers = [("content-type", content_type)] if content_type else []
    return WebhookRequest(
        method="post",
        path="/a/b/",
        headers=[*headers, *extra.get("headers", [])],
        query=extra.get("query", []),
        body=body,
    )


def test_what_the_body_becomes() -> None:
    assert request(b'{"n": 1}').items() == [{"n": 1}]
    assert request(b'[{"n": 1}, {"n": 2}]').items() == [{"n": 1}, {"n": 2}]
    assert request(b"[1, 2]").items() == [{"body": "[1, 2]"}]
    assert request(b"plain words", "text/plain").items() == [{"body": "plain words"}]
    assert request(b'{"n": 1}', None).items() == [{"n": 1}]
    assert request(b"   ").items() == []
    assert request(b'{"text": "nul \\u0000 kept"}').items() == [{"text": "nul \u0000 kept"}]  # data, not a name
    too_deep = b"[" * 5000 + b"]" * 5000  # refused at the edge; here it would still not crash
    assert request(too_deep).items() == [{"body": too_deep.decode()}]


def test_expressions_see_the_request_without_its_credentials() -> None:
    metadata = request(
        b"{}",
        headers=[("Authorization", "Bearer secret"), ("X-API-Key", "ftk_x"), ("Cookie", "s=1"), ("X-Trace", "t")],
        query=[("a", "1"), ("a", "2"), ("b", "3")],
    ).metadata()
    assert metadata["method"] == "POST" and metadata["path"] == "a/b"
    assert metadata["headers"] == {"content-type": "application/json", "x-trace": "t"}
    assert metadata["query"] == {"a": ["1", "2"], "b": "3"}


def _run(**fields: Any) -> Execution:
    """A finished execution as the engine sends it, with ``fields`` set."""
    base: dict[str, Any] = {"id": "e-1", "workflow_id": "w", "workflow_version": 1, "events": 3, "output": []}
    return Execution.model_validate({**base, "nodes": {}, **fields})


def test_how_a_finished_run_answers() -> None:
    route = WebhookRoute(workflow_id="w", version=1, method="POST", path="p", respond="last_node", respond_nodes=["r"])
    one = finished_answer(route, _run(status="succeeded", output=[{"n": 2}]))
    assert (one.status, one.body) == (200, {"n": 2})
    many = finished_answer(route, _run(status="succeeded", output=[{"n": 1}, {"n": 2}]))
    assert many.body == [{"n": 1}, {"n": 2}]
    built = {"status": 201, "body": "<b>made</b>", "headers": {"Content-Type": "text/html", "Content-Length": "9"}}
    responded = finished_answer(
        route,
        _run(
            status="succeeded",
            nodes={"r": {"status": "succeeded", "attempts": 1, "output": [built], "finished_at": "t"}},
        ),
    )
    assert (responded.status, responded.raw, responded.headers) == (201, True, {"Content-Type": "text/html"})
    failed = finished_answer(route, _run(id="e-9", status="failed", error="boom", failed_node="x"))
    assert failed.status == 500 and failed.body["error"]["details"] == {"execution_id": "e-9", "failed_node": "x"}
    assert "boom" not in failed.body["error"]["message"]  # a node's error stays in the execution
