"""Every credential type's secrets are redacted from whatever a node makes of them (output, error, crash)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from flowtape.common.credentials import CREDENTIAL_TYPES
from flowtape.common.db import async_engine
from flowtape.common.errors import NodeError
from flowtape.common.messages import connectors as msg
from flowtape.common.nodes.sdk import Item, NodeContext, NodeParams, NodeResult, NodeType
from flowtape.connectors.application import NodeRunner
from flowtape.connectors.completed import SCHEMA, CompletedTasks
from flowtape.connectors.credentials import CredentialStore
from flowtape.connectors.registry import NodeRegistry
from flowtape.connectors.vault import Vault
from services.connectors.tests.fixtures_credentials import sample_data, secrets_of
from services.connectors.tests.test_vault import SECRET_KEY, sealed


class DumpParams(NodeParams):
    credential: str
    how: str = Field(default="output")


class DumpNode(NodeType[DumpParams]):
    """Puts every field of its credential in clear into its output, its error or a crash."""

    type: ClassVar[str] = "dump"
    Params = DumpParams

    async def run_item(self, ctx: NodeContext, params: DumpParams, item: Item) -> NodeResult:
        revealed = (await ctx.credential(params.credential)).reveal()
        text = " ".join(f"{k}={v}" for k, v in revealed.items())
        if params.how == "error":
            raise NodeError(f"the API said: {text}")
        if params.how == "crash":
            raise RuntimeError(text)
        return NodeResult.on(
            [{"revealed": revealed, "text": text[:50], "keys": {str(v): 1 for v in revealed.values()}}]
        )


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[tuple[NodeRunner, Vault]]:
    engine = async_engine(f"sqlite:///{tmp_path / 'c.db'}", SCHEMA)
    store, completed = CredentialStore(engine), CompletedTasks(engine)
    await store.create()
    await completed.create()
    vault = Vault(store, SECRET_KEY)
    yield NodeRunner(NodeRegistry([DumpNode()]), completed, vault=vault), vault
    await engine.dispose()


def test_every_type_has_sample_data() -> None:
    assert set(sample_data()) == set(CREDENTIAL_TYPES)


@pytest.mark.parametrize("type_name", sorted(CREDENTIAL_TYPES))
@pytest.mark.parametrize("how", ["output", "error", "crash"])
async def test_secrets_of_every_type_are_redacted(
    runner: tuple[NodeRunner, Vault], type_name: str, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    node_runner, vault = runner
    data: dict[str, Any] = sample_data()[type_name]
    name = f"{type_name}-{how}"
    await vault.create(msg.CreateCredential(name=name, type=type_name, sealed_data=sealed(vault, data)))
    task = msg.RunNodeTask(
        execution_id=uuid.uuid4().hex,
        workflow_id="w",
        workflow_version=1,
        node_id="n",
        node_type="dump",
        params={"credential": name, "how": how},
        items=[{}],
    )

    done = await node_runner.handle(task)

    assert done is not None
    recorded = done.encode().decode()
    for value in secrets_of(data):
        assert value not in recorded, f"{type_name}: a secret reached the outcome ({how})"
        assert value not in caplog.text, f"{type_name}: a secret reached the log ({how})"
    assert "[redacted]" in recorded
