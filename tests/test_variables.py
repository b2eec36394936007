"""End to end: variables (``vars.NAME``) on the distributed platform (five OS processes, RabbitMQ, PostgreSQL).

Platform and workflow variables (the workflow's own override), plain and secret, through the API and the CLI;
a run records the values it used, so changing a variable never changes a recorded run; a secret variable
reaches the outside world from the connectors but no event, node output or API answer, and is encrypted at rest.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import httpx
import psycopg

from tests.infra import FakeApi, Platform, remember_secret
from tests.test_credentials import make_user, sent_to
from tests.test_lifecycle import _cli

SECRET = "[secret]"


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _workflow(url: str, greeting: str, region: str, token: str) -> dict[str, Any]:
    return {
        "name": _name("vars"),
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            # a pure node: the engine evaluates it inline, from the values the run recorded
            {
                "id": "greet",
                "type": "set",
                "params": {"fields": {"greeting": f"{{{{ vars.{greeting} }}}}", "region": f"{{{{ vars.{region} }}}}"}},
            },
            # an I/O node: the connectors fill in the secret
            {
                "id": "call",
                "type": "http_request",
                "params": {
                    "url": url + "/headers?region={{ vars." + region + " }}",
                    "headers": {"X-Token": f"{{{{ vars.{token} }}}}"},
                },
            },
        ],
        "edges": [{"from": "start", "to": "greet"}, {"from": "greet", "to": "call"}],
    }


def _put(api: httpx.Client, path: str, value: str, secret: bool = False) -> dict[str, Any]:
    response = api.put(path, json={"value": value, "secret": secret})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _run(api: httpx.Client, workflow_id: str) -> dict[str, Any]:
    ran = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": []}, timeout=90)
    assert ran.status_code == 200, ran.text
    execution = dict(ran.json())
    assert execution["status"] == "succeeded", execution
    return execution


def test_runs_record_their_variables_and_secrets_reach_only_the_outside_world(
    api: httpx.Client, fake_api: FakeApi, platform: Platform
) -> None:
    greeting, region, token = _name("GREETING"), _name("REGION"), _name("TOKEN")
    secret = remember_secret(f"var-secret-{secrets.token_urlsafe(18)}")
    created = api.post("/api/v1/workflows", json=_workflow(fake_api.url, greeting, region, token))
    assert created.status_code == 201, created.text
    workflow_id = created.json()["id"]

    _put(api, f"/api/v1/variables/{greeting}", "hello")
    _put(api, f"/api/v1/variables/{region}", "eu")
    _put(api, f"/api/v1/workflows/{workflow_id}/variables/{region}", "us")  # overrides the platform's
    stored = _put(api, f"/api/v1/variables/{token}", secret, secret=True)
    assert stored["secret"] is True and stored["value"] is None

    first = _run(api, workflow_id)
    assert first["variables"] == {greeting: "hello", region: "us", token: SECRET}
    assert first["nodes"]["greet"]["output"][0] == {"greeting": "hello", "region": "us"}
    assert sent_to(fake_api, "/headers")["x-token"] == secret, "the connectors filled the secret in"
    assert first["nodes"]["call"]["output"][0]["body"]["headers"]["X-Token"] == "[redacted]"

    _put(api, f"/api/v1/variables/{greeting}", "changed")
    second = _run(api, workflow_id)
    assert second["variables"][greeting] == "changed"
    assert second["nodes"]["greet"]["output"][0]["greeting"] == "changed"

    # the first run is as it was: its view, its log and its state at every event show the values it used
    again = api.get(f"/api/v1/executions/{first['id']}").json()
    assert again["variables"] == first["variables"]
    assert again["nodes"]["greet"]["output"] == first["nodes"]["greet"]["output"]
    events = api.get(f"/api/v1/executions/{first['id']}/events")
    assert events.status_code == 200
    started = events.json()["items"][0]
    assert started["data"]["trigger_meta"]["variables"][greeting] == "hello"
    for seq in range(1, len(events.json()["items"]) + 1):
        state = api.get(f"/api/v1/executions/{first['id']}/state", params={"at": seq}).json()
        assert state["variables"][greeting] == "hello"
        assert secret not in json.dumps(state)

    answers = [
        events.text,
        json.dumps(first),
        json.dumps(second),
        api.get(f"/api/v1/executions/{second['id']}/events").text,
        api.get("/api/v1/variables").text,
        api.get(f"/api/v1/workflows/{workflow_id}/variables").text,
        api.get("/api/v1/audit").text,
    ]
    for answer in answers:
        assert secret not in answer
    listed = {v["name"]: v for v in api.get("/api/v1/variables").json()["items"]}
    assert listed[token]["secret"] is True and listed[token]["value"] is None
    assert listed[greeting]["value"] == "changed"
    own = api.get(f"/api/v1/workflows/{workflow_id}/variables").json()["items"]
    assert [(v["name"], v["value"], v["workflow_id"]) for v in own] == [(region, "us", workflow_id)]

    with psycopg.connect(platform.database_url) as conn:
        row = conn.execute("SELECT secret, value FROM connectors.variables WHERE name = %s", (token,)).fetchone()
    assert row is not None and row[0] is True
    assert secret.encode() not in bytes(row[1]), "the secret is encrypted at rest"


def test_test_a_step_sees_the_variables(api: httpx.Client, fake_api: FakeApi) -> None:
    greeting, region, token = _name("GREETING"), _name("REGION"), _name("TOKEN")
    secret = remember_secret(f"var-secret-{secrets.token_urlsafe(18)}")
    workflow_id = api.post("/api/v1/workflows", json=_workflow(fake_api.url, greeting, region, token)).json()["id"]
    _put(api, f"/api/v1/variables/{greeting}", "hi")
    _put(api, f"/api/v1/workflows/{workflow_id}/variables/{region}", "ap")
    _put(api, f"/api/v1/workflows/{workflow_id}/variables/{token}", secret, secret=True)

    tested = api.post(f"/api/v1/workflows/{workflow_id}/nodes/call/test", json={"items": [{}]})
    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] == "succeeded", tested.json()
    assert sent_to(fake_api, "/headers?region=ap")["x-token"] == secret
    assert secret not in tested.text


def test_roles_bad_input_and_the_cli(api: httpx.Client, platform: Platform) -> None:
    viewer = make_user(api, platform, "viewer")
    name = _name("PLAIN")
    _put(api, f"/api/v1/variables/{name}", "visible")
    with httpx.Client(base_url=platform.gateway, headers=viewer.headers, timeout=30) as as_viewer:
        listed = {v["name"]: v["value"] for v in as_viewer.get("/api/v1/variables").json()["items"]}
        assert listed[name] == "visible", "viewers read plain values"
        refused = as_viewer.put(f"/api/v1/variables/{name}", json={"value": "x"})
        assert refused.status_code == 403, refused.text

    bad = api.put("/api/v1/variables/1-bad-name", json={"value": "x"})
    assert bad.status_code == 422 and "vars.NAME" in bad.text, bad.text
    assert "error" in bad.json()
    unknown = api.put(f"/api/v1/workflows/{uuid.uuid4()}/variables/{name}", json={"value": "x"})
    assert unknown.status_code == 404, unknown.text
    missing = api.delete(f"/api/v1/variables/{_name('NEVER')}")
    assert missing.status_code == 404 and "no variable" in missing.json()["error"]["message"]

    workflow_id = api.post(
        "/api/v1/workflows", json={"name": _name("cli"), "nodes": [{"id": "start", "type": "manual_trigger"}]}
    ).json()["id"]
    cli_secret = remember_secret(f"cli-secret-{secrets.token_urlsafe(12)}")
    assert _cli(platform, "variables", "set", "CLI_PLAIN", "from-cli", "--workflow", workflow_id).returncode == 0
    assert (
        _cli(platform, "variables", "set", "CLI_SECRET", cli_secret, "--secret", "--workflow", workflow_id).returncode
        == 0
    )
    shown = _cli(platform, "variables", "list", "--workflow", workflow_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert {(v["name"], v["value"], v["secret"]) for v in json.loads(shown.stdout)} == {
        ("CLI_PLAIN", "from-cli", False),
        ("CLI_SECRET", None, True),
    }
    assert cli_secret not in shown.stdout
    assert _cli(platform, "variables", "unset", "CLI_PLAIN", "--workflow", workflow_id).returncode == 0
    gone = _cli(platform, "variables", "unset", "CLI_PLAIN", "--workflow", workflow_id)
    assert gone.returncode == 1 and "no variable" in gone.stderr
