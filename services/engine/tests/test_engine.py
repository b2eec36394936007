"""The engine end to end in one process: the engine and connectors runtimes on one in-process bus.

Every case talks to the engine the way the gateway does, with messages over the bus, and runs on SQLite
(the embedded default) and on PostgreSQL (production): same behaviour, only the storage adapter differs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.bus.memory import MemoryBus
from flowtape.common.errors import Conflict, InvalidWorkflow, NotFound, RateLimited
from flowtape.common.hosting import running
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import NodeCatalogPublished
from flowtape.common.settings import Settings
from flowtape.connectors.bootstrap import ConnectorsRuntime
from flowtape.connectors.registry import NodeRegistry
from flowtape.engine.bootstrap import EngineRuntime

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FINISHED = ("succeeded", "failed", "cancelled")
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Platform:
    bus: MemoryBus

    async def ask(self, message: msg.Message) -> Any:
        return await self.bus.ask(message)

    async def create(self, definition: dict[str, Any]) -> str:
        workflow = await self.ask(msg.CreateWorkflow(definition=definition))
        return str(workflow["id"])

    async def start(self, workflow_id: str, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        reply: dict[str, Any] = await self.ask(msg.StartExecution(workflow_id=workflow_id, input=items or []))
        return reply

    async def execution(self, execution_id: str, at: int | None = None) -> dict[str, Any]:
        view: dict[str, Any] = await self.ask(msg.GetExecution(execution_id=execution_id, at=at))
        return view

    async def events(self, execution_id: str) -> list[dict[str, Any]]:
        reply = await self.ask(msg.GetExecutionEvents(execution_id=execution_id))
        return list(reply["items"])

    async def until(
        self, execution_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        """Poll the execution until ``done`` holds; fail with its last state after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            view = await self.execution(execution_id)
            if done(view):
                return view
            if loop.time() > deadline:
                raise AssertionError(f"execution {execution_id} did not get there in {timeout} s: {view}")
            await asyncio.sleep(0.01)

    async def finished(self, execution_id: str, timeout: float = 15.0) -> dict[str, Any]:
        return await self.until(execution_id, lambda view: view["status"] in FINISHED, timeout)

    async def run(
        self, workflow_id: str, items: list[dict[str, Any]] | None = None, timeout: float = 15.0
    ) -> dict[str, Any]:
        started = await self.start(workflow_id, items)
        return await self.finished(started["execution_id"], timeout)


@asynccontextmanager
async def platform(settings: Settings, *, connectors: bool = True) -> AsyncIterator[Platform]:
    bus = MemoryBus()
    runtimes: list[Any] = [EngineRuntime(settings, bus)]
    if connectors:
        runtimes.append(ConnectorsRuntime(settings, bus))
    async with running(bus, runtimes):
        yield Platform(bus)


class Storage:
    """Hands out empty storage on one backend: a fresh data directory, or a fresh PostgreSQL database."""

    def __init__(self, backend: str, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> None:
        self.backend = backend
        self._request = request
        self._tmp = tmp

    async def new(self) -> Settings:
        data_dir = self._tmp.mktemp("engine")
        if self.backend == "sqlite":
            return Settings(data_dir=data_dir, database_url=None, _env_file=None)  # type: ignore[call-arg]
        databases = self._request.getfixturevalue("postgres")
        url = await databases.create()
        return Settings(data_dir=data_dir, database_url=url, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module", params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        # the backend under test must be the one these tests choose, whatever the shell exports
        patch.delenv("FLOWTAPE_ENGINE_DATABASE_URL", raising=False)
        if request.param == "postgresql":
            request.getfixturevalue("postgres")  # fails here, visibly, when PostgreSQL is unreachable
        yield Storage(request.param, request, tmp_path_factory)


@pytest.fixture(scope="module")
async def shared(storage: Storage) -> AsyncIterator[Platform]:
    """One platform for the cases that need no restart (each uses workflows of its own)."""
    async with platform(await storage.new()) as running_platform:
        yield running_platform


def node(node_id: str, node_type: str, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "params": params}


def chain(name: str, *nodes: dict[str, Any]) -> dict[str, Any]:
    """A manual trigger ``start`` followed by ``nodes`` one after another."""
    all_nodes = [node("start", "manual_trigger"), *nodes]
    edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(all_nodes)]
    return {"name": name, "nodes": all_nodes, "edges": edges}


def code(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


def branching() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads((EXAMPLES / "branching.json").read_text())
    return definition


def statuses(view: dict[str, Any]) -> dict[str, str]:
    return {node_id: run["status"] for node_id, run in view["nodes"].items()}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- running workflows --------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "label", "skipped"), [(3, "small", "big"), (30, "big", "small")])
