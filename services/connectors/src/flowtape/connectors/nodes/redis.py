"""The ``redis`` node: get, set (with a TTL), delete, increment, list push and pop, publish, on a client
(with its connection pool) per credential."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, model_validator

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.connections import Connections

Operation = Literal["get", "set", "delete", "increment", "push", "pop", "publish"]


class RedisParams(NodeParams):
    credential: str = Field(min_length=1, description="a redis credential's id or name")
    operation: Operation
    key: str = Field(min_length=1, max_length=1024, description="the key (the channel for publish)")
    value: Any = Field(default=None, description="set / push / publish: text as is, anything else as JSON")
    ttl_seconds: float | None = Field(default=None, gt=0, description="set: expire the key after this long")
    only_if: Literal["always", "absent", "present"] = Field(
        default="always", description="set: only when the key does not exist yet (absent) or already does"
    )
    by: int = Field(default=1, description="increment: the step (negative to decrement)")
    end: Literal["left", "right"] = Field(default="right", description="push / pop: which end of the list")
    parse_json: bool = Field(default=True, description="get / pop: decode a value that is JSON")

    @model_validator(mode="after")
    def _needs_value(self) -> RedisParams:
        if self.operation in ("set", "push", "publish") and self.value is None:
            raise ValueError(f"the {self.operation} operation needs 'value'")
        return self


def _encoded(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _decoded(raw: bytes | None, parse_json: bool) -> Any:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace")
    if not parse_json:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


class RedisNode(NodeType[RedisParams]):
    """Outputs one item per input item: ``{"key", "value"}`` (get, pop), ``{"key", "written"}`` (set),
    ``{"key", "deleted"}``, ``{"key", "value"}`` (increment: the new value), ``{"key", "length"}`` (push),
    ``{"channel", "receivers"}`` (publish)."""

    type = "redis"
    category = "database"
    description = "Get, set (with a TTL), delete, increment, push to or pop from a list, or publish, in Redis."
    Params = RedisParams
    #: what a key holds is the server's state, not a function of the parameters
    deterministic = False
    examples = (
        NodeExample(
            title="Cache an exchange rate for an hour (credential 'cache')",
            params={
                "credential": "cache",
                "operation": "set",
                "key": "fx:{{ item.base }}:{{ item.quote }}",
                "value": "{{ item.rate }}",
                "ttl_seconds": 3600,
            },
            input=[{"base": "EUR", "quote": "USD", "rate": 1.0842}],
            output={"main": [{"key": "fx:EUR:USD", "written": True}]},
        ),
        NodeExample(
            title="Read the cached rate back (value null once the key expired)",
            params={"credential": "cache", "operation": "get", "key": "fx:{{ item.base }}:{{ item.quote }}"},
            input=[{"base": "EUR", "quote": "USD"}],
            output={"main": [{"key": "fx:EUR:USD", "value": 1.0842}]},
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def run_item(self, ctx: NodeContext, params: RedisParams, item: Item) -> NodeResult:
        import redis.exceptions  # the client library loads with the first Redis node run (see pools.py)

        credential = await ctx.credential(params.credential, "redis")
        client = await self._connections.redis.client(credential)
        key = params.key
        try:
            if params.operation == "get":
                out: Item = {"key": key, "value": _decoded(await client.get(key), params.parse_json)}
            elif params.operation == "set":
                written = await client.set(
                    key,
                    _encoded(params.value),
                    px=int(params.ttl_seconds * 1000) if params.ttl_seconds else None,
                    nx=params.only_if == "absent",
                    xx=params.only_if == "present",
                )
                out = {"key": key, "written": bool(written)}
            elif params.operation == "delete":
                out = {"key": key, "deleted": int(await client.delete(key))}
            elif params.operation == "increment":
                out = {"key": key, "value": int(await client.incrby(key, params.by))}
            elif params.operation == "push":
                push = client.lpush if params.end == "left" else client.rpush
                out = {"key": key, "length": int(await push(key, _encoded(params.value)))}
            elif params.operation == "pop":
                pop = client.lpop if params.end == "left" else client.rpop
                out = {"key": key, "value": _decoded(await pop(key), params.parse_json)}
            else:
                out = {"channel": key, "receivers": int(await client.publish(key, _encoded(params.value)))}
        except redis.exceptions.ResponseError as exc:
            raise NodeError(f"Redis refused {params.operation.upper()} on {key!r}: {exc}") from None
        except redis.exceptions.RedisError as exc:
            raise NodeError(f"Redis {params.operation} on {key!r} failed: {type(exc).__name__}: {exc}") from None
        return NodeResult.on([out])
