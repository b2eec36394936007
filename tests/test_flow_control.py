"""End to end: flow control on the distributed platform (five OS processes, RabbitMQ, PostgreSQL).

A loop posts batches to a local stand-in API, an error port handles a 500, a parent runs a child workflow, a wait
for a call is approved through its resume URL after an engine restart, a loop's run is inspected at a past event
and replayed from a node inside it, static data counts across runs, and a workflow saved with version 1 of a
plugin node keeps running version 1 once version 2 is installed. This module has a platform of its own: it
restarts the engine, and restarts the connectors with a plugin on their path.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra import (
    Account,
    FakeApi,
    Platform,
    postgres_database,
    rabbitmq_vhost,
    set_up_admin,
    wait_ready,
)

PLUGIN = "flowtape_greet_plugin"


class PluginPlatform(Platform):
    """The platform, with a directory on the connectors' Python path that a test can put plugins in."""

    plugins: Path

    def env(self, service: str, port: int) -> dict[str, str]:
        env = super().env(service, port)
        if service == "connectors":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.plugins), env.get("PYTHONPATH")]))
        return env


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginPlatform]:
    workdir: Path = tmp_path_factory.mktemp("flow")
    with rabbitmq_vhost("flowtape-flow") as amqp_url, postgres_database("flowtape_flow") as database_url:
        platform = PluginPlatform(amqp_url=amqp_url, database_url=database_url, workdir=workdir)
        platform.plugins = workdir / "plugins"
        platform.plugins.mkdir()
        try:
            platform.start_all()
            platform.admin = set_up_admin(platform.gateway)
            yield platform
        except Exception:
            print(platform.logs())
            raise
        finally:
            platform.stop_all()


@pytest.fixture(scope="module")
def admin(flow: PluginPlatform) -> Account:
    assert flow.admin is not None
    return flow.admin


@pytest.fixture(scope="module")
def api(flow: PluginPlatform, admin: Account) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=flow.gateway, timeout=60, headers=admin.headers) as client:
        yield client


def create(api: httpx.Client, definition: dict[str, Any]) -> str:
    response = api.post("/api/v1/workflows", json=definition)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def run(api: httpx.Client, workflow_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json={"input": items})
    assert response.status_code == 200, response.text
    return dict(response.json())


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.1)
    return value


def execution(api: httpx.Client, execution_id: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/api/v1/executions/{execution_id}" + ("/state" if params else ""), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def finished(api: httpx.Client, execution_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view = execution(api, execution_id)
        return view if view["status"] in ("succeeded", "failed", "cancelled") else None

    return dict(until(done, timeout))


def restart(platform: Platform, service: str) -> None:
    platform.stop(service)
    process = platform.start(service)
    wait_ready(process.url, process=process.popen)


def batches(fake_api: FakeApi, path: str) -> dict[str, Any]:
    return {
        "name": f"batches to {path}",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "each", "type": "loop", "params": {"batch_size": 10}},
            {"id": "batch", "type": "aggregate", "params": {"to": "orders"}},
            {
                "id": "post",
                "type": "http_request",
                "params": {"method": "POST", "url": f"{fake_api.url}/{path}", "json": {"orders": "{{ item.orders }}"}},
            },
            {"id": "sent", "type": "set", "params": {"fields": {"sent": "{{ item.body.echo.orders | length }}"}}},
            {"id": "report", "type": "aggregate", "params": {"mode": "fields", "fields": ["sent"]}},
        ],
        "edges": [
            {"from": "start", "to": "each"},
            {"from": "each", "port": "loop", "to": "batch"},
            {"from": "batch", "to": "post"},
            {"from": "post", "to": "sent"},
            {"from": "sent", "to": "each"},
            {"from": "each", "port": "done", "to": "report"},
        ],
    }


def posted(fake_api: FakeApi, path: str) -> list[int]:
    with fake_api.lock:
        return [len(json.loads(str(r["body"]))["orders"]) for r in fake_api.requests if r["path"] == f"/{path}"]


