"""The redis node against the real Redis on this machine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from flowtape.common.egress import PUBLIC_ONLY
from flowtape.common.errors import EgressRefused, NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.redis import RedisNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, credential

CRED = credential("cache", "redis", {"host": "127.0.0.1", "port": 6379})
CTX = NodeContext(execution_id="e", workflow_id="w", workflow_version=1, node_id="r", credentials=Credentials(CRED))


@pytest.fixture
async def node() -> AsyncIterator[RedisNode]:
    connections = Connections(LOCAL_SERVERS)
    yield RedisNode(connections)
    await connections.close()


@pytest.fixture
def key() -> str:
    return f"flowtape-test:{uuid.uuid4().hex}"


async def op(node: RedisNode, **params: Any) -> dict[str, Any]:
    result = await execute_node(node, {"credential": "cache", **params}, CTX, [{}])
    return result.ports["main"][0]


async def test_set_get_increment_delete(node: RedisNode, key: str) -> None:
    assert await op(node, operation="set", key=key, value={"n": 1}) == {"key": key, "written": True}
    assert await op(node, operation="get", key=key) == {"key": key, "value": {"n": 1}}
    assert (await op(node, operation="set", key=key, value="x", only_if="absent"))["written"] is False
    assert await op(node, operation="increment", key=f"{key}:c", by=5) == {"key": f"{key}:c", "value": 5}
    assert (await op(node, operation="increment", key=f"{key}:c", by=-2))["value"] == 3
    assert await op(node, operation="delete", key=key) == {"key": key, "deleted": 1}
    assert (await op(node, operation="get", key=key))["value"] is None
    await op(node, operation="delete", key=f"{key}:c")


async def test_set_with_a_ttl_expires(node: RedisNode, key: str) -> None:
    await op(node, operation="set", key=key, value="soon gone", ttl_seconds=0.3)
    assert (await op(node, operation="get", key=key))["value"] == "soon gone"
    await asyncio.sleep(0.6)
    assert (await op(node, operation="get", key=key))["value"] is None


async def test_lists_push_and_pop_at_either_end(node: RedisNode, key: str) -> None:
    assert (await op(node, operation="push", key=key, value="b"))["length"] == 1
    assert (await op(node, operation="push", key=key, value="a", end="left"))["length"] == 2
    assert (await op(node, operation="pop", key=key, end="left"))["value"] == "a"
    assert (await op(node, operation="pop", key=key))["value"] == "b"
    assert (await op(node, operation="pop", key=key))["value"] is None


async def test_publish_reaches_a_subscriber(node: RedisNode, key: str) -> None:
    listener = aioredis.Redis(host="127.0.0.1")
    pubsub = listener.pubsub()
    await pubsub.subscribe(key)
    await pubsub.get_message(timeout=1)
    try:
        assert (await op(node, operation="publish", key=key, value={"order": 7}))["receivers"] == 1
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None and message["data"] == b'{"order": 7}'
    finally:
        await pubsub.aclose()
        await listener.aclose()


async def test_errors_say_what_failed(node: RedisNode, key: str) -> None:
    await op(node, operation="set", key=key, value="text")
    with pytest.raises(NodeError, match=r"Redis refused INCREMENT on .*not an integer"):
        await op(node, operation="increment", key=key)
    await op(node, operation="delete", key=key)
    guarded = RedisNode(Connections(PUBLIC_ONLY))
    with pytest.raises(EgressRefused):
        await op(guarded, operation="get", key=key)
