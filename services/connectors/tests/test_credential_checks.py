"""Credential types and the credential test: each check does something real against a real server, and its
answer never holds a secret."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from flowtape.common.credentials import CREDENTIAL_TYPES, credential_types, parse_credential
from flowtape.common.egress import PUBLIC_ONLY
from flowtape.common.errors import InvalidCredential, NotFound
from flowtape.common.messages import connectors as msg
from flowtape.connectors.connections import Connections
from flowtape.connectors.credential_checks import CredentialChecks, check_credential
from flowtape.connectors.credentials import CredentialStore
from flowtape.connectors.vault import Vault
from services.connectors.tests.fakes import LOCAL_SERVERS, credential, mariadb_database
from services.connectors.tests.test_vault import SECRET_KEY, sealed
from tests.infra import postgres_database


@pytest.fixture(scope="module")
def mariadb() -> Iterator[dict[str, Any]]:
    with mariadb_database("flowtape_test_checks") as data:
        yield data


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, Any]]:
    with postgres_database("flowtape_test_checks") as url:
        yield {"host": "127.0.0.1", "database": url.rsplit("/", 1)[1], "username": "postgres", "tls": "disable"}


@pytest.fixture
async def connections() -> AsyncIterator[Connections]:
    connections = Connections(LOCAL_SERVERS)
    yield connections
    await connections.close()


def test_every_type_has_a_schema_and_secret_fields_are_write_only() -> None:
    listed = {entry["type"]: entry for entry in credential_types()}

    assert (
        set(listed)
        == set(CREDENTIAL_TYPES)
        >= {
            *("http_header", "http_basic", "http_bearer", "api_key", "webhook_url", "postgres", "mysql", "redis"),
            *("amqp", "mqtt", "smtp", "aws", "oauth2", "generic"),
        }
    )
    for name, entry in listed.items():
        schema = entry["data_schema"]
        assert entry["description"] and schema["type"] == "object", name
        for field, spec in schema["properties"].items():
            annotation = CREDENTIAL_TYPES[name].model_fields[field].annotation
            if annotation is SecretStr or annotation == SecretStr | None:
                assert spec.get("writeOnly") is True or any(
                    option.get("writeOnly") for option in spec.get("anyOf", [])
                ), f"{name}.{field} is secret but not writeOnly"


def test_bad_data_names_fields_not_values() -> None:
    secret = secrets.token_urlsafe(12)
    with pytest.raises(InvalidCredential) as bad:
        parse_credential("postgres", {"host": "db", "port": 99999, "database": "x", "username": "u", "pasword": secret})
    fields = {problem["field"] for problem in bad.value.details}
    assert fields == {"data.port", "data.pasword"} and secret not in json.dumps(bad.value.details)
    with pytest.raises(InvalidCredential, match="authorization_url is required"):
        parse_credential("oauth2", {"token_url": "https://auth/token", "client_id": "c"})
    limited = parse_credential("http_bearer", {"token": "t", "rate_limit": {"per_second": 10, "burst": 20}})
    assert limited.rate_limit is not None and limited.rate_limit.window_seconds == 2.0


async def test_postgres_connects_and_a_wrong_database_says_so(connections: Connections, postgres: dict[str, Any]):
    good = await check_credential(connections, credential("pg", "postgres", postgres))
    bad = await check_credential(connections, credential("pg-bad", "postgres", {**postgres, "database": "nope_x"}))

    assert good.ok and good.message.startswith(f"connected to 127.0.0.1:5432/{postgres['database']} as postgres")
    assert not bad.ok and "nope_x" in bad.message and "could not connect to PostgreSQL at 127.0.0.1:5432" in bad.message


async def test_mysql_connects_and_a_wrong_password_is_refused_without_showing_it(
    connections: Connections, mariadb: dict[str, Any]
):
    wrong = f"wrong-{secrets.token_urlsafe(10)}"
    good = await check_credential(connections, credential("my", "mysql", mariadb))
    bad = await check_credential(connections, credential("my-bad", "mysql", {**mariadb, "password": wrong}))

    assert good.ok and "MariaDB" in good.message, good
    assert not bad.ok and "Access denied" in bad.message
    assert wrong not in bad.message and mariadb["password"] not in good.message + bad.message


async def test_redis_answers_pong(connections: Connections) -> None:
    checked = await check_credential(connections, credential("redis", "redis", {"host": "127.0.0.1"}))
    assert checked.ok and checked.message == "connected to 127.0.0.1:6379 and got PONG"


async def test_the_check_goes_through_the_ssrf_guard(postgres: dict[str, Any]) -> None:
    connections = Connections(PUBLIC_ONLY)
    try:
        checked = await check_credential(connections, credential("pg-guarded", "postgres", postgres))
    finally:
        await connections.close()
    assert not checked.ok and "refused to connect to 127.0.0.1" in checked.message


async def test_http_credentials_call_their_test_url(connections: Connections, http_server: str) -> None:
    token = f"tok-{secrets.token_urlsafe(16)}"
    good = credential("bearer", "http_bearer", {"token": token, "test_url": f"{http_server}/echo"})
    refused = credential("bearer-401", "http_bearer", {"token": token, "test_url": f"{http_server}/status/401"})
    untestable = credential("bearer-none", "http_bearer", {"token": token})

    assert (await check_credential(connections, good)).ok
    failed = await check_credential(connections, refused)
    assert not failed.ok and "answered HTTP 401" in failed.message
    unknown = await check_credential(connections, untestable)
    assert not unknown.ok and not unknown.testable and "test_url" in unknown.message


async def test_a_check_that_quotes_the_secret_is_redacted(connections: Connections, http_server: str) -> None:
    """The echo endpoint returns the Authorization header it got; its 200 body is not shown, so use the URL."""
    key = f"key-{secrets.token_urlsafe(16)}"
    echoed = credential("webhook", "webhook_url", {"url": f"{http_server}/status/404?token={key}"})

    checked = await check_credential(connections, echoed)

    assert not checked.ok and "HTTP 404" in checked.message and key not in checked.message


async def test_checks_by_id_through_the_vault(connections: Connections, tmp_path: Any, postgres: dict[str, Any]):
    from flowtape.common.db import async_engine
    from flowtape.connectors.completed import SCHEMA

    engine = async_engine(f"sqlite:///{tmp_path / 'connectors.db'}", SCHEMA)
    store = CredentialStore(engine)
    await store.create()
    vault = Vault(store, SECRET_KEY)
    checks = CredentialChecks(vault, connections)
    created = await vault.create(msg.CreateCredential(name="pg", type="postgres", sealed_data=sealed(vault, postgres)))
    try:
        assert (await checks.check(created.id)).ok
        with pytest.raises(NotFound):
            await checks.check("00000000-0000-0000-0000-000000000000")
    finally:
        await engine.dispose()
