"""Projects in the connectors (issue 16): credentials and variables belong to one project; a node task or a
trigger finds only its own project's, and another project's fails exactly like a missing one; the tables made
before projects move into the default project. Each case runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, DateTime, LargeBinary, MetaData, String, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.errors import Conflict, NodeError
from flowtape.common.messages import connectors as msg
from flowtape.common.messages import variables as var
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.connectors.completed import SCHEMA
from flowtape.connectors.credentials import CredentialStore
from flowtape.connectors.keys import DataCipher, SealingKey
from flowtape.connectors.variables import Variables, VariableStore
from flowtape.connectors.vault import Vault
from services.connectors.tests.test_vault import SECRET_KEY, db, postgres_url, runner, sealed, sealed_to, store, vault

__all__ = ["db", "postgres_url", "runner", "store", "vault"]  # the vault's fixtures

WORKFLOW = str(uuid.uuid4())


async def create(vault: Vault, project: str, name: str, data: dict[str, Any], type_name: str = "generic") -> Any:
    command = msg.CreateCredential(name=name, type=type_name, sealed_data=sealed(vault, data), project_id=project)
    return await vault.create(command)


async def error_of(call: Any) -> str:
    with pytest.raises(NodeError) as raised:
        await call
    return raised.value.message


async def test_names_are_unique_per_project_and_views_show_the_project(vault: Vault) -> None:
    mine = await create(vault, "a", "crm", {"api_key": "key-of-a-123"})
    theirs = await create(vault, "b", "crm", {"api_key": "key-of-b-123"})

    assert (mine.project_id, theirs.project_id) == ("a", "b")
    assert (await vault.get(theirs.id)).project_id == "b"
    with pytest.raises(Conflict, match="'crm' already exists"):
        await create(vault, "a", "crm", {"api_key": "another-key-1"})
    renamed = await create(vault, "a", "erp", {"api_key": "key-of-a-456"})
    with pytest.raises(Conflict):
        await vault.update(
            msg.UpdateCredential(
                credential_id=renamed.id, name="crm", sealed_data=sealed(vault, {"api_key": "key-renamed-1"})
            )
        )


async def test_the_list_filters_by_project_and_pages_through_repeated_names(vault: Vault) -> None:
    for project in ("a", "b", "c"):
        await create(vault, project, "crm", {"api_key": f"key-of-{project}-1"})
    await create(vault, "b", "zz", {"api_key": "key-of-b-2"})

    assert [(c.project_id, c.name) for c in (await vault.list(50, None, ["b"])).items] == [("b", "crm"), ("b", "zz")]
    assert (await vault.list(50, None, [])).items == []
    walked, cursor = [], None
    while True:
        page = await vault.list(1, cursor, ["a", "b"])
        walked += [(c.project_id, c.name) for c in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert walked == [("a", "crm"), ("b", "crm"), ("b", "zz")]
    assert len((await vault.list(50, None, None)).items) == 4


async def test_a_task_of_another_project_finds_no_credential_by_id_nor_by_name(vault: Vault) -> None:
    view = await create(vault, "a", "crm", {"api_key": "key-of-a-789"})
    missing = await error_of(vault.for_task("b")("never-made"))

    assert await error_of(vault.for_task("b")("crm")) == missing.replace("never-made", "crm")
    assert await error_of(vault.for_task("b")(view.id)) == missing.replace("never-made", view.id)
    assert (await vault.for_task("a")("crm")).id == view.id
    assert (await vault.for_task("a")(view.id)).reveal() == {"api_key": "key-of-a-789"}


async def test_a_node_run_uses_its_tasks_project(vault: Vault, runner: Any) -> None:
    view = await create(vault, "a", "crm", {"api_key": "key-of-a-abc"})

    def task(project: str, ref: str) -> msg.RunNodeTask:
        return msg.RunNodeTask(
            execution_id=uuid.uuid4().hex,
            workflow_id=WORKFLOW,
            workflow_version=1,
            node_id="step",
            node_type="leaky",
            params={"credential": ref},
            items=[{}],
            project_id=project,
        )

    assert (await runner.run(task("a", "crm"))).outcome == "succeeded"
    missing = await runner.run(task("b", "nothing"))
    for ref in ("crm", view.id):
        done = await runner.run(task("b", ref))
        assert done.outcome == "failed" and done.error_code == missing.error_code
        assert done.error == (missing.error or "").replace("nothing", ref)


async def test_a_trigger_opens_only_its_own_projects_credential(vault: Vault) -> None:
    view = await create(vault, "a", "broker", {"host": "mqtt.example"}, type_name="mqtt")
    reply = SealingKey("the-triggers-own-key").public_jwk()

    def ask(project: str, ref: str) -> Any:
        return vault.open_for_trigger(msg.OpenTriggerCredential(credential=ref, reply_jwk=reply, project_id=project))

    assert (await ask("a", "broker")).type == "mqtt"
    assert (await ask("a", view.id)).type == "mqtt"
    missing = await error_of(ask("b", "nothing"))
    assert await error_of(ask("b", "broker")) == missing.replace("nothing", "broker")
    assert await error_of(ask("b", view.id)) == missing.replace("nothing", view.id)


async def test_credentials_made_before_projects_move_into_the_default_project(db: AsyncEngine) -> None:
    old = MetaData(schema=SCHEMA)
    before = Table(
        "credentials",
        old,
        Column("id", Uuid, primary_key=True),
        Column("name", String(200), nullable=False, unique=True),
        Column("type", String(40), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    store = CredentialStore(db)
    await store.create()  # the schema
    async with db.begin() as conn:
        await conn.run_sync(lambda sync: sync.exec_driver_sql(f"DROP TABLE {_table(db, 'credentials')}"))
        await conn.run_sync(old.create_all)
    vault = Vault(store, SECRET_KEY)
    credential_id, now = uuid.uuid4(), datetime.now(UTC)
    data = DataCipher(SECRET_KEY).encrypt({"api_key": "from-before-1"}, str(credential_id))
    async with db.begin() as conn:
        await conn.execute(
            before.insert().values(
                id=credential_id, name="crm", type="generic", data=data, created_at=now, updated_at=now
            )
        )

    await store.create()
    await store.create()  # a second start changes nothing

    assert (await vault.get(str(credential_id))).project_id == DEFAULT_PROJECT
    assert (await vault.for_task(DEFAULT_PROJECT)("crm")).reveal() == {"api_key": "from-before-1"}
    assert (await create(vault, "b", "crm", {"api_key": "key-of-b-1"})).project_id == "b"
    with pytest.raises(Conflict):
        await create(vault, DEFAULT_PROJECT, "crm", {"api_key": "key-again-1"})


def _table(db: AsyncEngine, name: str) -> str:
    return f'"{SCHEMA}"."{name}"' if db.dialect.name == "postgresql" else f'"{name}"'


# ---- variables


@pytest.fixture
async def book(db: AsyncEngine) -> Variables:
    store = VariableStore(db)
    await store.create()
    return Variables(store, SECRET_KEY)


def sealed_value(value: str) -> str:
    return sealed_to(SealingKey(SECRET_KEY).public_jwk(), {"value": value})


async def test_variables_are_per_project_and_a_workflow_overrides_its_projects(book: Variables) -> None:
    await book.set(var.SetVariable(name="REGION", value="eu", project_id="a"))
    await book.set(var.SetVariable(name="REGION", value="us", project_id="b"))
    await book.set(var.SetVariable(name="TOKEN", secret=True, sealed_value=sealed_value("tok-of-a"), project_id="a"))
    own = await book.set(var.SetVariable(name="REGION", workflow_id=WORKFLOW, value="ap", project_id="a"))

    assert (own.workflow_id, own.project_id) == (WORKFLOW, "a")
    assert [(v.name, v.value, v.project_id) for v in (await book.list(None, "b")).items] == [("REGION", "us", "b")]
    assert [v.name for v in (await book.list(None, "a")).items] == ["REGION", "TOKEN"]
    assert (await book.list(None, "c")).items == []
    assert (await book.resolve(WORKFLOW, "a")).model_dump() == {"plain": {"REGION": "ap"}, "secret": ["TOKEN"]}
    assert (await book.resolve(str(uuid.uuid4()), "b")).model_dump() == {"plain": {"REGION": "us"}, "secret": []}
    assert await book.secret_values(WORKFLOW, "a", ["TOKEN"]) == {"TOKEN": "tok-of-a"}
    assert await book.secret_values(WORKFLOW, "b", ["TOKEN"]) == {}

    await book.unset(var.UnsetVariable(name="REGION", project_id="b"))
    assert (await book.resolve(WORKFLOW, "a")).plain == {"REGION": "ap"}
    assert (await book.list(None, "b")).items == []


async def test_platform_variables_made_before_projects_move_into_the_default_project(db: AsyncEngine) -> None:
    old = MetaData(schema=SCHEMA)
    before = Table(
        "variables",
        old,
        Column("scope", String(64), primary_key=True),
        Column("name", String(64), primary_key=True),
        Column("secret", Boolean, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )
    await VariableStore(db).create()  # the schema
    async with db.begin() as conn:
        await conn.run_sync(lambda sync: sync.exec_driver_sql(f"DROP TABLE {_table(db, 'variables')}"))
        await conn.run_sync(old.create_all)
        now = datetime.now(UTC)
        secret = DataCipher(SECRET_KEY).encrypt({"value": "tok-before"}, "variable::TOKEN")
        await conn.execute(
            before.insert(),
            [
                {"scope": "", "name": "REGION", "secret": False, "value": b"eu", "updated_at": now},
                {"scope": "", "name": "TOKEN", "secret": True, "value": secret, "updated_at": now},
                {"scope": WORKFLOW, "name": "REGION", "secret": False, "value": b"us", "updated_at": now},
            ],
        )
    store = VariableStore(db)
    await store.create()
    book = Variables(store, SECRET_KEY)

    assert await book.move_platform_variables() == 2
    assert await book.move_platform_variables() == 0
    listed = (await book.list(None, DEFAULT_PROJECT)).items
    assert [(v.name, v.workflow_id, v.project_id) for v in listed] == [
        ("REGION", None, DEFAULT_PROJECT),
        ("TOKEN", None, DEFAULT_PROJECT),
    ]
    assert [v.project_id for v in (await book.list(WORKFLOW, DEFAULT_PROJECT)).items] == [DEFAULT_PROJECT]
    assert (await book.resolve(WORKFLOW, DEFAULT_PROJECT)).plain == {"REGION": "us"}
    assert await book.secret_values(WORKFLOW, DEFAULT_PROJECT, ["TOKEN"]) == {"TOKEN": "tok-before"}
    assert (await book.list(None, "other")).items == []
