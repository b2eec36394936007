"""Every example of every node type in the catalog, run through the real engine and connectors.

Each example becomes a one-node workflow after a ``manual_trigger`` (a trigger node's example runs as the
workflow's own trigger), is saved (so the catalog's JSON Schema validates its params), run with the
example's input, and the node's recorded output on every port is compared with the example's. Nodes that are
not deterministic (ids, random values, the clock, an API's answer) are compared by shape: the same ports, item
count, top-level keys and JSON types. An input field ``base_url`` stands for a third-party API's address: it is
pointed at a local stand-in (tests.infra.FakeApi). The catalog comes over the bus, as ``GET /api/v1/nodes``
shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.bus.memory import MemoryBus
from flowtape.common.errors import InvalidWorkflow
from flowtape.common.hosting import running
from flowtape.common.messages import connectors as connectors_msg
from flowtape.common.messages import engine as msg
from flowtape.common.settings import Settings
from flowtape.connectors.bootstrap import ConnectorsRuntime
from flowtape.engine.bootstrap import EngineRuntime
from flowtape.gateway.vault import seal
from tests.infra import FakeApi

#: credentials the examples name (their titles say so), created before the examples run
EXAMPLE_CREDENTIALS = {"webhook-signing": ("generic", {"key": "secret"})}
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
async def bus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MemoryBus]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FLOWTAPE_ENGINE_DATABASE_URL", raising=False)
        patch.delenv("FLOWTAPE_CONNECTORS_DATABASE_URL", raising=False)
        data_dir: Path = tmp_path_factory.mktemp("examples")
        settings = Settings(data_dir=data_dir, database_url=None, _env_file=None)  # type: ignore[call-arg]
        memory = MemoryBus()
        async with running(memory, [EngineRuntime(settings, memory), ConnectorsRuntime(settings, memory)]):
            key = await memory.ask(connectors_msg.GetCredentialSealingKey())
            for name, (kind, data) in EXAMPLE_CREDENTIALS.items():
                await memory.ask(
                    connectors_msg.CreateCredential(name=name, type=kind, sealed_data=seal(data, key["jwk"]))
                )
            yield memory


def _kind(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def _shape(ports: dict[str, list[dict[str, Any]]]) -> Any:
    return {port: [{key: _kind(v) for key, v in item.items()} for item in items] for port, items in ports.items()}


async def _finished(bus: MemoryBus, execution_id: str, timeout: float = 20.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view: dict[str, Any] = await bus.ask(msg.GetExecution(execution_id=execution_id))
        if view["status"] in FINISHED:
            return view
        if loop.time() > deadline:
            raise AssertionError(f"execution {execution_id} did not finish in {timeout} s: {view}")
        await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


async def test_every_catalog_example_runs_as_a_one_node_workflow(bus: MemoryBus, fake_api: FakeApi) -> None:
    catalog = [
        connectors_msg.NodeCatalogEntry.model_validate(e) for e in await bus.ask(connectors_msg.GetNodeCatalog())
    ]
    missing = [entry.type for entry in catalog if not entry.examples]
    assert not missing, f"node types without an example: {missing}"
    failures: list[str] = []
    ran = 0
    for entry in catalog:
        for index, example in enumerate(entry.examples):
            label = f"{entry.type} example {index + 1} ({example.title})"
            node = {"id": "node", "type": entry.type, "params": example.params}
            if entry.trigger:
                definition = {"name": label, "nodes": [node], "edges": []}
            else:
                start = {"id": "start", "type": "manual_trigger", "params": {}}
                definition = {"name": label, "nodes": [start, node], "edges": [{"from": "start", "to": "node"}]}
            workflow = await bus.ask(msg.CreateWorkflow(definition=definition))
            items = [{**item, "base_url": fake_api.url} if "base_url" in item else item for item in example.input]
            started = await bus.ask(msg.StartExecution(workflow_id=workflow["id"], input=items))
            view = await _finished(bus, started["execution_id"])
            ran += 1
            run = view["nodes"]["node"]
            if view["status"] != "succeeded":
                failures.append(f"{label}: {view['status']}: {view.get('error') or run.get('error')}")
                continue
            got = {port: items for port, items in (run["ports"] or {}).items() if items or port in example.output}
            want = {port: items for port, items in example.output.items() if items or port in got}
            if not entry.deterministic:
                got, want = _shape(got), _shape(want)
            if got != want:
                failures.append(f"{label}: emitted {got}, the example says {want}")
    assert not failures, "\n".join(failures)
    assert ran >= len(catalog)


@pytest.mark.parametrize(
    ("node_type", "params", "problem"),
    [
        ("filter", {"conditions": [{"field": "a", "operator": "bigger"}]}, "conditions.0.operator"),
        ("sort", {"keys": []}, "keys"),
        ("summarize", {"aggregations": [{"operation": "median", "field": "x"}]}, "aggregations.0.operation"),
        ("pad_text", {"field": "a", "width": 10**9}, "width"),
        ("parse_csv", {"delimiter": ";;"}, "delimiter"),
        ("date_add", {"field": "a", "amount": 1, "unit": "fortnights"}, "unit"),
        ("hash", {"field": "a", "algorithm": "crc32"}, "algorithm"),
        ("validate_schema", {}, "'schema' is a required property"),
        ("limit", {"max_items": 3, "typo": 1}, "typo"),
    ],
)
async def test_bad_params_are_refused_at_save_naming_the_node(
    bus: MemoryBus, node_type: str, params: dict[str, Any], problem: str
) -> None:
    definition = {
        "name": f"bad {node_type}",
        "nodes": [{"id": "start", "type": "manual_trigger"}, {"id": "shaky", "type": node_type, "params": params}],
        "edges": [{"from": "start", "to": "shaky"}],
    }
    with pytest.raises(InvalidWorkflow) as refused:
        await bus.ask(msg.CreateWorkflow(definition=definition))
    assert refused.value.message.startswith(f"invalid workflow: node 'shaky': invalid params for {node_type}")
    assert problem in refused.value.message
