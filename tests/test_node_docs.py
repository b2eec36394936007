"""docs/nodes.md lists every built-in node type as the catalog describes it."""

from __future__ import annotations

from flowtape.cli.node_reference import END, START, builtin_catalog, render_table
from tests.infra import ROOT


def test_the_node_table_in_the_docs_is_up_to_date() -> None:
    document = (ROOT / "docs" / "nodes.md").read_text()
    assert START in document and END in document
    current = document.split(START, 1)[1].split(END, 1)[0].strip()
    expected = render_table(builtin_catalog())
    assert current == expected, "docs/nodes.md is out of date: run `flowtape nodes table --write docs/nodes.md`"
    for entry in builtin_catalog():
        assert f"| `{entry['type']}` |" in current