def test_a_loop_posts_25_items_in_three_batches_and_its_past_can_be_seen_and_replayed(
    api: httpx.Client, fake_api: FakeApi
) -> None:
    workflow_id = create(api, batches(fake_api, "batches"))
    orders = [{"id": i, "total": i * 10} for i in range(25)]

    view = run(api, workflow_id, orders)

    assert view["status"] == "succeeded", view
    assert posted(fake_api, "batches") == [10, 10, 5], "one call per batch, each with its batch"
    assert view["output"] == [{"sent": [10, 10, 5]}]
    assert (view["nodes"]["post"]["runs"], view["nodes"]["post"]["iteration"]) == (3, 3)
    assert view["nodes"]["each"]["iterations"] == 3
    events = api.get(f"/api/v1/executions/{view['id']}/events").json()["items"]
    assert [e["type"] for e in events].count("NodeSucceeded") == 3, "the log holds every batch's call"

    # time travel: the run just after the second batch was posted
    second = [e["seq"] for e in events if e["type"] == "NodeSucceeded"][1]
    past = execution(api, view["id"], at=second)
    assert past["status"] == "running" and past["nodes"]["each"]["iteration"] == 2
    assert past["nodes"]["post"]["runs"] == 2 and past["nodes"]["post"]["status"] == "succeeded"
    assert past["nodes"]["post"]["input"] == [{"orders": orders[10:20]}]
    assert past["nodes"]["report"]["status"] == "pending"

    # replay from a node inside the loop: the loop runs again from its first batch, upstream is copied
    replay = api.post(f"/api/v1/executions/{view['id']}/replay", json={"from_node": "post"})
    assert replay.status_code == 202, replay.text
    again = finished(api, replay.json()["execution_id"])
    assert again["status"] == "succeeded" and again["output"] == [{"sent": [10, 10, 5]}]
    assert again["parent"] == {"execution_id": view["id"], "node": "post"}
    assert posted(fake_api, "batches") == [10, 10, 5] * 2
    with_input = api.post(f"/api/v1/executions/{view['id']}/replay", json={"from_node": "post", "input": [{}]})
    assert with_input.status_code == 400 and "runs once per batch of loop 'each'" in with_input.text

    check = api.post("/api/v1/admin/replay-check", json={"workflow_id": workflow_id, "version": 1})
    assert check.status_code == 200, check.text
    assert check.json()["differing"] == 0, check.json()


def test_an_error_port_handles_a_500_and_the_run_succeeds(api: httpx.Client, fake_api: FakeApi) -> None:
    definition = {
        "name": "handled outage",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {
                "id": "charge",
                "type": "http_request",
                "params": {"method": "POST", "url": f"{fake_api.url}/status/500", "json": {"n": "{{ item.n }}"}},
                "on_error": "error_port",
            },
            {"id": "ok", "type": "set", "params": {"fields": {"charged": True}}},
            {"id": "later", "type": "set", "params": {"fields": {"queued": True, "why": "{{ item.error.message }}"}}},
        ],
        "edges": [
            {"from": "start", "to": "charge"},
            {"from": "charge", "to": "ok"},
            {"from": "charge", "port": "error", "to": "later"},
        ],
    }
    view = run(api, create(api, definition), [{"n": 1}])

    assert view["status"] == "succeeded", view
    assert view["nodes"]["charge"]["status"] == "succeeded" and view["nodes"]["charge"]["port"] == "error"
    assert "500" in view["nodes"]["charge"]["error"]
    assert view["nodes"]["ok"]["status"] == "skipped"
    [item] = view["output"]
    assert item["queued"] is True and "500" in item["why"] and item["n"] == 1