async def test_the_branching_example_takes_one_branch(shared: Platform, n: int, label: str, skipped: str) -> None:
    workflow_id = await shared.create(branching())

    started = await shared.start(workflow_id, [{"n": n}])
    view = await shared.finished(started["execution_id"])

    expected = [{"n": n, "doubled": 2 * n, "label": label}]
    assert view["status"] == "succeeded"
    assert view["output"] == expected
    assert (view["workflow_id"], view["workflow_version"]) == (workflow_id, 1)
    assert statuses(view) == {
        "hook": "succeeded",
        "calc": "succeeded",
        "check": "succeeded",
        label: "succeeded",
        skipped: "skipped",
    }
    assert view["nodes"]["calc"]["output"] == [{"n": n, "doubled": 2 * n}]
    assert view["nodes"]["check"]["port"] == ("true" if n > 10 else "false")
    assert view["nodes"][label]["input"] == [{"n": n, "doubled": 2 * n}]
    assert view["nodes"][skipped]["input"] is None and view["nodes"][skipped]["output"] is None
    assert view["finished_at"] is not None and view["error"] is None
    # pure nodes only: the whole run is decided when it starts
    assert started["status"] == "succeeded"
    assert started["execution"]["output"] == expected


async def test_several_trigger_items_are_routed_one_by_one(shared: Platform) -> None:
    workflow_id = await shared.create(branching())

    view = await shared.run(workflow_id, [{"n": 3}, {"n": 30}, {"n": 4}])

    assert view["nodes"]["small"]["input"] == [{"n": 3, "doubled": 6}, {"n": 4, "doubled": 8}]
    assert view["nodes"]["big"]["input"] == [{"n": 30, "doubled": 60}]
    assert sorted((item["n"], item["label"]) for item in view["output"]) == [(3, "small"), (4, "small"), (30, "big")]


async def test_a_chain_of_twenty_set_nodes_runs_every_node_in_order(shared: Platform) -> None:
    steps = [node(f"step{i}", "set", fields={"count": "{{ item.count + 1 }}", "last": f"step{i}"}) for i in range(20)]
    workflow_id = await shared.create(chain("twenty", *steps))

    started = await shared.start(workflow_id, [{"count": 0}])
    view = await shared.finished(started["execution_id"])
    events = await shared.events(started["execution_id"])

    assert view["status"] == "succeeded"
    assert view["output"] == [{"count": 20, "last": "step19"}]
    assert set(statuses(view).values()) == {"succeeded"}
    assert [view["nodes"][f"step{i}"]["output"][0]["count"] for i in range(20)] == list(range(1, 21))
    evaluated = [e["data"]["node_id"] for e in events if e["type"] == "NodeEvaluated"]
    assert evaluated == ["start", *(f"step{i}" for i in range(20))]
    assert len(events) == 1 + 21 + 1, "a node run inline is one event"


