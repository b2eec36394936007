"""Credentials named by a workflow's nodes, as an export and an import rewrite them (docs: "Export and import")."""

from __future__ import annotations

from typing import Any

from flowtape.gateway.domain.credential_references import credential_names, with_credentials

DEFINITION: dict[str, Any] = {
    "name": "sync",
    "nodes": [
        {"id": "fetch", "type": "http_request", "params": {"url": "https://x.test", "credential": "c-1"}},
        {"id": "noop", "type": "noop"},
        {"id": "store", "type": "postgres", "params": {"credential": "warehouse"}},
        {"id": "odd", "type": "code", "params": {"credential": {"not": "a reference"}}},
    ],
    "edges": [{"from": "fetch", "to": "store"}],
}


def test_the_credentials_a_workflow_names_in_node_order() -> None:
    assert credential_names(DEFINITION) == ["c-1", "warehouse"]
    assert credential_names({"name": "empty"}) == []


def test_references_are_renamed_where_the_map_says_and_nowhere_else() -> None:
    renamed = with_credentials(DEFINITION, {"c-1": "api token", "unused": "x"})
    assert credential_names(renamed) == ["api token", "warehouse"]
    assert renamed["nodes"][0]["params"]["url"] == "https://x.test"  # other parameters stay
    assert renamed["nodes"][3] == DEFINITION["nodes"][3]
    assert renamed["edges"] == DEFINITION["edges"] and renamed["name"] == "sync"
    assert credential_names(DEFINITION) == ["c-1", "warehouse"]  # the original is not changed