def test_a_parent_runs_a_child_workflow_and_both_runs_link_to_each_other(api: httpx.Client) -> None:
    child_id = create(
        api,
        {
            "name": "price",
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "vat", "type": "set", "params": {"fields": {"gross": "{{ item.net * 1.2 }}"}}},
            ],
            "edges": [{"from": "start", "to": "vat"}],
        },
    )
    parent_id = create(
        api,
        {
            "name": "order",
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "price", "type": "execute_workflow", "params": {"workflow_id": child_id}},
                {"id": "done", "type": "set", "params": {"fields": {"priced": True}}},
            ],
            "edges": [{"from": "start", "to": "price"}, {"from": "price", "to": "done"}],
        },
    )

    parent = run(api, parent_id, [{"net": 100}])

    assert parent["status"] == "succeeded", parent
    assert parent["output"] == [{"net": 100, "gross": 120.0, "priced": True}]
    child_execution = parent["nodes"]["price"]["child_execution_id"]
    assert parent["calls"] == [{"execution_id": child_execution, "node": "price"}]
    child = execution(api, child_execution)
    assert child["workflow_id"] == child_id and child["status"] == "succeeded"
    assert child["caller"] == {"execution_id": parent["id"], "node": "price", "workflow_id": parent_id}


def test_a_wait_for_a_call_is_approved_through_its_resume_url_after_an_engine_restart(
    api: httpx.Client, flow: PluginPlatform
) -> None:
    definition = {
        "name": "approval",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "approve", "type": "wait", "params": {"resume": "webhook", "timeout_seconds": 3600}},
            {"id": "check", "type": "if", "params": {"condition": "{{ item.resume.approved }}"}},
            {"id": "ship", "type": "set", "params": {"fields": {"shipped": True}}},
            {"id": "refuse", "type": "stop_and_error", "params": {"message": "order {{ item.order }} was refused"}},
        ],
        "edges": [
            {"from": "start", "to": "approve"},
            {"from": "approve", "to": "check"},
            {"from": "check", "port": "true", "to": "ship"},
            {"from": "check", "port": "false", "to": "refuse"},
        ],
    }
    workflow_id = create(api, definition)
    started = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"order": 7}]}).json()
    execution_id = started["execution_id"]
    waiting = until(lambda: (view := execution(api, execution_id))["status"] == "waiting" and view)
    url = waiting["nodes"]["approve"]["resume_url"]
    assert url.startswith("/hooks/resume/") and waiting["nodes"]["approve"]["output"] == [{"resume_url": url}]
    listed = api.get("/api/v1/executions", params={"workflow_id": workflow_id, "status": "waiting"}).json()
    assert [item["id"] for item in listed["items"]] == [execution_id]

    restart(flow, "engine")

    with httpx.Client(base_url=flow.gateway, timeout=60) as anonymous:  # the URL is the capability
        assert anonymous.post(url[:-4] + "AAAA", json={"approved": True}).status_code == 404
        assert anonymous.post("/hooks/resume/not-a-token", json={}).status_code == 404
        assert anonymous.post("/hooks/resume/" + url.rsplit("/", 1)[1] * 8, json={}).status_code == 404
        assert anonymous.get(url).status_code in (404, 405), "a GET (a link preview) resumes nothing"
        answer = anonymous.post(url, json={"approved": True, "by": "ada"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["execution_id"] == execution_id
        again = anonymous.post(url, json={"approved": False})
        assert again.status_code == 409 and "used already" in again.json()["error"]["message"]
    view = finished(api, execution_id)
    assert view["status"] == "succeeded", view
    assert view["output"] == [{"order": 7, "resume": {"approved": True, "by": "ada"}, "shipped": True}]

    refused = api.post(f"/api/v1/workflows/{workflow_id}/run", json={"input": [{"order": 8}]}).json()
    waiting = until(lambda: (v := execution(api, refused["execution_id"]))["status"] == "waiting" and v)
    httpx.post(flow.gateway + waiting["nodes"]["approve"]["resume_url"], json={"approved": False}, timeout=60)
    stopped = finished(api, refused["execution_id"])
    assert stopped["status"] == "failed" and stopped["error"] == "order 8 was refused"


def test_static_data_counts_across_runs(api: httpx.Client, flow: PluginPlatform) -> None:
    definition = {
        "name": "counter",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "count", "type": "static_data", "params": {"operation": "increment", "key": "runs"}},
            {
                "id": "seen",
                "type": "static_data",
                "params": {"operation": "set", "key": "last", "value": "{{ item.n }}"},
            },
        ],
        "edges": [{"from": "start", "to": "count"}, {"from": "count", "to": "seen"}],
    }
    workflow_id = create(api, definition)
    counts = [run(api, workflow_id, [{"n": n}])["output"][0]["runs"] for n in (1, 2)]
    restart(flow, "engine")
    counts.append(run(api, workflow_id, [{"n": 3}])["output"][0]["runs"])
    assert counts == [1, 2, 3]


