"""The edge of the gateway: request limits on every route, security headers on every answer, no stack traces."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from flowtape.gateway.middleware import CONTENT_SECURITY_POLICY

if TYPE_CHECKING:
    from services.gateway.tests.conftest import Gateway

BODY_LIMIT = 64 * 1024  # as conftest sets FLOWTAPE_MAX_BODY_BYTES
MAX_DEPTH = 16  # and FLOWTAPE_MAX_JSON_DEPTH


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return dict(body["error"])


async def test_json_nested_past_the_limit_is_refused_before_any_parser_on_api_and_webhook_routes(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/workflows", "/hooks/orders", "/probe/echo"):
        for depth in (MAX_DEPTH + 1, 300, 900, 6_000):  # 6,000 deep: 36 kB, under the body limit
            response = await client.post(path, content=nested(depth), headers={"content-type": "application/json"})
            assert response.status_code == 422, (path, depth, response.text)
            error = error_of(response)
            assert error["code"] == "json_too_deep" and error["details"] == {"max_depth": MAX_DEPTH}
            assert f"more than {MAX_DEPTH} levels" in error["message"]
            assert "FLOWTAPE_MAX_JSON_DEPTH" in error["message"]
    # no content type is JSON too (FastAPI and webhooks parse it as such); other types are not measured
    assert (await client.post("/probe/echo", content=nested(40))).status_code == 422
    text = await client.post("/probe/echo", content=nested(40), headers={"content-type": "text/plain"})
    assert text.status_code == 200 and text.json()["length"] == len(nested(40))


async def test_json_within_the_limit_reaches_the_route(client: httpx.AsyncClient) -> None:
    at_limit = await client.post("/probe/echo", content=nested(MAX_DEPTH), headers={"content-type": "application/json"})
    assert at_limit.status_code == 200 and at_limit.json()["length"] == len(nested(MAX_DEPTH))
    # parsed and validated by the route: a body of the wrong shape is the route's 422, not the edge's
    login = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x", "extra": [[[[1]]]]})
    assert login.status_code == 422 and error_of(login)["code"] == "validation_error"


async def test_a_body_over_the_limit_is_refused_with_or_without_a_content_length(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    declared = await client.post("/probe/echo", content=b"x" * (BODY_LIMIT + 1))
    assert declared.status_code == 413 and error_of(declared)["details"] == {"limit_bytes": BODY_LIMIT}

    # a chunked body with no Content-Length is counted as it streams and cut off once past the limit
    received: list[int] = []

    async def body(chunks: int) -> Any:
        for _ in range(chunks):
            received.append(1)
            yield b"y" * 1024

    streamed = await client.post("/probe/echo", content=body(BODY_LIMIT // 1024 + 50))
    assert streamed.status_code == 413 and error_of(streamed)["code"] == "payload_too_large"
    within = await client.post("/probe/echo", content=body(BODY_LIMIT // 1024))
    assert within.status_code == 200 and within.json()["length"] == BODY_LIMIT


async def test_the_body_and_a_disconnect_are_handed_on_intact(gateway: Gateway) -> None:
    """At the ASGI level: chunks arrive one by one and the client goes away; the route sees both."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"a": ', "more_body": True},
        {"type": "http.request", "body": b"[1, 2]}", "more_body": False},
        {"type": "http.disconnect"},
    ]
    seen: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    from flowtape.gateway.middleware import RequestLimits

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""}
    await RequestLimits(inner, limit=1024, max_json_depth=4)(scope, receive, send)
    assert seen[0] == {"type": "http.request", "body": b'{"a": [1, 2]}', "more_body": False}
    assert seen[1] == {"type": "http.disconnect"}
    assert sent[0]["status"] == 204


async def test_nul_in_a_url_is_refused_before_any_lookup(gateway: Gateway, client: httpx.AsyncClient) -> None:
    headers = gateway.headers("admin")
    path = await client.get("/api/v1/users/abc%00def", headers=headers)
    assert path.status_code == 404 and error_of(path)["code"] == "not_found"
    query = await client.get("/api/v1/audit", params={"action": "login\x00failed"}, headers=headers)
    assert query.status_code == 422
    assert error_of(query)["details"] == [
        {"field": "query.action", "message": "must not contain a NUL character (\\u0000)"}
    ]


async def test_every_answer_carries_the_security_headers(gateway: Gateway, client: httpx.AsyncClient) -> None:
    answers = {
        "docs page": await client.get("/api/v1/docs"),
        "openapi": await client.get("/api/v1/openapi.json"),
        "liveness": await client.get("/healthz"),
        "401": await client.get("/api/v1/workflows"),
        "403": await client.get("/api/v1/users", headers=gateway.headers("viewer")),
        "404": await client.get("/api/v1/no-such-thing"),
        "405": await client.delete("/api/v1/auth/login"),
        "413": await client.post("/probe/echo", content=b"x" * (BODY_LIMIT + 1)),
        "422 depth": await client.post("/hooks/x", content=nested(50)),
        "422 schema": await client.post("/api/v1/auth/login", json={}),
        "500": await client.get("/probe/boom"),
        "a route's own": await client.get("/probe/loose-headers"),
    }
    for what, response in answers.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", what
        assert headers["x-frame-options"] == "DENY", what
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, what
        assert headers["referrer-policy"] == "no-referrer", what
        assert "server" not in headers, what
    assert answers["500"].status_code == 500 and answers["413"].status_code == 413
    assert "strict-transport-security" not in answers["docs page"].headers  # plain HTTP here
    assert answers["401"].headers["cache-control"] == "no-store"


async def test_the_policy_forbids_inline_script_and_framing() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and "unsafe" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["default-src"] == "'self'"


async def test_https_answers_ask_browsers_to_stay_on_https(gateway: Gateway) -> None:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://gateway.test") as client:
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_a_bug_answers_500_in_the_error_shape_without_its_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/probe/boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error" and "hunter2" not in response.text and "Traceback" not in response.text


async def test_the_docs_page_loads_only_files_of_its_own_origin(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>" not in html and "http://" not in html and "https://" not in html
    import re

    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(sources) == 4
    for source in sources:
        asset = await client.get(f"/api/v1/{source}")
        assert asset.status_code == 200, source
        expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}[source.rsplit(".", 1)[1]]
        assert asset.headers["content-type"].startswith(expected), source
    start = await client.get("/api/v1/docs/start.js")
    assert 'url: "openapi.json"' in start.text and "validatorUrl: null" in start.text
    assert (await client.get("/api/v1/docs/assets/index.html")).status_code == 404  # only the files it needs
    assert json.loads((await client.get("/api/v1/openapi.json")).text)["openapi"]
