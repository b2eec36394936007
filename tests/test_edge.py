"""End to end, the platform's edge as a hostile client meets it (issue 8 findings 3 and 6, issue 15 item 8): the
five services as separate OS processes on RabbitMQ and PostgreSQL, requests sent to the gateway's real port."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

MAX_DEPTH = 64  # FLOWTAPE_MAX_JSON_DEPTH's default
MAX_BODY = 10 * 1024 * 1024  # FLOWTAPE_MAX_BODY_BYTES's default
INTERNALS = ("envelope", "recursion", "Pydantic", "Traceback", "engine.", "invalid_message", "psycopg", "0x00")


def nested(depth: int) -> Any:
    """An object ``depth`` levels deep (built without recursion, sent as text: the client's json would recurse)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def refused_as_too_deep(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "json_too_deep" and error["details"] == {"max_depth": MAX_DEPTH}, error
    assert f"more than {MAX_DEPTH} levels deep" in error["message"] and "FLOWTAPE_MAX_JSON_DEPTH" in error["message"]
    for word in INTERNALS:
        assert word not in response.text, f"{word!r} in {response.text[:300]}"


@pytest.fixture(scope="module")
def hook(api: httpx.Client) -> Iterator[str]:
    """An active ``respond: immediately`` webhook, as anyone on the internet may call it."""
    path = f"edge-{secrets.token_hex(4)}"
    definition = {
        "name": "edge hook",
        "nodes": [
            {"id": "hook", "type": "webhook", "params": {"path": path, "method": "POST", "respond": "immediately"}},
            {"id": "done", "type": "noop"},
        ],
        "edges": [{"from": "hook", "to": "done"}],
    }
    created = api.post("/api/v1/workflows", json=definition)
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]
    assert api.post(f"/api/v1/workflows/{workflow_id}/activate").status_code == 200
    yield path
    api.post(f"/api/v1/workflows/{workflow_id}/deactivate")


@pytest.fixture(scope="module")
def manual(api: httpx.Client) -> str:
    created = api.post(
        "/api/v1/workflows", json={"name": "edge run", "nodes": [{"id": "start", "type": "manual_trigger"}]}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_deep_json_is_refused_at_the_edge_in_the_api_error_shape(
    anonymous: httpx.Client, api: httpx.Client, hook: str, manual: str
) -> None:
    """Finding 6: webhook bodies 300 or 900 deep answered 500, run input 900 deep 500, 200 deep a 400 that told
    of the bus's message envelope."""
    json_type = {"content-type": "application/json"}
    for depth in (MAX_DEPTH + 1, 200, 300, 900, 100_000):
        refused_as_too_deep(anonymous.post(f"/hooks/{hook}", content=nested(depth), headers=json_type))
        body = '{"input": [' + nested(depth) + "]}"
        refused_as_too_deep(api.post(f"/api/v1/workflows/{manual}/run", content=body, headers=json_type))
        refused_as_too_deep(api.post("/api/v1/workflows", content=nested(depth), headers=json_type))
    # the platform is untouched: a webhook call and a run just under the limit go through
    assert anonymous.post(f"/hooks/{hook}", json={"n": 1}).status_code == 202
    body = '{"input": [' + nested(MAX_DEPTH - 2) + "]}"  # the body itself is 64 levels deep
    ran = api.post(f"/api/v1/workflows/{manual}/run", params={"wait": "true"}, content=body, headers=json_type)
    assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text[:300]


def test_text_postgresql_cannot_store_is_refused_and_the_lists_stay_whole(api: httpx.Client, manual: str) -> None:
    """Finding 3: a workflow named with a NUL was accepted, then broke every projection update: workflows made
    afterwards never appeared in the list."""
    nul = "nul\u0000name"
    refusals = {
        "/api/v1/workflows": ({"name": nul, "nodes": [{"id": "a", "type": "manual_trigger"}]}, "body.name"),
        "/api/v1/credentials": ({"name": nul, "type": "http_bearer", "data": {"token": "t"}}, "body.name"),
        "/api/v1/api-keys": ({"name": nul}, "body.name"),
        "/api/v1/users": ({"email": f"{nul}@flowtape.test", "password": "a long password"}, "body.email"),
        "/api/v1/auth/login": ({"email": f"{nul}@flowtape.test", "password": "a long password"}, "body.email"),
    }
    for path, (body, field) in refusals.items():
        response = api.post(path, json=body)
        assert response.status_code == 422, f"{path}: {response.status_code} {response.text[:200]}"
        error = response.json()["error"]
        assert error["code"] == "validation_error" and error["details"][0]["field"] == field, error
        assert "NUL" in error["message"]
    assert api.get("/api/v1/workflows", params={"cursor": "x\u0000"}).status_code == 422
    assert api.get("/api/v1/users/x%00y").status_code == 404

    created = api.post(
        "/api/v1/workflows", json={"name": "after the NUL", "nodes": [{"id": "a", "type": "manual_trigger"}]}
    )
    assert created.status_code == 201
    listed = [w["id"] for w in api.get("/api/v1/workflows", params={"limit": 500}).json()["items"]]
    assert created.json()["id"] in listed and manual in listed

    # item data is data: NUL in it is kept, in the log on PostgreSQL as everywhere
    ran = api.post(f"/api/v1/workflows/{manual}/run", params={"wait": "true"}, json={"input": [{"t": "a\u0000b"}]})
    assert ran.status_code == 200 and ran.json()["output"] == [{"t": "a\u0000b"}], ran.text[:300]


def test_every_answer_carries_security_headers_and_no_server_banner(
    anonymous: httpx.Client, api: httpx.Client, hook: str
) -> None:
    """Issue 15 item 8, on the gateway's real port (uvicorn included)."""
    answers = {
        "api": api.get("/api/v1/workflows"),
        "401": anonymous.get("/api/v1/workflows"),
        "webhook": anonymous.post(f"/hooks/{hook}", json={}),
        "unknown webhook": anonymous.post("/hooks/nothing-here", json={}),
        "docs": anonymous.get("/api/v1/docs"),
        "docs script": anonymous.get("/api/v1/docs/assets/swagger-ui-bundle.js"),
        "openapi": anonymous.get("/api/v1/openapi.json"),
        "ops": anonymous.get("/readyz"),
        "413": anonymous.post(f"/hooks/{hook}", content=b"x" * (MAX_BODY + 1)),
        "422": anonymous.post(f"/hooks/{hook}", content=nested(100), headers={"content-type": "application/json"}),
    }
    for what, response in answers.items():
        headers = response.headers
        assert headers.get("x-content-type-options") == "nosniff", what
        assert headers.get("x-frame-options") == "DENY", what
        csp = headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp, what
        assert headers.get("referrer-policy") == "no-referrer", what
        assert "server" not in headers, f"{what}: server {headers.get('server')}"
    assert "<script>" not in answers["docs"].text and "cdn" not in answers["docs"].text
    assert answers["api"].headers["cache-control"] == "no-store"


def test_a_streamed_body_over_the_limit_is_cut_off_on_every_route(anonymous: httpx.Client, hook: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 8):
            yield b"y" * 65536

    for path in (f"/hooks/{hook}", "/api/v1/auth/login", "/api/v1/workflows", "/healthz"):
        response = anonymous.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413, f"{path}: {response.status_code}"
        assert response.json()["error"] == {
            "code": "payload_too_large",
            "message": f"the request body is over {MAX_BODY} bytes (the limit is FLOWTAPE_MAX_BODY_BYTES)",
            "details": {"limit_bytes": MAX_BODY},
        }