async def test_parallel_branches_join_in_a_merge_that_waits_for_both(shared: Platform) -> None:
    slow = code(
        """
        import time
        def run(items):
            time.sleep(0.1)
            return [{**item, "branch": "code"} for item in items]
        """
    )
    definition = {
        "name": "fan-in",
        "nodes": [
            node("start", "manual_trigger"),
            node("slow", "code", code=slow),
            node("fast", "set", fields={"branch": "set"}),
            node("joined", "merge"),
            node("after", "set", fields={"merged": True}),
        ],
        "edges": [
            {"from": "start", "to": "slow"},
            {"from": "start", "to": "fast"},
            {"from": "slow", "to": "joined"},
            {"from": "fast", "to": "joined"},
            {"from": "joined", "to": "after"},
        ],
    }
    workflow_id = await shared.create(definition)

    view = await shared.run(workflow_id, [{"n": 1}])

    assert view["status"] == "succeeded", view
    nodes = view["nodes"]
    # branch items arrive in edge order, although the set branch finished first
    assert nodes["joined"]["input"] == [{"n": 1, "branch": "code"}, {"n": 1, "branch": "set"}]
    assert at(nodes["fast"]["finished_at"]) <= at(nodes["slow"]["finished_at"]) <= at(nodes["joined"]["started_at"])
    assert view["output"] == [{"n": 1, "branch": "code", "merged": True}, {"n": 1, "branch": "set", "merged": True}]


async def test_a_merge_after_an_if_runs_with_the_branch_that_was_taken(shared: Platform) -> None:
    definition = {
        "name": "if-merge",
        "nodes": [
            node("start", "manual_trigger"),
            node("check", "if", condition="{{ item.vip }}"),
            node("vip", "set", fields={"tier": "gold"}),
            node("regular", "set", fields={"tier": "basic"}),
            node("joined", "merge"),
        ],
        "edges": [
            {"from": "start", "to": "check"},
            {"from": "check", "port": "true", "to": "vip"},
            {"from": "check", "port": "false", "to": "regular"},
            {"from": "vip", "to": "joined"},
            {"from": "regular", "to": "joined"},
        ],
    }
    workflow_id = await shared.create(definition)

    view = await shared.run(workflow_id, [{"vip": False}])

    assert statuses(view)["vip"] == "skipped"
    assert statuses(view)["joined"] == "succeeded"
    assert view["output"] == [{"vip": False, "tier": "basic"}]


async def test_a_code_node_runs_in_the_connectors(shared: Platform) -> None:
    source = code(
        """
        def run(items, ctx):
            return [{"total": sum(item["n"] for item in items), "node": ctx["node_id"]}]
        """
    )
    workflow_id = await shared.create(
        chain("code", node("sum", "code", code=source), node("label", "set", fields={"ok": True}))
    )

    started = await shared.start(workflow_id, [{"n": 2}, {"n": 5}])
    assert started["status"] == "running", "a code node is a task for the connectors, not decided inline"
    view = await shared.finished(started["execution_id"])

    assert view["status"] == "succeeded"
    assert view["nodes"]["sum"]["output"] == [{"total": 7, "node": "sum"}]
    assert view["nodes"]["sum"]["attempts"] == 1
    assert view["output"] == [{"total": 7, "node": "sum", "ok": True}]
    events = await shared.events(started["execution_id"])
    assert [e["type"] for e in events if e["data"].get("node_id") == "sum"] == [
        "NodeScheduled",
        "NodeStarted",
        "NodeSucceeded",
    ]


async def test_a_failing_code_node_fails_the_execution_and_records_the_error(shared: Platform) -> None:
    source = code(
        """
        def run(items):
            raise ValueError("no customer id in " + repr(items[0]))
        """
    )
    workflow_id = await shared.create(chain("fails", node("lookup", "code", code=source), node("after", "set")))

    execution_id = (await shared.start(workflow_id, [{"n": 1}]))["execution_id"]
    view = await shared.finished(execution_id)

    assert view["status"] == "failed"
    assert view["failed_node"] == "lookup"
    assert "no customer id in {'n': 1}" in view["error"]
    lookup = view["nodes"]["lookup"]
    assert lookup["status"] == "failed"
    assert "ValueError" in lookup["error"] and "no customer id" in lookup["error"]
    assert lookup["output"] is None and lookup["finished_at"] is not None
    assert view["nodes"]["after"]["status"] not in ("scheduled", "running", "succeeded")
    events = await shared.events(execution_id)
    assert [e["type"] for e in events[-2:]] == ["NodeFailed", "ExecutionFailed"]
    listed = await shared.ask(msg.ListExecutions(workflow_id=workflow_id, status="failed"))
    assert [item["id"] for item in listed["items"]] == [execution_id]


