from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from flowtape.common.errors import Conflict, NotFound
from flowtape.common.nodes.sdk import Item, NodeContext, NodeParams, NodeResult, NodeType
from flowtape.connectors.nodes.code import CodeNode
from flowtape.connectors.nodes.http_request import HttpRequestNode
from flowtape.connectors.registry import NodeRegistry

API_NODE_TYPES = {
    "manual_trigger",
    "webhook",
    "schedule",
    "set",
    "if",
    "switch",
    "merge",
    "http_request",
    "code",
    "wait",
    "respond",
    "noop",
}


class ShoutParams(NodeParams):
    text: str


class ShoutNode(NodeType[ShoutParams]):
    type = "shout"
    category = "text"
    description = "Upper-cases text."
    Params = ShoutParams

    async def run_item(self, ctx: NodeContext, params: ShoutParams, item: Item) -> NodeResult:
        return NodeResult.on([{"text": params.text.upper()}])


class FakeCodeNode(ShoutNode):
    type = "code"


@dataclass
class FakeEntryPoint:
    name: str
    loads: Callable[[], Any]
    value: str = "plugin_module:Thing"

    def load(self) -> Any:
        return self.loads()


def plugins(*entry_points: FakeEntryPoint) -> Callable[[], list[FakeEntryPoint]]:
    return lambda: list(entry_points)


def test_default_catalog_has_every_documented_node_type():
    registry = NodeRegistry.default(plugins=plugins())

    catalog = registry.catalog()

    assert API_NODE_TYPES <= {entry["type"] for entry in catalog}
    assert all(entry["type"] in registry for entry in catalog)
    http = next(entry for entry in catalog if entry["type"] == "http_request")
    assert http["category"] == "network" and "json" in http["params_schema"]["properties"]


def test_plugins_load_and_broken_ones_are_skipped(caplog: pytest.LogCaptureFixture):
    def broken() -> Any:
        raise ImportError("No module named 'slack_sdk'")

    registry = NodeRegistry([HttpRequestNode(), CodeNode()])
    with caplog.at_level(logging.WARNING, logger="flowtape.connectors.registry"):
        registry.load_plugins(
            plugins(
                FakeEntryPoint("shout", lambda: ShoutNode),
                FakeEntryPoint("slack", broken),
                FakeEntryPoint("junk", lambda: "not a node"),
                FakeEntryPoint("takeover", lambda: FakeCodeNode),
            )
        )

    assert registry.types() == ["code", "http_request", "shout"]
    assert isinstance(registry.get("code"), CodeNode)
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert "node plugin 'slack' (plugin_module:Thing) skipped: it failed to load: ImportError" in warnings
    assert "node plugin 'junk' (plugin_module:Thing) skipped: it loads 'not a node'" in warnings
    assert "node plugin 'takeover' (plugin_module:Thing) refused: node type 'code' is already registered" in warnings


def test_plugin_listing_failure_does_not_crash():
    def no_metadata() -> list[FakeEntryPoint]:
        raise RuntimeError("corrupt metadata")

    registry = NodeRegistry([ShoutNode()])
    registry.load_plugins(no_metadata)

    assert registry.types() == ["shout"]


def test_get_unknown_type_lists_known_types():
    registry = NodeRegistry([ShoutNode(), CodeNode()])

    with pytest.raises(NotFound, match="unknown node type 'shuot'; known types: code, shout"):
        registry.get("shuot")
    assert "shuot" not in registry


def test_register_refuses_a_duplicate_name():
    registry = NodeRegistry([ShoutNode()])

    with pytest.raises(Conflict):
        registry.register(ShoutNode())


def test_a_type_registers_in_several_versions_and_each_is_found_by_its_version():
    class ShoutV2(ShoutNode):
        version = 2

    registry = NodeRegistry([ShoutNode(), ShoutV2()])

    assert [(entry["type"], entry["version"]) for entry in registry.catalog()] == [("shout", 1), ("shout", 2)]
    assert type(registry.get("shout", 2)) is ShoutV2
    assert type(registry.get("shout", 1)) is ShoutNode
    assert type(registry.get("shout")) is ShoutNode, "no version named: the earliest, as saved before versions"
    with pytest.raises(NotFound, match="has no version 3 here"):
        registry.get("shout", 3)
    with pytest.raises(Conflict):
        registry.register(ShoutV2())
