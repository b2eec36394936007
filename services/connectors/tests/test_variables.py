"""Variables in the connectors: platform and workflow scopes, secret values encrypted at rest and opened only
for the node tasks that name them, whose outcomes come out redacted; and what the end of a restore says when the
restored credentials do not open with this secret key."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.errors import Conflict, InvalidInput, NotFound
from flowtape.common.messages import connectors as tasks
from flowtape.common.messages import variables as msg
from flowtape.common.nodes.builtin import SetNode
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.connectors.application import NodeRunner
from flowtape.connectors.completed import CompletedTasks
from flowtape.connectors.credentials import CredentialStore
from flowtape.connectors.keys import SealingKey
from flowtape.connectors.registry import NodeRegistry
from flowtape.connectors.variables import Variables, VariableStore, variables
from flowtape.connectors.vault import Vault
from services.connectors.tests.test_vault import SECRET_KEY, db, postgres_url, sealed_to

__all__ = ["db", "postgres_url"]  # the vault's fixtures: each case runs on SQLite and on PostgreSQL

WORKFLOW = "wf-1"


@pytest.fixture
async def book(db: AsyncEngine) -> Variables:
    store = VariableStore(db)
    await store.create()
    return Variables(store, SECRET_KEY)


def sealed(value: str) -> str:
    return sealed_to(SealingKey(SECRET_KEY).public_jwk(), {"value": value})


async def test_a_workflow_variable_overrides_the_platforms_and_secrets_are_named_not_shown(
    book: Variables, db: AsyncEngine
) -> None:
    await book.set(msg.SetVariable(name="REGION", value="eu"))
    await book.set(msg.SetVariable(name="REGION", workflow_id=WORKFLOW, value="us"))
    view = await book.set(msg.SetVariable(name="TOKEN", secret=True, sealed_value=sealed("s3cret-value")))
    assert view.secret and view.value is None

    resolved = await book.resolve(WORKFLOW, DEFAULT_PROJECT)
    assert resolved.plain == {"REGION": "us"} and resolved.secret == ["TOKEN"]
    assert (await book.resolve("another", DEFAULT_PROJECT)).plain == {"REGION": "eu"}
    assert [v.name for v in (await book.list(None, DEFAULT_PROJECT)).items] == ["REGION", "TOKEN"]
    assert "s3cret-value" not in (await book.list(None, DEFAULT_PROJECT)).model_dump_json()
    assert await book.secret_values(WORKFLOW, DEFAULT_PROJECT, ["TOKEN", "REGION"]) == {"TOKEN": "s3cret-value"}

    async with db.connect() as conn:
        stored = (await conn.execute(select(variables.c.value).where(variables.c.name == "TOKEN"))).scalar_one()
    assert b"s3cret-value" not in stored


async def test_bad_changes_are_refused_clearly(book: Variables) -> None:
    with pytest.raises(InvalidInput, match="sealed"):
        await book.set(msg.SetVariable(name="TOKEN", secret=True, value="in clear"))
    with pytest.raises(NotFound, match="no variable 'NEVER'"):
        await book.unset(msg.UnsetVariable(name="NEVER"))
    with pytest.raises(ValueError, match=r"vars\.NAME"):
        msg.SetVariable(name="not-a-name", value="x")


async def test_a_task_sees_its_recorded_values_and_the_current_secret_redacted(
    book: Variables, db: AsyncEngine
) -> None:
    await book.set(msg.SetVariable(name="TOKEN", workflow_id=WORKFLOW, secret=True, sealed_value=sealed("tok-12345")))
    completed = CompletedTasks(db)
    await completed.create()
    runner = NodeRunner(NodeRegistry([SetNode()]), completed, variables=book)
    task = tasks.RunNodeTask(
        execution_id=uuid.uuid4().hex,
        workflow_id=WORKFLOW,
        workflow_version=1,
        node_id="greet",
        node_type="set",
        params={"fields": {"plain": "{{ vars.GREETING }}", "leak": "{{ vars.TOKEN }}"}},
        items=[{}],
        variables={"GREETING": "recorded", "TOKEN": msg.SECRET_PLACEHOLDER},
        secret_variables=["TOKEN"],
    )

    done = await runner.run(task)

    assert done.outcome == "succeeded", done.error
    assert done.ports["main"] == [{"plain": "recorded", "leak": "[redacted]"}]


async def test_a_restore_under_another_secret_key_is_named(db: AsyncEngine) -> None:
    """What a restore's end says when the backup's credentials do not open here (the key differs)."""
    store = CredentialStore(db)
    await store.create()
    backed_up = Vault(store, SECRET_KEY)
    jwk = backed_up.sealing_key().jwk
    await backed_up.create(
        tasks.CreateCredential(name="c", type="http_bearer", sealed_data=sealed_to(jwk, {"token": "t0ken-1234"}))
    )
    await backed_up.check_restored()  # the same key: nothing to say

    with pytest.raises(Conflict, match="FLOWTAPE_SECRET_KEY"):
        await Vault(store, "another-secret-key").check_restored()