async def test_the_workflows_settings_reach_its_node_tasks(shared: Platform) -> None:
    """settings.code_network travels with the task: the connectors refuse it while the operator does not allow it."""
    definition = chain("networked", node("fetch", "code", code="def run(items):\n    return items\n"))
    workflow_id = await shared.create({**definition, "settings": {"code_network": True}})

    view = await shared.finished((await shared.start(workflow_id, [{"n": 1}]))["execution_id"])

    assert view["status"] == "failed"
    assert "FLOWTAPE_CODE_NETWORK=per_workflow" in view["nodes"]["fetch"]["error"]


async def test_a_wait_node_pauses_then_resumes(shared: Platform) -> None:
    workflow_id = await shared.create(
        # long enough to be seen waiting, and listed so, on a loaded machine
        chain("waits", node("pause", "wait", seconds=2), node("after", "set", fields={"resumed": True}))
    )

    started = await shared.start(workflow_id, [{"n": 1}])
    assert started["status"] == "waiting"
    paused = await shared.execution(started["execution_id"])
    assert paused["status"] == "waiting"
    assert paused["nodes"]["pause"]["status"] == "waiting"
    assert paused["nodes"]["after"]["status"] == "pending"
    listed = await shared.ask(msg.ListExecutions(workflow_id=workflow_id, status="waiting"))
    assert [item["id"] for item in listed["items"]] == [started["execution_id"]]

    view = await shared.finished(started["execution_id"])

    assert view["status"] == "succeeded"
    assert view["output"] == [{"n": 1, "resumed": True}]
    assert (at(view["finished_at"]) - at(view["started_at"])).total_seconds() >= 0.2
    types = [e["type"] for e in await shared.events(started["execution_id"])]
    assert types.index("ExecutionPaused") < types.index("ExecutionResumed") < types.index("ExecutionSucceeded")


# --- the log -------------------------------------------------------------------------------------------


async def test_the_events_are_the_log_in_order(shared: Platform) -> None:
    workflow_id = await shared.create(branching())
    execution_id = (await shared.start(workflow_id, [{"n": 3}]))["execution_id"]
    await shared.finished(execution_id)

    events = await shared.events(execution_id)

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["type"], e["data"].get("node_id")) for e in events] == [
        ("ExecutionStarted", None),
        ("NodeEvaluated", "hook"),
        ("NodeEvaluated", "calc"),
        ("NodeEvaluated", "check"),
        ("NodesSkipped", None),
        ("NodeEvaluated", "small"),
        ("ExecutionSucceeded", None),
    ]
    started = events[0]["data"]
    assert (started["workflow_id"], started["workflow_version"], started["trigger"]) == (workflow_id, 1, [{"n": 3}])
    assert events[4]["data"]["node_ids"] == ["big"]
    assert events[2]["data"]["input_from"] == [["hook", "main"]], "an inline node's input is named, not copied"
    assert events[-1]["data"]["output"] == [{"n": 3, "doubled": 6, "label": "small"}]
    later = await shared.ask(msg.GetExecutionEvents(execution_id=execution_id, after=5))
    assert [e["seq"] for e in later["items"]] == [6, 7]