def _write_plugin(directory: Path, versions: list[int]) -> None:
    """A plugin distribution with a ``greet`` node type in ``versions`` (one class and entry point each)."""
    classes = "\n".join(
        textwrap.dedent(
            f"""
            class GreetV{version}(NodeType[GreetParams]):
                type = "greet"
                version = {version}
                category = "data"
                description = "Greets each item (version {version})."
                Params = GreetParams
                examples = (NodeExample(title="Greet", params={{}}, input=[{{}}], output={{"main": [{{}}]}}),)

                async def run_item(self, ctx, params, item):
                    return NodeResult.on([{{**item, "greeting": f"hello v{version} {{params.name}}"}}])
            """
        )
        for version in versions
    )
    package = directory / PLUGIN
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(
        "from flowtape.common.nodes.sdk import NodeExample, NodeParams, NodeResult, NodeType\n\n\n"
        "class GreetParams(NodeParams):\n    name: str = 'world'\n" + classes
    )
    info = directory / f"{PLUGIN}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 1.0\n")
    entry_points = "".join(f"greet_v{version} = {PLUGIN}:GreetV{version}\n" for version in versions)
    (info / "entry_points.txt").write_text("[flowtape.nodes]\n" + entry_points)


def _greet_versions(api: httpx.Client) -> list[int]:
    return sorted(entry["version"] for entry in api.get("/api/v1/nodes").json() if entry["type"] == "greet")


def _greeter(version: int | None = None) -> dict[str, Any]:
    greet = {"id": "greet", "type": "greet", "params": {"name": "{{ item.name }}"}}
    return {
        "name": "greeter",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            greet if version is None else {**greet, "version": version},
        ],
        "edges": [{"from": "start", "to": "greet"}],
    }


def _install(flow: PluginPlatform, api: httpx.Client, versions: list[int]) -> None:
    """Put the plugin in these versions on the connectors' path, restart them, and wait until the gateway's
    catalog and the engine's (which validates saves) both have every version."""
    _write_plugin(flow.plugins, versions)
    restart(flow, "connectors")
    until(lambda: _greet_versions(api) == versions)
    until(lambda: api.post("/api/v1/workflows", json=_greeter(max(versions))).status_code == 201)


def test_a_workflow_saved_with_version_1_keeps_running_it_after_version_2_is_installed(
    api: httpx.Client, flow: PluginPlatform
) -> None:
    _install(flow, api, [1])
    old = create(api, _greeter())
    assert api.get(f"/api/v1/workflows/{old}").json()["nodes"][1]["version"] == 1, "a save pins the version"

    _install(flow, api, [1, 2])

    def greeting(workflow_id: str) -> str:
        view = run(api, workflow_id, [{"name": "ada"}])
        assert view["status"] == "succeeded", view
        return str(view["output"][0]["greeting"])

    assert greeting(old) == "hello v1 ada"
    new = create(api, _greeter())
    assert api.get(f"/api/v1/workflows/{new}").json()["nodes"][1]["version"] == 2
    assert greeting(new) == "hello v2 ada"
    updated = api.put(f"/api/v1/workflows/{old}", json=_greeter(version=1))
    assert updated.status_code == 200, updated.text
    assert greeting(old) == "hello v1 ada", "a new version of the workflow may keep naming version 1"
    unknown = api.post("/api/v1/workflows", json=_greeter(version=3))
    assert unknown.status_code == 422 and "has no version 3" in unknown.text
