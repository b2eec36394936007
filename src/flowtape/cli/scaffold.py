"""``flowtape nodes new NAME``: a plugin package for a new node type, ready to test and install.

What it writes is the smallest complete plugin: a ``pyproject.toml`` declaring the ``flowtape.nodes`` entry
point the connectors load, a node class with its parameter model and a runnable example, and a test that runs
the node with :func:`flowtape.testing.run_node` (no platform needed) and checks every example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

__all__ = ["PluginNames", "scaffold_plugin"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin uses, all derived from the name given on the command line."""

    node_type: str  # acme_lookup: what workflows write as "type"
    distribution: str  # flowtape-node-acme-lookup
    package: str  # flowtape_node_acme_lookup
    node_class: str  # AcmeLookupNode
    params_class: str  # AcmeLookupParams

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        if not _NAME.match(name):
            raise ValueError(
                f"{name!r} is not a usable node name: use letters and digits, words joined by - or _ "
                "(e.g. acme-lookup), starting with a letter"
            )
        words = [word.lower() for word in re.split(r"[-_]", name)]
        pascal = "".join(word.capitalize() for word in words)
        return cls(
            node_type="_".join(words),
            distribution="flowtape-node-" + "-".join(words),
            package="flowtape_node_" + "_".join(words),
            node_class=f"{pascal}Node",
            params_class=f"{pascal}Params",
        )


_PYPROJECT = Template("""\
[project]
name = "$distribution"
version = "0.1.0"
description = "The $node_type node type for Flowtape"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["flowtape-common"]

# The connectors load every node type declared in this group when they start.
[project.entry-points."flowtape.nodes"]
$node_type = "$package.node:$node_class"

[dependency-groups]
dev = ["pytest>=8", "pytest-asyncio>=1.0"]

[build-system]
requires = ["uv_build>=0.9,<0.14"]
build-backend = "uv_build"

[tool.uv.build-backend]
module-name = "$package"

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"

[tool.ruff]
line-length = 120

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
""")

_README = Template("""\
# $distribution

The `$node_type` node type for Flowtape.

- `src/$package/node.py`: the parameters (a pydantic model: its JSON Schema validates workflows and draws
  the console's form), the node class and its examples.
- `tests/test_node.py`: runs the node with `flowtape.testing.run_node`, no platform needed:
  `pytest tests`.
- Install it next to the connectors (`pip install .` in the connectors' environment, or add it to the image)
  and restart them: `GET /api/v1/nodes` then lists `$node_type`. See docs/nodes.md in Flowtape.
""")

_INIT = Template('''\
"""The $node_type node type for Flowtape."""

from $package.node import $node_class, $params_class

__all__ = ["$node_class", "$params_class"]
''')

_NODE = Template('''\
"""The $node_type node: writes a greeting built from one field of each item.

Replace the parameters and ``run_item`` with what your node does. Keep ``pure = True`` only if the node does
no I/O and runs no user code (the engine then evaluates it inline); a node that calls an API leaves it False
and runs in the connectors, where ``ctx.credential(name)`` gives it a stored credential.
"""

from __future__ import annotations

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from pydantic import Field


class $params_class(NodeParams):
    """Unknown keys are refused at save time (NodeParams forbids extras)."""

    field: str = Field(default="name", min_length=1, description="The field holding the name to greet.")
    greeting: str = Field(default="Hello", min_length=1, max_length=100, description="The word before the name.")
    to: str = Field(default="greeting", min_length=1, description="The field to write the greeting to.")


class $node_class(NodeType[$params_class]):
    type = "$node_type"
    version = 1
    category = "data"
    description = "Writes a greeting for the name in a field of each item."
    Params = $params_class
    pure = True
    examples = (
        NodeExample(
            title="Greet a customer",
            params={"field": "name", "greeting": "Welcome"},
            input=[{"name": "Ada"}],
            output={"main": [{"name": "Ada", "greeting": "Welcome, Ada!"}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: $params_class, item: Item) -> NodeResult:
        name = item.get(params.field)
        if not isinstance(name, str) or not name:
            # the SDK adds which item it was; say which field and what was wrong with it
            raise NodeError(f"field {params.field!r}: expected a name as text, got {name!r}")
        return NodeResult.on([{**item, params.to: f"{params.greeting}, {name}!"}])
''')

_TEST = Template('''\
"""The $node_type node, run the way the engine and connectors run it, without a platform."""

from __future__ import annotations

import pytest
from flowtape.common.errors import NodeError
from flowtape.testing import run_node

from $package import $node_class


async def test_greets_each_item() -> None:
    ports = await run_node($node_class(), params={"greeting": "Hi"}, items=[{"name": "Ada"}, {"name": "Alan"}])
    assert ports == {"main": [{"name": "Ada", "greeting": "Hi, Ada!"}, {"name": "Alan", "greeting": "Hi, Alan!"}]}


async def test_expressions_in_params_see_the_item() -> None:
    items = [{"name": "Ada", "salutation": "Dear"}]
    ports = await run_node($node_class(), params={"greeting": "{{ item.salutation }}"}, items=items)
    assert ports["main"][0]["greeting"] == "Dear, Ada!"


async def test_bad_data_names_the_item_and_field() -> None:
    with pytest.raises(NodeError, match="item 1: field 'name': expected a name as text"):
        await run_node($node_class(), items=[{"name": "Ada"}, {"name": 42}])


async def test_bad_params_are_refused() -> None:
    with pytest.raises(NodeError, match="invalid parameters for $node_type: greting: Extra inputs are not permitted"):
        await run_node($node_class(), params={"greting": "Hi"}, items=[{"name": "Ada"}])


@pytest.mark.parametrize("example", $node_class.examples, ids=lambda example: example.title)
async def test_examples_hold(example) -> None:
    assert await run_node($node_class(), params=example.params, items=example.input) == example.output
''')


def scaffold_plugin(name: str, directory: Path, *, force: bool = False) -> Path:
    """Write the plugin for ``name`` under ``directory``; returns the plugin's root. FileExistsError when it
    is there already (unless ``force``), ValueError when the name is unusable."""
    names = PluginNames.from_name(name)
    root = directory / names.distribution
    if root.exists() and not force:
        raise FileExistsError(f"{root} already exists (pass --force to overwrite it)")
    values = {
        "node_type": names.node_type,
        "distribution": names.distribution,
        "package": names.package,
        "node_class": names.node_class,
        "params_class": names.params_class,
    }
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / "src" / names.package / "__init__.py": _INIT,
        root / "src" / names.package / "node.py": _NODE,
        root / "tests" / "test_node.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.substitute(values))
    return root
