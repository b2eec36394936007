"""The s3 node against a local S3 (moto in server mode)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Credential, NodeContext, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.credential_checks import check_credential
from flowtape.connectors.nodes.s3 import S3Node
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, credential, s3_server

SECRET = f"sk-{secrets.token_urlsafe(20)}"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with s3_server("AKIATEST", SECRET, "flowtape-files") as url:
        yield url


@pytest.fixture
async def s3(s3_url: str) -> AsyncIterator[tuple[S3Node, NodeContext, Credential, Connections]]:
    connections = Connections(LOCAL_SERVERS)
    keys = credential(
        "storage", "aws", {"access_key_id": "AKIATEST", "secret_access_key": SECRET, "endpoint_url": s3_url}
    )
    ctx = NodeContext(
        execution_id="e", workflow_id="w", workflow_version=1, node_id="s3", credentials=Credentials(keys)
    )
    yield S3Node(ApiCalls(connections)), ctx, keys, connections
    await connections.close()


async def run(node: S3Node, ctx: NodeContext, items: list[dict[str, Any]] | None = None, **params: Any) -> list[Any]:
    result = await execute_node(
        node, {"credential": "storage", "bucket": "flowtape-files", **params}, ctx, items or [{}]
    )
    return result.ports["main"]


async def test_put_get_list_delete(s3: tuple[S3Node, NodeContext, Credential, Connections]) -> None:
    node, ctx, _, _ = s3
    image = base64.b64encode(bytes(range(256))).decode()

    put = await run(
        node,
        ctx,
        [{"id": 7, "csv": "a,b\n1,2\n"}],
        operation="put",
        key="reports/{{ item.id }}.csv",
        content="{{ item.csv }}",
        content_type="text/csv",
    )
    await run(node, ctx, operation="put", key="images/one two.bin", content=image, encoding="base64")
    got = await run(node, ctx, operation="get", key="reports/7.csv")
    binary = await run(node, ctx, operation="get", key="images/one two.bin", encoding="base64")
    listed = await run(node, ctx, operation="list", prefix="reports/")

    assert put[0]["key"] == "reports/7.csv" and put[0]["size"] == 8 and put[0]["etag"]
    assert got[0]["content"] == "a,b\n1,2\n" and got[0]["content_type"] == "text/csv"
    assert base64.b64decode(binary[0]["content"]) == bytes(range(256))
    assert [o["key"] for o in listed] == ["reports/7.csv"] and listed[0]["size"] == 8
    assert (await run(node, ctx, operation="delete", key="reports/7.csv"))[0]["deleted"] is True
    assert await run(node, ctx, operation="list", prefix="reports/") == []


async def test_errors_name_the_s3_code(s3: tuple[S3Node, NodeContext, Credential, Connections]) -> None:
    node, ctx, keys, connections = s3
    with pytest.raises(NodeError, match=r"S3 get flowtape-files/missing.txt failed: HTTP 404: NoSuchKey"):
        await run(node, ctx, operation="get", key="missing.txt")
    with pytest.raises(NodeError, match="NoSuchBucket"):
        await execute_node(node, {"credential": "storage", "bucket": "no-such-bucket", "operation": "list"}, ctx, [{}])
    checked = await check_credential(connections, keys)
    assert checked.ok and "listed 1 bucket" in checked.message
