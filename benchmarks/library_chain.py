"""A 20-node chain of the data library's pure nodes, measured next to the ``set`` chain.

Every node is one the engine evaluates inline; the chain touches text, numbers, dates, hashing, encoding,
object edits and the batch nodes (filter, sort, remove_duplicates), so the row shows what a realistic chain of
library nodes costs compared with 19 ``set`` nodes. The expected output is computed here with the same node
classes (``flowtape.testing.run_node``), so a run counts only when the platform produced exactly that.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.testing import run_node

INPUT: list[dict[str, Any]] = [
    {"n": 7, "name": "  Ada Lovelace ", "at": "2026-03-01T10:00:00Z", "tags": "math, engines,poetry"}
]

#: (type, params) of the 19 nodes after the trigger
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("trim_text", {"field": "name"}),
    ("change_case", {"field": "name", "case": "snake", "to": "key"}),
    ("slugify", {"field": "name", "to": "slug"}),
    ("pad_text", {"field": "n", "width": 5, "fill": "0", "to": "code"}),
    ("calculate", {"operation": "multiply", "operands": ["n", 1.2], "to": "total", "decimals": 2}),
    ("parse_date", {"field": "at"}),
    ("date_add", {"field": "at", "amount": 1, "unit": "months", "to": "due"}),
    ("format_date", {"field": "due", "format": "%d %B %Y", "timezone": "Europe/Paris", "to": "due_text"}),
    ("split_text", {"field": "tags"}),
    ("join_text", {"field": "tags", "separator": "|", "to": "tag_line"}),
    ("hash", {"field": "slug", "to": "digest"}),
    ("encode", {"field": "key", "to": "key_b64"}),
    ("set_fields", {"values": {"meta.source": "bench", "meta.n": "{{ item.n }}"}}),
    ("rename_fields", {"renames": [{"from": "total", "to": "amount.value"}]}),
    ("filter", {"conditions": [{"field": "amount.value", "operator": "gt", "value": 1}]}),
    ("sort", {"keys": [{"field": "n"}, {"field": "slug", "direction": "desc"}]}),
    ("remove_duplicates", {"fields": ["key"]}),
    ("omit_fields", {"fields": ["tags"]}),
    ("flatten", {}),
]


def library_chain(name: str = "library-chain") -> dict[str, Any]:
    nodes = [{"id": "start", "type": "manual_trigger", "params": {}}]
    nodes += [{"id": f"n{i}", "type": node_type, "params": params} for i, (node_type, params) in enumerate(STEPS, 1)]
    edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": name, "nodes": nodes, "edges": edges}


def expected_output() -> list[dict[str, Any]]:
    """What the chain emits for :data:`INPUT`, computed in this process with the same node types."""
    by_type = {cls.type: cls for cls in BUILTIN_NODES}

    async def evaluate() -> list[dict[str, Any]]:
        items = INPUT
        for node_type, params in STEPS:
            items = (await run_node(by_type[node_type](), params=params, items=items))["main"]
        return items

    return asyncio.run(evaluate())


def expect_library_chain() -> Callable[[dict[str, Any]], bool]:
    expected = expected_output()

    def check(execution: dict[str, Any]) -> bool:
        return execution.get("output") == expected

    return check