async def test_the_state_at_each_event_is_the_state_after_it(shared: Platform) -> None:
    workflow_id = await shared.create(branching())
    execution_id = (await shared.start(workflow_id, [{"n": 30}]))["execution_id"]
    final = await shared.finished(execution_id)
    events = await shared.events(execution_id)

    history = [await shared.execution(execution_id, at=k) for k in range(1, len(events) + 1)]

    assert history[0]["status"] == "running"
    assert set(statuses(history[0]).values()) == {"pending"}
    calc_done = next(e["seq"] for e in events if e["type"] == "NodeEvaluated" and e["data"]["node_id"] == "calc")
    then = history[calc_done - 1]
    assert then["nodes"]["calc"]["output"] == [{"n": 30, "doubled": 60}]
    assert then["nodes"]["calc"]["input"] == [{"n": 30}]
    assert statuses(then)["check"] == "pending"
    assert then["output"] == [] and then["finished_at"] is None
    for k, view in enumerate(history, start=1):
        assert view["events"] == k
        succeeded_so_far = {e["data"]["node_id"] for e in events[:k] if e["type"] in ("NodeSucceeded", "NodeEvaluated")}
        assert {n for n, s in statuses(view).items() if s == "succeeded"} == succeeded_so_far
    last = history[-1]
    assert (last["status"], last["output"], last["nodes"]) == (final["status"], final["output"], final["nodes"])
    with pytest.raises(NotFound):
        await shared.execution(execution_id, at=0)
    with pytest.raises(NotFound):
        await shared.execution(execution_id, at=len(events) + 1)


# --- the bus contract ---------------------------------------------------------------------------------


async def test_an_invalid_workflow_is_refused_with_the_node_named(shared: Platform) -> None:
    definition = chain("bad", node("check", "if", condition="item.n > 10"))

    with pytest.raises(InvalidWorkflow) as caught:
        await shared.create(definition)

    assert "'check'" in caught.value.message
    assert caught.value.details[0]["node"] == "check"


