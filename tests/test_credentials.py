"""End to end: the credentials vault. A secret goes in through the API, is sealed on the bus, stored encrypted,
sent to the outside world by the connectors, and never comes back out: not in responses, the execution log,
the audit trail, the bus or any service's log (the session's log scan looks for every token made here)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.infra import Account, FakeApi, Platform, login, remember_secret, tap_bus

REDACTED = "[redacted]"


def new_token() -> str:
    return remember_secret(f"tok-{secrets.token_urlsafe(24)}")


def make_user(api: httpx.Client, platform: Platform, role: str) -> Account:
    email = f"vault-{role}-{secrets.token_hex(4)}@flowtape.test"
    password = remember_secret(f"pw-{secrets.token_urlsafe(16)}")
    created = api.post("/api/v1/users", json={"email": email, "password": password, "role": role})
    assert created.status_code == 201, created.text
    return Account(email, password, login(platform.gateway, email, password), id=created.json()["id"])


def create_credential(api: httpx.Client, name: str, type_name: str, data: dict[str, str]) -> dict[str, Any]:
    response = api.post("/api/v1/credentials", json={"name": name, "type": type_name, "data": data})
    assert response.status_code == 201, response.text
    return dict(response.json())


def echo_workflow(url: str, credential: str, name: str = "vault-echo") -> dict[str, Any]:
    """Calls an API that echoes the request's headers back, authenticated with ``credential``."""
    return {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "call", "type": "http_request", "params": {"url": url, "credential": credential}},
        ],
        "edges": [{"from": "start", "to": "call"}],
    }


