from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.nodes.http_request import HttpRequestNode, HttpRequestParams
from services.connectors.tests.fakes import LOCAL_SERVERS


async def call(node: HttpRequestNode, ctx: NodeContext, params: dict[str, Any]) -> dict[str, Any]:
    result = await execute_node(node, params, ctx, [{}])
    [item] = result.ports["main"]
    return item


async def test_get_sends_query_and_headers(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    node = HttpRequestNode(http_client)

    item = await call(
        node,
        ctx,
        {
            "url": f"{http_server}/echo",
            "query": {"q": "flow tape", "page": 2, "exact": True},
            "headers": {"X-Api-Key": "k1"},
        },
    )

    assert item["status"] == 200
    assert item["headers"]["x-test-server"] == "yes"
    assert item["body"]["method"] == "GET"
    assert item["body"]["query"] == {"q": "flow tape", "page": "2", "exact": "true"}
    assert item["body"]["headers"]["x-api-key"] == "k1"
    assert "idempotency-key" not in item["body"]["headers"]


async def test_post_json_body(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    node = HttpRequestNode(http_client)

    item = await call(node, ctx, {"method": "POST", "url": f"{http_server}/echo", "json": {"order": 7, "tags": ["a"]}})

    assert item["body"]["method"] == "POST"
    assert item["body"]["headers"]["content-type"] == "application/json"
    assert item["body"]["body"] == '{"order": 7, "tags": ["a"]}'


async def test_explicit_json_null_is_sent(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    item = await call(HttpRequestNode(http_client), ctx, {"method": "PUT", "url": f"{http_server}/echo", "json": None})

    assert item["body"]["body"] == "null"


async def test_text_body_and_text_response(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    node = HttpRequestNode(http_client)

    sent = await call(node, ctx, {"method": "PATCH", "url": f"{http_server}/echo", "body": "a=1&b=2"})
    text = await call(node, ctx, {"url": f"{http_server}/text"})
    raw = await call(node, ctx, {"url": f"{http_server}/echo", "response_format": "text"})

    assert sent["body"]["body"] == "a=1&b=2"
    assert sent["body"]["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert text["body"] == "héllo wörld"
    assert isinstance(raw["body"], str) and raw["body"].startswith('{"method": "GET"')


async def test_non_2xx_status_fails_the_node(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    with pytest.raises(NodeError) as failure:
        await call(HttpRequestNode(http_client), ctx, {"method": "DELETE", "url": f"{http_server}/status/500"})

    message = failure.value.message
    assert message.startswith(f"HTTP 500 from DELETE {http_server}/status/500: status body xxx")
    assert len(message) < 300
    assert failure.value.details["status"] == 500


async def test_ignore_status_outputs_the_response(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    item = await call(HttpRequestNode(http_client), ctx, {"url": f"{http_server}/status/404", "ignore_status": True})

    assert item["status"] == 404
    assert item["body"].startswith("status body")


async def test_timeout_fails_with_a_clear_message(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    with pytest.raises(NodeError, match=r"timed out after 0\.3 s.*raise the node's timeout"):
        await call(HttpRequestNode(http_client), ctx, {"url": f"{http_server}/slow?seconds=3", "timeout": 0.3})


async def test_unreachable_server_says_what_to_check(http_client: httpx.AsyncClient, ctx: NodeContext):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(NodeError, match=r"could not connect for GET http://127\.0\.0\.1:\d+/x.*Check the URL"):
        await call(HttpRequestNode(http_client), ctx, {"url": f"http://127.0.0.1:{port}/x", "timeout": 5})


async def test_idempotency_key_header(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    item = await call(
        HttpRequestNode(http_client),
        ctx,
        {"method": "POST", "url": f"{http_server}/echo", "json": {}, "send_idempotency_key": True},
    )

    assert item["body"]["headers"]["idempotency-key"] == "exec-1:step:2"


async def test_oversized_response_fails(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    node = HttpRequestNode(http_client, max_response_bytes=1024 * 1024)

    small = await call(node, ctx, {"url": f"{http_server}/big?bytes=1000"})
    with pytest.raises(NodeError, match="larger than the 1 MiB limit"):
        await call(node, ctx, {"url": f"{http_server}/big?bytes=2000000"})

    assert len(small["body"]) == 1000


async def test_head_without_a_shared_client(http_server: str, ctx: NodeContext):
    item = await call(HttpRequestNode(egress=LOCAL_SERVERS), ctx, {"method": "head", "url": f"{http_server}/echo"})

    assert item["status"] == 200
    assert item["body"] is None


async def test_one_request_per_item(http_server: str, http_client: httpx.AsyncClient, ctx: NodeContext):
    result = await execute_node(
        HttpRequestNode(http_client),
        {"url": f"{http_server}/echo", "query": {"id": "{{ item.id }}"}},
        ctx,
        [{"id": 1}, {"id": 2}],
    )

    assert [item["body"]["query"] for item in result.ports["main"]] == [{"id": "1"}, {"id": "2"}]


async def test_invalid_json_with_json_format_fails(ctx: NodeContext):
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, text="<html>", headers={"Content-Type": "application/json"})
    )
    async with httpx.AsyncClient(transport=transport) as client:
        node = HttpRequestNode(client)
        lenient = await call(node, ctx, {"url": "https://api.example/x"})
        with pytest.raises(NodeError, match="not valid JSON"):
            await call(node, ctx, {"url": "https://api.example/x", "response_format": "json"})

    assert lenient["body"] == "<html>"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"url": "ftp://example.com/file"}, "http:// or https://"),
        ({"url": "not a url"}, "http:// or https://"),
        ({"url": "https://example.com", "json": {}, "body": "x"}, "either json or body"),
        ({"url": "https://example.com", "timeout": 0}, "timeout"),
        ({"url": "https://example.com", "method": "TRACE"}, "method"),
        ({"url": "https://example.com", "json_body": {}}, "json_body"),
        ({"url": "https://example.com", "headers": {"X-Name": "José"}}, "ASCII"),
        ({"url": "https://example.com", "headers": {"Bad Name": "x"}}, "not a valid header name"),
    ],
)
async def test_invalid_parameters(params: dict[str, Any], problem: str, ctx: NodeContext):
    with pytest.raises(NodeError, match="invalid parameters for http_request") as failure:
        await call(HttpRequestNode(), ctx, params)

    assert problem in failure.value.message


def test_schema_names_the_json_parameter():
    schema = HttpRequestNode.describe()["params_schema"]

    assert "json" in schema["properties"]
    assert "json_body" not in schema["properties"]
    assert schema["required"] == ["url"]
    assert HttpRequestParams.model_validate({"url": "http://x", "json": [1]}).json_body == [1]


@pytest.mark.parametrize(
    ("target", "keeps_secret"), [("https://api.test/final", True), ("https://elsewhere.test/final", False)]
)
async def test_credential_header_does_not_follow_a_redirect_to_another_origin(
    ctx: NodeContext, target: str, keeps_secret: bool
) -> None:
    from dataclasses import replace

    from flowtape.common.credentials import HttpHeaderCredential
    from flowtape.common.nodes.sdk import Credential

    seen: dict[str, str | None] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/start":
            return httpx.Response(302, headers={"location": target})
        seen[str(request.url)] = request.headers.get("x-api-key")
        return httpx.Response(200, json={"ok": True})

    async def resolve(ref: str) -> Credential:
        return Credential(id="c1", name=ref, data=HttpHeaderCredential(name="X-Api-Key", value="s3cret-value"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        item = await call(
            HttpRequestNode(client),
            replace(ctx, credentials=resolve),
            {"url": "https://api.test/start", "credential": "vendor"},
        )
    assert item["status"] == 200
    assert seen == {target: "s3cret-value" if keeps_secret else None}
