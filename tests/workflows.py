"""Workflow definitions the end-to-end tests and benchmarks share."""

from __future__ import annotations

from typing import Any

BRANCHING: dict[str, Any] = {
    "name": "orders",
    "nodes": [
        {"id": "hook", "type": "webhook", "params": {"path": "orders", "method": "POST", "respond": "last_node"}},
        {"id": "calc", "type": "set", "params": {"fields": {"doubled": "{{ item.n * 2 }}"}}},
        {"id": "check", "type": "if", "params": {"condition": "{{ item.n > 10 }}"}},
        {"id": "big", "type": "set", "params": {"fields": {"label": "big"}}},
        {"id": "small", "type": "set", "params": {"fields": {"label": "small"}}},
    ],
    "edges": [
        {"from": "hook", "to": "calc"},
        {"from": "calc", "to": "check"},
        {"from": "check", "port": "true", "to": "big"},
        {"from": "check", "port": "false", "to": "small"},
    ],
}


def chain(length: int = 20, name: str = "chain") -> dict[str, Any]:
    """A trigger followed by ``length - 1`` set nodes, each adding one field."""
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "manual_trigger"}]
    edges = []
    for i in range(1, length):
        nodes.append({"id": f"n{i}", "type": "set", "params": {"fields": {f"f{i}": f"{{{{ item.n + {i} }}}}"}}})
        edges.append({"from": f"n{i - 1}", "to": f"n{i}"})
    return {"name": name, "nodes": nodes, "edges": edges}


PARALLEL_MERGE: dict[str, Any] = {
    "name": "fan-in",
    "nodes": [
        {"id": "start", "type": "manual_trigger"},
        {"id": "left", "type": "set", "params": {"fields": {"side": "left"}}},
        {
            "id": "right",
            "type": "code",
            "params": {"code": "def run(items):\n    return [{**i, 'side': 'right'} for i in items]"},
        },
        {"id": "join", "type": "merge"},
        {"id": "done", "type": "set", "params": {"fields": {"joined": True}}},
    ],
    "edges": [
        {"from": "start", "to": "left"},
        {"from": "start", "to": "right"},
        {"from": "left", "to": "join"},
        {"from": "right", "to": "join"},
        {"from": "join", "to": "done"},
    ],
}


def http_call(url: str) -> dict[str, Any]:
    return {
        "name": "http-call",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {
                "id": "call",
                "type": "http_request",
                "params": {
                    "method": "POST",
                    "url": url + "/orders",
                    "query": {"source": "flowtape"},
                    "headers": {"X-Test": "yes"},
                    "json": {"n": "{{ item.n }}"},
                    "send_idempotency_key": True,
                },
            },
            {"id": "pick", "type": "set", "params": {"fields": {"echoed": "{{ item.body.echo.n }}"}}},
        ],
        "edges": [{"from": "start", "to": "call"}, {"from": "call", "to": "pick"}],
    }


def code(source: str, timeout_seconds: float = 10, name: str = "code") -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "py", "type": "code", "params": {"code": source, "timeout_seconds": timeout_seconds}},
        ],
        "edges": [{"from": "start", "to": "py"}],
    }


def waits_then_calls(url: str) -> dict[str, Any]:
    """A 3 s wait, then a POST carrying the task's idempotency key to ``url``/effect (:class:`tests.infra.FakeApi`
    counts the keys it is sent)."""
    return {
        "name": "wait-then-call",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "pause", "type": "wait", "params": {"seconds": 3}},
            {
                "id": "call",
                "type": "http_request",
                "params": {
                    "method": "POST",
                    "url": url + "/effect",
                    "json": {"n": "{{ item.n }}"},
                    "send_idempotency_key": True,
                },
            },
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "call"}],
    }