def run_workflow(api: httpx.Client, definition: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    created = api.post("/api/v1/workflows", json=definition)
    assert created.status_code == 201, created.text
    ran = api.post(
        f"/api/v1/workflows/{created.json()['id']}/run",
        params={"wait": "true", "timeout": str(timeout)},
        json={"input": []},
        timeout=timeout + 30,
    )
    assert ran.status_code == 200, ran.text
    return dict(ran.json())


def sent_to(fake_api: FakeApi, path: str) -> dict[str, str]:
    """The headers of the last request the fake API got on ``path``, lower-cased."""
    request = [r for r in fake_api.requests if str(r["path"]).startswith(path)][-1]
    return {k.lower(): v for k, v in request["headers"].items()}  # type: ignore[attr-defined]


def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not hold within {timeout:g} s")


def test_a_bearer_credential_authenticates_and_never_reaches_the_log(
    api: httpx.Client, fake_api: FakeApi, platform: Platform
) -> None:
    token = new_token()
    created = create_credential(api, "echo-bearer", "http_bearer", {"token": token})
    assert set(created) >= {"id", "name", "type"} and created["type"] == "http_bearer"
    assert token not in json.dumps(created)

    execution = run_workflow(api, echo_workflow(f"{fake_api.url}/headers", "echo-bearer"))

    assert execution["status"] == "succeeded", execution
    assert sent_to(fake_api, "/headers")["authorization"] == f"Bearer {token}"
    assert execution["output"][0]["body"]["headers"]["Authorization"] == f"Bearer {REDACTED}"
    events = api.get(f"/api/v1/executions/{execution['id']}/events")
    assert events.status_code == 200
    for shown in (json.dumps(execution), events.text, api.get(f"/api/v1/executions/{execution['id']}").text):
        assert token not in shown
        assert REDACTED in shown
    workflow = api.get(f"/api/v1/workflows/{execution['workflow_id']}").json()
    assert workflow["nodes"][1]["params"]["credential"] == "echo-bearer", "the definition holds the reference only"

    with psycopg.connect(platform.database_url) as conn:
        row = conn.execute("SELECT type, data FROM connectors.credentials WHERE id = %s", (created["id"],)).fetchone()
    assert row is not None and row[0] == "http_bearer"
    assert token.encode() not in bytes(row[1]), "the data is encrypted at rest"


def test_an_error_that_echoes_the_secret_is_redacted(api: httpx.Client, fake_api: FakeApi) -> None:
    token = new_token()
    create_credential(api, "echo-on-error", "http_bearer", {"token": token})

    execution = run_workflow(api, echo_workflow(f"{fake_api.url}/headers?status=401", "echo-on-error", "vault-401"))

    assert execution["status"] == "failed"
    error = execution["nodes"]["call"]["error"]
    assert "HTTP 401" in error and REDACTED in error, error
    events = api.get(f"/api/v1/executions/{execution['id']}/events").text
    assert token not in json.dumps(execution) and token not in events


def test_header_and_basic_credentials_are_applied(api: httpx.Client, fake_api: FakeApi) -> None:
    key, password = new_token(), new_token()
    header = create_credential(api, "echo-header", "http_header", {"name": "X-Api-Key", "value": key})
    create_credential(api, "echo-basic", "http_basic", {"username": "ada", "password": password})

    by_id = run_workflow(api, echo_workflow(f"{fake_api.url}/headers/key", header["id"], "vault-header"))
    assert by_id["status"] == "succeeded", by_id
    assert sent_to(fake_api, "/headers/key")["x-api-key"] == key
    assert by_id["output"][0]["body"]["headers"]["X-Api-Key"] == REDACTED

    basic = run_workflow(api, echo_workflow(f"{fake_api.url}/headers/basic", "echo-basic", "vault-basic"))
    assert basic["status"] == "succeeded", basic
    authorization = sent_to(fake_api, "/headers/basic")["authorization"]
    pair = remember_secret(base64.b64encode(f"ada:{password}".encode()).decode())
    assert authorization == f"Basic {pair}"
    assert basic["output"][0]["body"]["headers"]["Authorization"] == f"Basic {REDACTED}"


def test_no_endpoint_returns_the_data(api: httpx.Client) -> None:
    token, replacement = new_token(), new_token()
    created = create_credential(api, "never-shown", "http_bearer", {"token": token})
    credential_id = created["id"]

    replaced = api.put(f"/api/v1/credentials/{credential_id}", json={"data": {"token": replacement}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["type"] == "http_bearer" and replaced.json()["updated_at"] >= created["updated_at"]
    listed = api.get("/api/v1/credentials", params={"limit": 500})
    one = api.get(f"/api/v1/credentials/{credential_id}")
    types = api.get("/api/v1/credentials/types")
    assert listed.status_code == one.status_code == types.status_code == 200
    assert credential_id in {c["id"] for c in listed.json()["items"]}
    assert set(one.json()) == {"id", "name", "type", "project_id", "created_at", "updated_at"}
    assert {t["type"] for t in types.json()} == {
        *("http_header", "http_basic", "http_bearer", "api_key", "webhook_url", "postgres", "mysql", "redis"),
        *("amqp", "mqtt", "smtp", "aws", "oauth2", "generic"),
    }
    bearer_schema = next(t for t in types.json() if t["type"] == "http_bearer")["data_schema"]
    assert bearer_schema["required"] == ["token"] and bearer_schema["properties"]["token"]["writeOnly"] is True

    def audited() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
        return [e for e in items if e["target_id"] == credential_id]

    deleted = api.delete(f"/api/v1/credentials/{credential_id}")
    assert deleted.status_code == 200 and deleted.json()["id"] == credential_id
    assert api.get(f"/api/v1/credentials/{credential_id}").status_code == 404
    assert api.delete(f"/api/v1/credentials/{credential_id}").status_code == 404
    eventually(lambda: len(audited()) == 3, what="the three credential writes in the audit trail")
    trail = audited()
    assert [e["action"] for e in trail] == ["credential.deleted", "credential.updated", "credential.created"]
    assert trail[0]["details"] == {"name": "never-shown", "type": "http_bearer"}

    for response in (created, replaced.text, listed.text, one.text, deleted.text, json.dumps(trail)):
        shown = response if isinstance(response, str) else json.dumps(response)
        assert token not in shown and replacement not in shown


def test_a_replaced_secret_is_used_from_the_next_run_and_a_deleted_one_fails_the_node(
    api: httpx.Client, fake_api: FakeApi
) -> None:
    first, second = new_token(), new_token()
    credential_id = create_credential(api, "rotating", "http_bearer", {"token": first})["id"]
    definition = echo_workflow(f"{fake_api.url}/headers/rotating", "rotating", "vault-rotating")
    workflow_id = api.post("/api/v1/workflows", json=definition).json()["id"]

    def run() -> dict[str, Any]:
        ran = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={})
        assert ran.status_code == 200, ran.text
        return dict(ran.json())

    assert run()["status"] == "succeeded"
    assert sent_to(fake_api, "/headers/rotating")["authorization"] == f"Bearer {first}"
    assert api.put(f"/api/v1/credentials/{credential_id}", json={"data": {"token": second}}).status_code == 200
    assert run()["status"] == "succeeded"
    assert sent_to(fake_api, "/headers/rotating")["authorization"] == f"Bearer {second}"

    assert api.delete(f"/api/v1/credentials/{credential_id}").status_code == 200
    failed = run()
    assert failed["status"] == "failed"
    assert "there is no credential 'rotating'" in failed["nodes"]["call"]["error"]


def test_roles_duplicates_and_bad_data(api: httpx.Client, anonymous: httpx.Client, platform: Platform) -> None:
    viewer, operator, editor = (make_user(api, platform, role) for role in ("viewer", "operator", "editor"))
    body = {"name": "by-role", "type": "http_bearer", "data": {"token": new_token()}}

    for reader in (viewer, operator):
        refused = anonymous.post("/api/v1/credentials", json=body, headers=reader.headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    created = anonymous.post("/api/v1/credentials", json=body, headers=editor.headers)
    assert created.status_code == 201, created.text
    credential_id = created.json()["id"]
    assert anonymous.get(f"/api/v1/credentials/{credential_id}", headers=viewer.headers).status_code == 200
    assert anonymous.get("/api/v1/credentials", headers=viewer.headers).status_code == 200
    for method in ("PUT", "DELETE"):
        denied = anonymous.request(
            method, f"/api/v1/credentials/{credential_id}", json={"data": {"token": "x"}}, headers=viewer.headers
        )
        assert denied.status_code == 403

    duplicate = api.post("/api/v1/credentials", json={**body, "data": {"token": new_token()}})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"

    misspelt = new_token()
    bad = api.post("/api/v1/credentials", json={"name": "bad", "type": "http_basic", "data": {"user": misspelt}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_credential"
    fields = {problem["field"] for problem in bad.json()["error"]["details"]}
    assert fields == {"data.username", "data.password", "data.user"}
    assert misspelt not in bad.text, "errors name fields, never values"
    wrong_shape = api.put(f"/api/v1/credentials/{credential_id}", json={"data": {"username": "a", "password": "b"}})
    assert wrong_shape.status_code == 422, "the data must fit the credential's own type"
    unknown = api.post("/api/v1/credentials", json={"name": "odd", "type": "oauth9", "data": {}})
    assert unknown.status_code == 422
    assert api.get("/api/v1/credentials/no-such-id").status_code == 404


def test_credential_data_travels_the_bus_only_sealed(api: httpx.Client, platform: Platform) -> None:
    """Tap every exchange while a credential is made, replaced and used: its secret never passes in clear."""

    def actions() -> list[str]:
        first, second = new_token(), new_token()
        created = create_credential(api, "tapped", "http_header", {"name": "X-Tapped", "value": first})
        api.put(f"/api/v1/credentials/{created['id']}", json={"data": {"name": "X-Tapped", "value": second}})
        return [first, second]

    bodies, used = tap_bus(platform.amqp_url, actions)
    kinds = {json.loads(body)["type"] for body in bodies}
    assert {"connectors.CreateCredential.v1", "connectors.UpdateCredential.v1"} <= kinds
    for secret in used:
        assert not any(secret.encode() in body for body in bodies), "a credential travelled on the bus in clear"


@pytest.mark.parametrize("path", ["/api/v1/credentials", "/api/v1/credentials/types"])
def test_anonymous_callers_see_nothing(anonymous: httpx.Client, path: str) -> None:
    assert anonymous.get(path).status_code == 401


def test_the_test_action_tries_the_credential_and_never_returns_it(
    api: httpx.Client, anonymous: httpx.Client, platform: Platform, fake_api: FakeApi
) -> None:
    password = new_token()
    database = platform.database_url.rsplit("/", 1)[1]
    pg = create_credential(
        api,
        "checked-pg",
        "postgres",
        {"host": "127.0.0.1", "database": database, "username": "postgres", "password": password, "tls": "disable"},
    )
    token = new_token()
    bearer = create_credential(
        api, "checked-bearer", "http_bearer", {"token": token, "test_url": f"{fake_api.url}/headers?status=401"}
    )

    works = api.post(f"/api/v1/credentials/{pg['id']}/test")
    refused = api.post(f"/api/v1/credentials/{bearer['id']}/test")

    assert works.status_code == 200, works.text
    assert works.json()["ok"] is True and works.json()["message"].startswith("connected to 127.0.0.1:5432/")
    assert refused.status_code == 200 and refused.json()["ok"] is False
    assert "HTTP 401" in refused.json()["message"]
    assert sent_to(fake_api, "/headers")["authorization"] == f"Bearer {token}"
    for shown in (works.text, refused.text):
        assert password not in shown and token not in shown
    assert api.post("/api/v1/credentials/00000000-0000-0000-0000-000000000000/test").status_code == 404
    viewer = make_user(api, platform, "viewer")
    denied = anonymous.post(f"/api/v1/credentials/{pg['id']}/test", headers=viewer.headers)
    assert denied.status_code == 403


def test_no_credential_type_lets_its_secrets_out(api: httpx.Client) -> None:
    """Each type made, read, listed and tested through the API: no answer holds a secret (and the session's
    log scan finds none in any service log)."""
    from services.connectors.tests.fixtures_credentials import sample_data, secrets_of

    shown: list[str] = []
    used: list[str] = []
    for type_name, data in sample_data().items():
        used += [remember_secret(value) for value in secrets_of(data)]
        created = create_credential(api, f"every-{type_name}", type_name, data)
        shown.append(json.dumps(created))
        shown.append(api.get(f"/api/v1/credentials/{created['id']}").text)
        tested = api.post(f"/api/v1/credentials/{created['id']}/test")
        assert tested.status_code == 200, tested.text
        shown.append(tested.text)
    shown.append(api.get("/api/v1/credentials", params={"limit": 500}).text)
    for text in shown:
        for value in used:
            assert value not in text


def test_database_nodes_use_their_credentials_and_the_log_never_holds_them(
    api: httpx.Client, platform: Platform
) -> None:
    from services.connectors.tests.fakes import mariadb_database

    pg_password = new_token()
    database = platform.database_url.rsplit("/", 1)[1]
    pg = {"host": "127.0.0.1", "database": database, "username": "postgres", "password": pg_password, "tls": "disable"}
    create_credential(api, "e2e-pg", "postgres", pg)
    with mariadb_database("flowtape_test_e2e") as my:
        remember_secret(my["password"])
        create_credential(api, "e2e-my", "mysql", my)
        definition = {
            "name": "databases",
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {
                    "id": "pg",
                    "type": "postgres",
                    "params": {
                        "credential": "e2e-pg",
                        "query": "SELECT $1::text AS who",
                        "parameters": ["{{ item.who }}"],
                    },
                },
                {
                    "id": "my",
                    "type": "mysql",
                    "params": {
                        "credential": "e2e-my",
                        "query": "SELECT CONCAT(%s, '!') AS shout",
                        "parameters": ["{{ item.who }}"],
                    },
                },
            ],
            "edges": [{"from": "start", "to": "pg"}, {"from": "pg", "to": "my"}],
        }
        created = api.post("/api/v1/workflows", json=definition)
        assert created.status_code == 201, created.text
        ran = api.post(
            f"/api/v1/workflows/{created.json()['id']}/run", params={"wait": "true"}, json={"input": [{"who": "ada"}]}
        )
        assert ran.status_code == 200, ran.text
        execution = ran.json()
        events = api.get(f"/api/v1/executions/{execution['id']}/events").text
    assert execution["status"] == "succeeded", execution
    assert execution["nodes"]["pg"]["output"] == [{"who": "ada"}]
    assert execution["output"] == [{"shout": "ada!"}]
    for text in (json.dumps(execution), events):
        assert pg_password not in text and my["password"] not in text