async def test_unknown_ids_are_not_found(shared: Platform) -> None:
    with pytest.raises(NotFound):
        await shared.start("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):
        await shared.execution("not-an-id")
    with pytest.raises(NotFound):
        await shared.ask(msg.GetExecutionEvents(execution_id="00000000-0000-0000-0000-000000000000"))


async def test_executions_of_a_workflow_are_listed_newest_first(shared: Platform) -> None:
    workflow_id = await shared.create(branching())
    ids = [(await shared.run(workflow_id, [{"n": n}]))["id"] for n in (1, 20, 3)]

    listed = await shared.ask(msg.ListExecutions(workflow_id=workflow_id))

    assert [item["id"] for item in listed["items"]] == ids[::-1]
    assert {item["status"] for item in listed["items"]} == {"succeeded"}
    page = await shared.ask(msg.ListExecutions(workflow_id=workflow_id, limit=2))
    rest = await shared.ask(msg.ListExecutions(workflow_id=workflow_id, limit=2, cursor=page["next_cursor"]))
    assert [item["id"] for item in page["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None


async def test_a_workflow_with_its_most_runs_under_way_refuses_another_start(storage: Storage) -> None:
    settings = (await storage.new()).model_copy(update={"max_queued_runs_per_workflow": 3, "egress_allow": "127.0.0.1"})
    # a server that takes connections and never answers: each run's http_request keeps it under way
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        async with platform(settings) as engine:
            busy = await engine.create(chain("busy", node("call", "http_request", url=url, timeout=60)))
            other = await engine.create(chain("other", node("call", "http_request", url=url, timeout=60)))
            started = [(await engine.start(busy))["execution_id"] for _ in range(3)]

            # the bound counts the read model, which follows the log a moment later
            for _ in range(500):
                listed = await engine.ask(msg.ListExecutions(workflow_id=busy, status="running"))
                if len(listed["items"]) == 3:
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(RateLimited) as refused:
                await engine.start(busy)
            assert refused.value.details["limit"] == 3 and refused.value.details["retry_after"] >= 1
            assert "FLOWTAPE_MAX_QUEUED_RUNS_PER_WORKFLOW" in refused.value.message
            await engine.start(other)  # the bound is per workflow

            await engine.ask(msg.CancelExecution(execution_id=started[0]))
            await engine.finished(started[0])
            assert (await engine.start(busy))["status"] == "running"


# --- restarts ------------------------------------------------------------------------------------------


async def test_workflows_and_executions_outlive_a_restart(storage: Storage) -> None:
    settings = await storage.new()
    failing = code("def run(items):\n    raise RuntimeError('down')\n")
    async with platform(settings) as first:
        workflow_id = await first.create(branching())
        other_id = await first.create(chain("fails", node("call", "code", code=failing)))
        before = {
            "small": await first.run(workflow_id, [{"n": 3}]),
            "big": await first.run(workflow_id, [{"n": 30}]),
            "failed": await first.run(other_id),
        }

    async with platform(settings) as second:
        workflows = await second.ask(msg.ListWorkflows())
        assert {item["id"] for item in workflows["items"]} == {workflow_id, other_id}
        saved = [{**node, "version": 1} for node in branching()["nodes"]]  # a save pins each node's version
        assert (await second.ask(msg.GetWorkflow(workflow_id=workflow_id)))["nodes"] == saved
        listed = await second.ask(msg.ListExecutions())
        assert {item["id"]: item["status"] for item in listed["items"]} == {
            view["id"]: view["status"] for view in before.values()
        }
        for view in before.values():
            after = await second.execution(view["id"])
            assert (after["status"], after["output"], after["nodes"]) == (view["status"], view["output"], view["nodes"])
        assert (await second.run(workflow_id, [{"n": 11}]))["output"] == [{"n": 11, "doubled": 22, "label": "big"}]


@pytest.mark.parametrize("limited", [False, True], ids=["unlimited", "max_concurrent_runs"])
async def test_a_start_sent_again_answers_the_run_it_started_and_records_it_once(
    storage: Storage, limited: bool
) -> None:
    """A gateway retries a start it got no answer to, and a broker may deliver one twice: the engine inserts a
    new run without reading the log first, so a repeated start meets the run there and answers with it (a
    limited workflow's start also finds its place among the running ones already taken)."""
    settings = await storage.new()
    execution_id = uuid.uuid4()
    definition = branching()
    if limited:
        definition["settings"] = {**definition.get("settings", {}), "max_concurrent_runs": 5}
    async with platform(settings) as first:
        workflow_id = await first.create(definition)
        start = msg.StartExecution(workflow_id=workflow_id, input=[{"n": 3}], execution_id=execution_id)
        answers = [await first.ask(start), await first.ask(start)]
    async with platform(settings) as second:  # nothing in memory now: the repeated start meets the log
        answers.append(await second.ask(start))
        events = await second.events(str(execution_id))

    assert {answer["execution_id"] for answer in answers} == {str(execution_id)}
    assert [answer["execution"]["output"] for answer in answers] == [[{"n": 3, "doubled": 6, "label": "small"}]] * 3
    assert [e["type"] for e in events].count("ExecutionStarted") == 1


async def test_an_execution_waiting_across_a_restart_is_finished_by_recover(storage: Storage) -> None:
    settings = await storage.new()
    async with platform(settings) as first:
        workflow_id = await first.create(
            # long enough that the first process closes before its timer is due, even on a loaded machine
            chain("waits", node("pause", "wait", seconds=2), node("after", "set", fields={"resumed": True}))
        )
        started = await first.start(workflow_id, [{"n": 1}])
        assert started["status"] == "waiting"
    reopened_at = datetime.now().astimezone()

    async with platform(settings) as second:
        view = await second.finished(started["execution_id"])
        events = await second.events(started["execution_id"])

    assert view["status"] == "succeeded"
    assert view["output"] == [{"n": 1, "resumed": True}]
    resumed = [e for e in events if e["type"] == "ExecutionResumed"]
    assert len(resumed) == 1, [(e["type"], e["at"], e["data"]) for e in events]
    assert at(resumed[0]["at"]) >= reopened_at, "the first process must not have resumed it"


async def test_a_node_task_in_flight_at_a_crash_is_dispatched_again(storage: Storage) -> None:
    settings = await storage.new()
    source = code("def run(items):\n    return [{'ran': True}]\n")
    async with platform(settings, connectors=False) as engine_only:
        # no connectors: the catalog arrives as a worker would publish it, and the task is never taken
        await engine_only.bus.publish(NodeCatalogPublished(nodes=NodeRegistry.default().catalog()))
        workflow_id = await engine_only.create(chain("in-flight", node("work", "code", code=source)))
        execution_id = (await engine_only.start(workflow_id))["execution_id"]
        assert statuses(await engine_only.execution(execution_id))["work"] == "scheduled"

    async with platform(settings) as restarted:
        view = await restarted.finished(execution_id)

    assert view["status"] == "succeeded"
    assert view["output"] == [{"ran": True}]
    assert view["nodes"]["work"]["attempts"] == 1, "the same attempt, so the same idempotency key"


# --- flow control: loops, sub-workflows, waits for a call, static data ---------------------------------------


async def test_a_loop_runs_a_code_node_once_per_batch_each_run_its_own_task(shared: Platform) -> None:
    count = code("def run(items):\n    return [{'orders': len(items[0]['orders'])}]\n")
    definition = {
        "name": "batches",
        "nodes": [
            node("start", "manual_trigger"),
            node("each", "loop", batch_size=10),
            node("batch", "aggregate", to="orders"),
            node("count", "code", code=count),
            node("done", "noop"),
        ],
        "edges": [
            {"from": "start", "to": "each"},
            {"from": "each", "port": "loop", "to": "batch"},
            {"from": "batch", "to": "count"},
            {"from": "count", "to": "each"},
            {"from": "each", "port": "done", "to": "done"},
        ],
    }
    workflow_id = await shared.create(definition)

    view = await shared.run(workflow_id, [{"id": i} for i in range(25)])

    assert view["status"] == "succeeded", view
    # a connectors worker answers a repeated idempotency key with its recorded outcome: each batch has its own
    assert view["output"] == [{"orders": 10}, {"orders": 10}, {"orders": 5}]
    assert view["nodes"]["count"] | {"runs": 3, "iteration": 3} == view["nodes"]["count"]
    assert (view["nodes"]["each"]["iteration"], view["nodes"]["each"]["iterations"]) == (3, 3)
    events = [e["type"] for e in await shared.events(view["id"])]
    assert events.count("LoopIterated") == 2 and events.count("NodeSucceeded") == 3


def doubling_child() -> dict[str, Any]:
    return chain("child", node("double", "set", fields={"doubled": "{{ item.n * 2 }}"}, keep_only_set=True))


async def test_execute_workflow_runs_the_child_and_both_runs_link_to_each_other(shared: Platform) -> None:
    child_id = await shared.create(doubling_child())
    parent_id = await shared.create(
        chain("parent", node("sub", "execute_workflow", workflow_id=child_id), node("after", "set", fields={"ok": 1}))
    )

    parent = await shared.run(parent_id, [{"n": 21}, {"n": 2}])

    assert parent["status"] == "succeeded", parent
    assert parent["output"] == [{"doubled": 42, "ok": 1}, {"doubled": 4, "ok": 1}]
    child_execution = parent["nodes"]["sub"]["child_execution_id"]
    assert parent["calls"] == [{"execution_id": child_execution, "node": "sub"}]
    child = await shared.execution(child_execution)
    assert child["workflow_id"] == child_id and child["status"] == "succeeded"
    assert child["caller"] == {"execution_id": parent["id"], "node": "sub", "workflow_id": parent_id}
    assert child["nodes"]["start"]["output"] == [{"n": 21}, {"n": 2}]


async def test_a_failed_child_fails_the_node_and_its_error_port_handles_it(shared: Platform) -> None:
    failing = chain("child fails", node("stop", "stop_and_error", message="no stock for {{ item.sku }}"))
    child_id = await shared.create(failing)
    call = {**node("sub", "execute_workflow", workflow_id=child_id), "on_error": "error_port"}
    definition = {
        "name": "parent",
        "nodes": [node("start", "manual_trigger"), call, node("handled", "set", fields={"handled": True})],
        "edges": [{"from": "start", "to": "sub"}, {"from": "sub", "port": "error", "to": "handled"}],
    }
    parent = await shared.run(await shared.create(definition), [{"sku": "A1"}])

    assert parent["status"] == "succeeded", parent
    error = parent["output"][0]["error"]
    assert error["code"] == "child_failed" and "no stock for A1" in error["message"]
    missing = await shared.run(await shared.create(chain("p", node("sub", "execute_workflow", workflow_id="nope"))))
    assert missing["status"] == "failed" and "workflow nope could not be started" in missing["error"]


async def test_a_workflow_calling_itself_stops_at_the_depth_limit(shared: Platform) -> None:
    workflow_id = await shared.create(chain("recursive", node("again", "noop")))
    recursive = chain("recursive", node("again", "execute_workflow", workflow_id=workflow_id))
    await shared.ask(msg.UpdateWorkflow(workflow_id=workflow_id, definition=recursive))

    view = await shared.run(workflow_id, timeout=60.0)

    assert view["status"] == "failed"
    depth = 0
    while (child := view["nodes"]["again"].get("child_execution_id")) is not None:
        view = await shared.execution(child)
        depth += 1
    assert depth == 10, "the default FLOWTAPE_MAX_CALL_DEPTH"
    assert "nest workflow runs 11 deep" in (view["error"] or "")


async def test_a_wait_for_a_call_resumes_through_its_url_once(shared: Platform) -> None:
    workflow_id = await shared.create(
        chain("approval", node("approve", "wait", resume="webhook", timeout_seconds=600), node("after", "noop"))
    )
    started = await shared.start(workflow_id, [{"order": 7}])
    waiting = await shared.until(started["execution_id"], lambda view: view["status"] == "waiting")
    url = waiting["nodes"]["approve"]["resume_url"]
    assert url.startswith("/hooks/resume/") and waiting["nodes"]["approve"]["output"] == [{"resume_url": url}]
    token = url.rsplit("/", 1)[1]
    execution_id = started["execution_id"]

    with pytest.raises(NotFound):
        await shared.ask(msg.ResumeExecution(execution_id=execution_id, token=token[:-2] + "xx", body={}))
    reply = await shared.ask(msg.ResumeExecution(execution_id=execution_id, token=token, body={"approved": True}))
    assert reply == {"execution_id": execution_id, "node": "approve", "status": "succeeded"}
    view = await shared.finished(execution_id)
    assert view["output"] == [{"order": 7, "resume": {"approved": True}}]
    assert view["nodes"]["approve"]["resume_url"] is None, "a used resume URL is no longer shown"
    with pytest.raises(Conflict, match="used already"):
        await shared.ask(msg.ResumeExecution(execution_id=execution_id, token=token, body={"approved": False}))


async def test_static_data_counts_across_runs_and_no_concurrent_increment_is_lost(shared: Platform) -> None:
    workflow_id = await shared.create(chain("counter", node("count", "static_data", operation="increment", key="runs")))

    first = await shared.run(workflow_id)
    second = await shared.run(workflow_id)
    assert [first["output"][0]["runs"], second["output"][0]["runs"]] == [1, 2]
    started = await asyncio.gather(*(shared.start(workflow_id) for _ in range(8)))
    views = await asyncio.gather(*(shared.finished(s["execution_id"]) for s in started))
    assert sorted(view["output"][0]["runs"] for view in views) == list(range(3, 11))

    remember = chain(
        "cursor",
        node("last", "static_data", operation="get", key="last_id", default=0),
        node("remember", "static_data", operation="set", key="last_id", value="{{ item.last_id + 5 }}"),
    )
    cursor_id = await shared.create(remember)
    assert (await shared.run(cursor_id))["output"] == [{"last_id": 5}]
    assert (await shared.run(cursor_id))["output"] == [{"last_id": 10}]
