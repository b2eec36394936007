"""The credentials vault: encryption at rest, sealing for the bus, the store (SQLite and PostgreSQL), and
node tasks that use credentials, whose outcomes come out redacted."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from joserfc import jwe
from joserfc.jwk import ECKey
from pydantic import Field
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import async_engine
from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import Conflict, InvalidCredential, InvalidInput, NodeError, NotFound
from flowtape.common.messages import connectors as msg
from flowtape.common.nodes.sdk import Item, NodeContext, NodeParams, NodeResult, NodeType
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.connectors.application import NodeRunner
from flowtape.connectors.completed import SCHEMA, CompletedTasks
from flowtape.connectors.credentials import CredentialStore, credentials
from flowtape.connectors.domain.redaction import REDACTED
from flowtape.connectors.keys import CredentialsUnreadable, DataCipher, SealingKey, StaleSeal
from flowtape.connectors.nodes.http_request import HttpRequestNode
from flowtape.connectors.outbound import guarded_client
from flowtape.connectors.registry import NodeRegistry
from flowtape.connectors.vault import Vault
from tests.infra import postgres_database

SECRET_KEY = "test-secret-key"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def sealed_to(jwk: dict[str, Any], data: dict[str, Any], issued: float | None = None) -> str:
    """What the gateway sends: ``data`` sealed to a published key (the contract in the connectors' messages)."""
    payload = json.dumps({"data": data, "iat": time.time() if issued is None else issued}).encode()
    header = {"alg": msg.CREDENTIAL_SEALING_ALGORITHM, "enc": msg.CREDENTIAL_SEALING_ENCRYPTION, "kid": jwk["kid"]}
    return jwe.encrypt_compact(header, payload, ECKey.import_key(jwk))


def sealed(vault: Vault, data: dict[str, Any]) -> str:
    return sealed_to(vault.sealing_key().jwk, data)


# ---- keys


def test_data_round_trips_and_the_ciphertext_holds_no_secret() -> None:
    cipher = DataCipher(SECRET_KEY)
    data = {"token": "tok-" + secrets.token_urlsafe(24)}

    blob = cipher.encrypt(data, "id-1")

    assert cipher.decrypt(blob, "id-1") == data
    assert data["token"].encode() not in blob
    assert cipher.encrypt(data, "id-1") != blob, "a fresh nonce per write"


def test_another_secret_key_fails_clearly() -> None:
    blob = DataCipher(SECRET_KEY).encrypt({"token": "t0ken-value"}, "id-1")

    with pytest.raises(CredentialsUnreadable, match="FLOWTAPE_SECRET_KEY differs"):
        DataCipher("another-secret-key").decrypt(blob, "id-1")


def test_a_ciphertext_moved_to_another_credential_does_not_open() -> None:
    blob = DataCipher(SECRET_KEY).encrypt({"token": "t0ken-value"}, "id-1")

    with pytest.raises(CredentialsUnreadable):
        DataCipher(SECRET_KEY).decrypt(blob, "id-2")


def test_every_replica_derives_the_same_sealing_key_and_another_secret_another() -> None:
    assert SealingKey(SECRET_KEY).public_jwk() == SealingKey(SECRET_KEY).public_jwk()
    assert SealingKey(SECRET_KEY).kid != SealingKey("another-secret-key").kid
    assert "d" not in SealingKey(SECRET_KEY).public_jwk(), "only the public half is published"


def test_seals_open_once_fresh_and_only_with_the_right_key() -> None:
    key = SealingKey(SECRET_KEY)
    jwk = key.public_jwk()

    assert key.open(sealed_to(jwk, {"token": "abc"})) == {"token": "abc"}
    with pytest.raises(InvalidInput, match="too old"):
        key.open(sealed_to(jwk, {"token": "abc"}, issued=time.time() - 600))
    with pytest.raises(StaleSeal) as stale:
        SealingKey("another-secret-key").open(sealed_to(jwk, {"token": "abc"}))
    assert stale.value.details == {"reason": "sealing_key"}
    with pytest.raises(InvalidInput):
        key.open("not a jwe at all")


# ---- the vault and its store, on SQLite and PostgreSQL


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the module; an unreachable server fails the tests, never skips them."""
    with postgres_database("flowtape_test_connectors") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'connectors.db').resolve()}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = async_engine(url, SCHEMA, pool_size=2)
    if request.param == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def store(db: AsyncEngine) -> CredentialStore:
    store = CredentialStore(db)
    await store.create()
    return store


@pytest.fixture
def vault(store: CredentialStore) -> Vault:
    return Vault(store, SECRET_KEY)


async def create(vault: Vault, name: str, type_name: str, data: dict[str, Any]) -> msg.CredentialView:
    return await vault.create(msg.CreateCredential(name=name, type=type_name, sealed_data=sealed(vault, data)))


async def test_created_credentials_show_metadata_only_and_are_stored_encrypted(vault: Vault, db: AsyncEngine) -> None:
    token = "tok-" + secrets.token_urlsafe(24)

    view = await create(vault, "github", "http_bearer", {"token": token})

    assert view.name == "github" and view.type == "http_bearer"
    assert token not in view.model_dump_json()
    assert (await vault.get(view.id)) == view
    async with db.connect() as conn:
        stored = (await conn.execute(select(credentials.c.data))).scalar_one()
    assert token.encode() not in bytes(stored)
    by_id, by_name = await vault.resolve(view.id, DEFAULT_PROJECT), await vault.resolve("github", DEFAULT_PROJECT)
    assert by_id.reveal() == by_name.reveal() == {"token": token}
    assert token not in repr(by_id), "a credential's repr never shows its data"


async def test_names_are_unique(vault: Vault) -> None:
    await create(vault, "stripe", "http_bearer", {"token": "one-token"})

    with pytest.raises(Conflict, match="stripe"):
        await create(vault, "stripe", "http_header", {"name": "X-Key", "value": "another"})


async def test_data_that_does_not_fit_its_type_is_refused_naming_fields_not_values(vault: Vault) -> None:
    with pytest.raises(InvalidCredential) as refused:
        await create(vault, "bad", "http_basic", {"username": "ada", "pasword": "hunter2-secret"})

    assert {p["field"] for p in refused.value.details} == {"data.password", "data.pasword"}
    assert "hunter2-secret" not in json.dumps(refused.value.details) + refused.value.message
    with pytest.raises(InvalidCredential, match="unknown credential type"):
        await create(vault, "odd", "oauth9", {"x": "y"})
    with pytest.raises(InvalidCredential, match="look like an id"):
        await create(vault, str(uuid.uuid4()), "http_bearer", {"token": "t"})


async def test_update_replaces_data_and_keeps_the_type(vault: Vault) -> None:
    view = await create(vault, "api", "http_header", {"name": "X-Key", "value": "old-value"})

    updated = await vault.update(
        msg.UpdateCredential(
            credential_id=view.id, name="api-renamed", sealed_data=sealed(vault, {"name": "X-Key", "value": "new"})
        )
    )

    assert updated.type == "http_header" and updated.name == "api-renamed"
    assert updated.updated_at >= view.updated_at and updated.created_at == view.created_at
    assert (await vault.resolve(view.id, DEFAULT_PROJECT)).reveal() == {"name": "X-Key", "value": "new"}
    with pytest.raises(InvalidCredential):
        await vault.update(
            msg.UpdateCredential(credential_id=view.id, sealed_data=sealed(vault, {"token": "bearer-shaped"}))
        )


async def test_delete_and_not_found(vault: Vault) -> None:
    view = await create(vault, "gone", "generic", {"api_key": "k-123456"})

    assert (await vault.delete(view.id)).id == view.id
    for missing in (view.id, "not-an-id"):
        with pytest.raises(NotFound):
            await vault.get(missing)
        with pytest.raises(NotFound):
            await vault.delete(missing)
    with pytest.raises(NodeError, match="there is no credential 'gone'"):
        await vault.resolve("gone", DEFAULT_PROJECT)


async def test_list_pages_by_name(vault: Vault) -> None:
    for name in ("c", "a", "b"):
        await create(vault, name, "http_bearer", {"token": f"token-{name}"})

    first = await vault.list(2, None)
    second = await vault.list(2, first.next_cursor)

    assert [c.name for c in first.items] == ["a", "b"] and first.next_cursor == "default:b"
    assert [c.name for c in second.items] == ["c"] and second.next_cursor is None


async def test_credentials_stored_under_another_secret_key_fail_clearly(store: CredentialStore) -> None:
    view = await create(Vault(store, SECRET_KEY), "old", "http_bearer", {"token": "t0ken-value"})

    with pytest.raises(CredentialsUnreadable, match="FLOWTAPE_SECRET_KEY differs"):
        await Vault(store, "a-new-secret-key").resolve(view.id, DEFAULT_PROJECT)


# ---- node tasks that use credentials


class LeakParams(NodeParams):
    credential: str
    how: str = Field(default="output", pattern="^(output|error|crash)$")


class LeakyNode(NodeType[LeakParams]):
    """A careless plugin: puts the secret where it must not go."""

    type: ClassVar[str] = "leaky"
    Params = LeakParams

    async def run_item(self, ctx: NodeContext, params: LeakParams, item: Item) -> NodeResult:
        secret = (await ctx.credential(params.credential)).reveal()["api_key"]
        if params.how == "error":
            raise NodeError(f"the API refused key {secret}")
        if params.how == "crash":
            raise RuntimeError(f"unexpected reply for {secret}")
        return NodeResult.on([{"nested": {"list": [f"key={secret}"]}, secret: "as a key"}])


@pytest.fixture
async def runner(vault: Vault, db: AsyncEngine) -> AsyncIterator[NodeRunner]:
    completed = CompletedTasks(db)
    await completed.create()
    async with guarded_client(EgressPolicy.parse("127.0.0.1")) as client:
        yield NodeRunner(NodeRegistry([HttpRequestNode(client), LeakyNode()]), completed, vault=vault)


def task(node_type: str, params: dict[str, Any]) -> msg.RunNodeTask:
    return msg.RunNodeTask(
        execution_id=uuid.uuid4().hex,
        workflow_id="wf",
        workflow_version=1,
        node_id="step",
        node_type=node_type,
        params=params,
        items=[{}],
    )


async def test_http_request_authenticates_with_a_bearer_credential_and_the_echo_is_redacted(
    runner: NodeRunner, vault: Vault, http_server: str
) -> None:
    token = "tok-" + secrets.token_urlsafe(24)
    await create(vault, "echo-api", "http_bearer", {"token": token})

    done = await runner.run(task("http_request", {"url": f"{http_server}/echo", "credential": "echo-api"}))

    assert done.outcome == "succeeded", done.error
    [item] = done.ports["main"]
    assert item["body"]["headers"]["authorization"] == f"Bearer {REDACTED}"
    assert token not in done.encode().decode()


@pytest.mark.parametrize(
    ("type_name", "data", "header", "shown"),
    [
        ("http_header", {"name": "X-Api-Key", "value": "key-0123456789"}, "x-api-key", REDACTED),
        ("http_basic", {"username": "ada", "password": "correct horse"}, "authorization", f"Basic {REDACTED}"),
    ],
)
async def test_http_request_applies_header_and_basic_credentials(
    runner: NodeRunner,
    vault: Vault,
    http_server: str,
    type_name: str,
    data: dict[str, str],
    header: str,
    shown: str,
) -> None:
    view = await create(vault, f"cred-{type_name}", type_name, data)
    params = {"url": f"{http_server}/echo", "credential": view.id, "headers": {header: "overridden"}}

    done = await runner.run(task("http_request", params))

    assert done.outcome == "succeeded", done.error
    assert done.ports["main"][0]["body"]["headers"][header] == shown


async def test_http_request_refuses_a_credential_of_another_kind_or_none(runner: NodeRunner, vault: Vault) -> None:
    await create(vault, "plugin-key", "generic", {"api_key": "k-0123456789"})

    wrong = await runner.run(task("http_request", {"url": "http://127.0.0.1:9/", "credential": "plugin-key"}))
    missing = await runner.run(task("http_request", {"url": "http://127.0.0.1:9/", "credential": "nope"}))

    assert wrong.outcome == "failed" and "is of type generic" in (wrong.error or "")
    assert missing.outcome == "failed" and "there is no credential 'nope'" in (missing.error or "")


@pytest.mark.parametrize("how", ["output", "error", "crash"])
async def test_whatever_a_node_leaks_is_redacted_before_it_is_recorded(
    runner: NodeRunner, vault: Vault, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "k-" + secrets.token_urlsafe(24)
    await create(vault, f"leaky-{how}", "generic", {"api_key": secret})

    done = await runner.handle(task("leaky", {"credential": f"leaky-{how}", "how": how}))

    assert done is not None
    assert secret not in done.encode().decode()
    assert secret not in caplog.text
    if how == "output":
        assert done.ports["main"] == [{"nested": {"list": [f"key={REDACTED}"]}, REDACTED: "as a key"}]
    else:
        assert done.outcome == "failed" and REDACTED in (done.error or "")


async def test_a_node_outside_the_connectors_has_no_credentials() -> None:
    ctx = NodeContext(execution_id="e", workflow_id="w", workflow_version=1, node_id="n")

    with pytest.raises(NodeError, match="only to nodes run by the connectors"):
        await ctx.credential("anything")


# ---- a task delivered twice


class CountingNode(NodeType[NodeParams]):
    """Counts its runs: a side effect that must happen once per attempt."""

    type: ClassVar[str] = "counting"
    Params = NodeParams
    runs = 0

    async def run_item(self, ctx: NodeContext, params: NodeParams, item: Item) -> NodeResult:
        CountingNode.runs += 1
        return NodeResult.on([{"run": CountingNode.runs}])


async def test_a_task_delivered_again_after_it_ran_is_answered_from_its_record_not_run_twice(
    db: AsyncEngine,
) -> None:
    completed = CompletedTasks(db)
    await completed.create()
    runner = NodeRunner(NodeRegistry([CountingNode()]), completed)
    CountingNode.runs = 0
    attempt = task("counting", {})

    first = await runner.handle(attempt)
    again = await runner.handle(attempt)  # a redelivery, or a recovering engine dispatching it again

    assert CountingNode.runs == 1
    assert first is not None and again is not None
    assert again.ports == first.ports == {"main": [{"run": 1}]}
    other = await runner.handle(task("counting", {}))  # another attempt runs
    assert other is not None and other.ports == {"main": [{"run": 2}]}
