"""The engine's verbs: save workflows, start executions, apply node outcomes, answer queries.

Each decision about an execution happens under that execution's lock: load (from the live cache or the
log), apply events, let the scheduling core pick what is next, evaluate pure nodes inline, save once, then
publish the node tasks and the finish notice. Publishing strictly follows the save.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from pydantic import ValidationError

from flowtape.common import logs
from flowtape.common.bus import Bus
from flowtape.common.errors import InvalidWorkflow, NodeError, NotFound
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import NodeTaskCompleted, RunNodeTask
from flowtape.common.nodes.builtin import BUILTIN_NODES
from flowtape.common.nodes.sdk import NodeContext, NodeType, execute_node, resolve_params
from flowtape.common.workflow import WorkflowDefinition
from flowtape.engine.catalog import NodeCatalog
from flowtape.engine.domain.execution import Execution, Items
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.scheduling import all_settled, decide, final_output
from flowtape.engine.domain.validation import validate_definition
from flowtape.engine.domain.workflow import Workflow
from flowtape.engine.metrics import EngineMetrics
from flowtape.engine.projections import Projections
from flowtape.engine.store import ExecutionLog, LogWriter, WorkflowStore
from flowtape.engine.views import event_view, execution_view, workflow_view

log = logging.getLogger("flowtape.engine")

Clock = Callable[[], datetime]
FINISHED_CACHE = 512


def _uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except (ValueError, TypeError):
        raise NotFound(f"{what} {value!r} does not exist") from None


class Engine:
    def __init__(
        self,
        *,
        workflows: WorkflowStore,
        executions: ExecutionLog,
        workflow_writer: LogWriter,
        execution_writer: LogWriter,
        projections: Projections,
        catalog: NodeCatalog,
        bus: Bus,
        clock: Clock,
        metrics: EngineMetrics | None = None,
    ) -> None:
        self._workflows = workflows
        self._executions = executions
        self._workflow_writer = workflow_writer
        self._execution_writer = execution_writer
        self._projections = projections
        self._catalog = catalog
        self._bus = bus
        self._clock = clock
        self._metrics = metrics or EngineMetrics()
        self._pure: dict[str, NodeType[Any]] = {cls.type: cls() for cls in BUILTIN_NODES if cls.pure}
        self._graphs: dict[tuple[str, int], WorkflowGraph] = {}
        self._workflow_locks: dict[str, asyncio.Lock] = {}
        self._live: dict[str, Execution] = {}
        self._finished: OrderedDict[str, Execution] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- workflows ---------------------------------------------------------------------------------------

    async def _validated(self, definition: dict[str, Any]) -> tuple[WorkflowDefinition, WorkflowGraph]:
        try:
            parsed = WorkflowDefinition.model_validate(definition)
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in error["loc"]), "message": error["msg"]} for error in exc.errors()
            ]
            first = details[0]
            raise InvalidWorkflow(f"invalid workflow: {first['field']}: {first['message']}", details) from None
        graph = WorkflowGraph.build(parsed)
        validate_definition(graph, await self._catalog.wait(timeout=10))
        return parsed, graph

    async def _workflow(self, workflow_id: str) -> Workflow:
        try:
            workflow: Workflow = await asyncio.to_thread(self._workflows.repository.get, _uuid(workflow_id, "workflow"))
        except AggregateNotFoundError:
            raise NotFound(f"workflow {workflow_id} does not exist") from None
        if workflow.deleted:
            raise NotFound(f"workflow {workflow_id} was deleted")
        return workflow

    def _workflow_lock(self, workflow_id: str) -> asyncio.Lock:
        return self._workflow_locks.setdefault(workflow_id, asyncio.Lock())

    async def create_workflow(self, definition: dict[str, Any]) -> dict[str, Any]:
        parsed, _ = await self._validated(definition)
        workflow = Workflow(name=parsed.name, definition=parsed.dump())
        await self._workflow_writer.save(workflow)
        return workflow_view(workflow)

    async def update_workflow(self, workflow_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        parsed, _ = await self._validated(definition)
        async with self._workflow_lock(workflow_id):
            workflow = await self._workflow(workflow_id)
            workflow.save_version(name=parsed.name, definition=parsed.dump())
            await self._workflow_writer.save(workflow)
        return workflow_view(workflow)

    async def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        async with self._workflow_lock(workflow_id):
            workflow = await self._workflow(workflow_id)
            workflow.delete()
            await self._workflow_writer.save(workflow)
        return {"id": workflow_id, "deleted": True}

    async def set_active(self, workflow_id: str, active: bool) -> dict[str, Any]:
        async with self._workflow_lock(workflow_id):
            workflow = await self._workflow(workflow_id)
            if active and not workflow.active:
                workflow.activate(version=workflow.latest_version)
            elif not active and workflow.active:
                workflow.deactivate()
            await self._workflow_writer.save(workflow)
        return workflow_view(workflow)

    async def get_workflow(self, workflow_id: str, version: int | None) -> dict[str, Any]:
        workflow = await self._workflow(workflow_id)
        if version is not None and not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {workflow_id} has no version {version} (latest is {workflow.latest_version})")
        return workflow_view(workflow, version)

    async def list_versions(self, workflow_id: str) -> dict[str, Any]:
        workflow = await self._workflow(workflow_id)
        return {
            "items": [
                {
                    "version": number,
                    "name": definition.get("name"),
                    "saved_at": workflow.saved_at[number - 1].isoformat(),
                }
                for number, definition in enumerate(workflow.versions, start=1)
            ]
        }

    async def list_workflows(self, limit: int, cursor: str | None) -> dict[str, Any]:
        ids, next_cursor = await self._projections.list_workflows(limit=limit, cursor=cursor)
        items = []
        for workflow_id in ids:
            try:
                workflow = await self._workflow(workflow_id)
            except NotFound:
                continue
            view = workflow_view(workflow)
            items.append({k: view[k] for k in ("id", "name", "version", "active", "created_at", "updated_at")})
        return {"items": items, "next_cursor": next_cursor}

    async def _graph(self, workflow_id: str, version: int, workflow: Workflow | None = None) -> WorkflowGraph:
        key = (workflow_id, version)
        graph = self._graphs.get(key)
        if graph is None:
            workflow = workflow or await self._workflow(workflow_id)
            graph = WorkflowGraph.from_dict(workflow.definition(version))
            self._graphs[key] = graph
        return graph

    # -- executions: decisions ---------------------------------------------------------------------------

    def _lock(self, execution_id: str) -> asyncio.Lock:
        return self._locks.setdefault(execution_id, asyncio.Lock())

    async def start_execution(self, command: msg.StartExecution) -> dict[str, Any]:
        workflow = await self._workflow(command.workflow_id)
        version = command.version or workflow.latest_version
        if not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {command.workflow_id} has no version {version}")
        graph = await self._graph(command.workflow_id, version, workflow)
        execution = Execution(
            workflow_id=command.workflow_id,
            workflow_version=version,
            trigger=command.input or [{}],
            trigger_meta=command.trigger,
            node_ids=list(graph.nodes),
        )
        execution_id = str(execution.id)
        logs.execution_id.set(execution_id)
        self._metrics.executions_started.inc()
        async with self._lock(execution_id):
            self._live[execution_id] = execution
            tasks = await self._advance(execution, graph)
            await self._commit(execution, tasks)
        return {
            "execution_id": execution_id,
            "status": execution.status,
            "execution": execution_view(execution) if execution.finished else None,
        }

    async def complete_node_task(self, outcome: NodeTaskCompleted) -> None:
        logs.execution_id.set(outcome.execution_id)
        async with self._lock(outcome.execution_id):
            execution = await self._load(outcome.execution_id)
            run = execution.nodes.get(outcome.node_id)
            if execution.finished or run is None or run.attempts != outcome.attempt:
                log.info("ignored a late or duplicate outcome of node %s", outcome.node_id)
                return
            if run.status not in ("scheduled", "running"):
                return
            graph = await self._graph(execution.workflow_id, execution.workflow_version)
            execution.start_node(outcome.node_id, outcome.attempt, outcome.started_at)
            if outcome.outcome == "succeeded":
                execution.succeed_node(outcome.node_id, outcome.attempt, outcome.ports)
            else:
                error = outcome.error or "failed"
                self._fail(execution, outcome.node_id, outcome.attempt, error, outcome.error_code or "")
            tasks = await self._advance(execution, graph)
            await self._commit(execution, tasks)

    async def wake(self, execution_id: str, node_id: str) -> None:
        """A wait node's time has come: it succeeds with its input and the run goes on."""
        self._timers.pop(execution_id, None)
        logs.execution_id.set(execution_id)
        async with self._lock(execution_id):
            execution = await self._load(execution_id)
            run = execution.nodes.get(node_id)
            if execution.finished or run is None or run.status != "waiting":
                return
            graph = await self._graph(execution.workflow_id, execution.workflow_version)
            execution.succeed_node(node_id, run.attempts, {"main": run.input or []})
            execution.resume(node_id)
            tasks = await self._advance(execution, graph)
            await self._commit(execution, tasks)

    async def _advance(self, execution: Execution, graph: WorkflowGraph) -> list[RunNodeTask]:
        """Apply the scheduling core until nothing more can happen without the outside world."""
        tasks: list[RunNodeTask] = []
        while not execution.finished:
            decision = decide(graph, execution.nodes, execution.trigger)
            if decision.empty:
                break
            if decision.skip:
                execution.skip_nodes(decision.skip)
            for node_id, items in decision.ready:
                spec = graph.nodes[node_id]
                execution.schedule_node(node_id, 1, items)
                pure = self._pure.get(spec.type)
                if spec.type == "wait":
                    await self._pause(execution, graph, node_id, items)
                elif pure is not None:
                    await self._evaluate(execution, graph, node_id, pure, items)
                else:
                    tasks.append(self._task(execution, graph, node_id, items))
                if execution.finished:
                    break
        if not execution.finished and all_settled(execution.nodes):
            execution.succeed(final_output(graph, execution.nodes, execution.finish_order))
        return tasks

    def _context(self, execution: Execution, node_id: str, attempt: int) -> NodeContext:
        return NodeContext(
            execution_id=str(execution.id),
            workflow_id=execution.workflow_id,
            workflow_version=execution.workflow_version,
            node_id=node_id,
            attempt=attempt,
            trigger=execution.trigger,
            node_outputs={n: run.output for n, run in execution.nodes.items() if run.status == "succeeded"},
            request=execution.trigger_meta.get("request"),
        )

    async def _evaluate(
        self, execution: Execution, graph: WorkflowGraph, node_id: str, node: NodeType[Any], items: Items
    ) -> None:
        spec = graph.nodes[node_id]
        try:
            result = await execute_node(node, spec.params, self._context(execution, node_id, 1), items)
        except NodeError as exc:
            self._fail(execution, node_id, 1, exc.message, exc.code)
            return
        execution.succeed_node(node_id, 1, result.ports)

    def _fail(self, execution: Execution, node_id: str, attempt: int, error: str, code: str) -> None:
        execution.fail_node(node_id, attempt, error, code)
        execution.fail(f"node {node_id} failed: {error}", node_id)

    async def _pause(self, execution: Execution, graph: WorkflowGraph, node_id: str, items: Items) -> None:
        spec = graph.nodes[node_id]
        wait_type = type(self._pure["wait"]) if "wait" in self._pure else None
        try:
            assert wait_type is not None
            params: Any = resolve_params(wait_type, spec.params, self._context(execution, node_id, 1), items)
        except NodeError as exc:
            self._fail(execution, node_id, 1, exc.message, exc.code)
            return
        now = self._clock()
        if getattr(params, "until", None) is not None:
            resume_at = params.until
        else:
            resume_at = now + timedelta(seconds=float(params.seconds or 0))
        execution.pause(node_id, resume_at)

    def _task(self, execution: Execution, graph: WorkflowGraph, node_id: str, items: Items) -> RunNodeTask:
        spec = graph.nodes[node_id]
        referenced = json.dumps(spec.params)
        outputs = {
            other: run.output
            for other, run in execution.nodes.items()
            if run.status == "succeeded" and (f'"{other}' in referenced or f"'{other}" in referenced)
        }
        return RunNodeTask(
            execution_id=str(execution.id),
            workflow_id=execution.workflow_id,
            workflow_version=execution.workflow_version,
            node_id=node_id,
            node_type=spec.type,
            params=spec.params,
            items=items,
            attempt=execution.nodes[node_id].attempts,
            trigger=execution.trigger,
            node_outputs=outputs,
            timeout_seconds=spec.timeout_seconds,
        )

    async def _commit(self, execution: Execution, tasks: list[RunNodeTask]) -> None:
        """Save the decision, then tell the world; a crash in between is repaired by :meth:`recover`."""
        await self._execution_writer.save(execution)
        for task in tasks:
            await self._bus.publish(task)
        execution_id = str(execution.id)
        waiting = execution.waiting_nodes()
        if waiting and execution.status == "waiting":
            self._arm(execution_id, waiting[0], execution.nodes[waiting[0]].resume_at)
        if execution.finished:
            self._metrics.executions_finished.labels(execution.status).inc()
            self._retire(execution_id, execution)
            await self._bus.publish(
                msg.ExecutionFinished(
                    workflow_id=execution.workflow_id,
                    execution_id=execution_id,
                    workflow_version=execution.workflow_version,
                    status=execution.status,  # type: ignore[arg-type]
                    error=execution.error,
                )
            )

    def _arm(self, execution_id: str, node_id: str, resume_at: datetime | None) -> None:
        if execution_id in self._timers or resume_at is None:
            return
        delay = max(0.0, (resume_at - self._clock()).total_seconds())
        loop = asyncio.get_running_loop()
        self._timers[execution_id] = loop.call_later(delay, self._spawn, self.wake(execution_id, node_id))

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _retire(self, execution_id: str, execution: Execution) -> None:
        self._live.pop(execution_id, None)
        self._locks.pop(execution_id, None)
        self._finished[execution_id] = execution
        while len(self._finished) > FINISHED_CACHE:
            self._finished.popitem(last=False)

    async def _load(self, execution_id: str) -> Execution:
        cached = self._live.get(execution_id) or self._finished.get(execution_id)
        if cached is not None:
            return cached
        try:
            execution: Execution = await asyncio.to_thread(
                self._executions.repository.get, _uuid(execution_id, "execution")
            )
        except AggregateNotFoundError:
            raise NotFound(f"execution {execution_id} does not exist") from None
        if not execution.finished:
            self._live[execution_id] = execution
        return execution

    async def recover(self) -> int:
        """Continue unfinished executions from their logs: re-arm waits, re-dispatch in-flight node tasks."""
        recovered = 0
        for execution_id in await self._projections.unfinished_executions():
            async with self._lock(execution_id):
                execution = await self._load(execution_id)
                if execution.finished:
                    continue
                graph = await self._graph(execution.workflow_id, execution.workflow_version)
                tasks = [
                    self._task(execution, graph, node_id, execution.nodes[node_id].input or [])
                    for node_id in execution.in_flight()
                ]
                tasks += await self._advance(execution, graph)
                await self._commit(execution, tasks)
                recovered += 1
        return recovered

    def stop_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # -- executions: queries -----------------------------------------------------------------------------

    async def get_execution(self, execution_id: str, at: int | None) -> dict[str, Any]:
        if at is not None:
            if at < 1:
                raise NotFound("event numbers start at 1")
            try:
                past: Execution = await asyncio.to_thread(
                    self._executions.repository.get, _uuid(execution_id, "execution"), version=at
                )
            except AggregateNotFoundError:
                raise NotFound(f"execution {execution_id} does not exist") from None
            return execution_view(past)
        deciding = self._locks.get(execution_id)
        if deciding is not None and deciding.locked():
            # a decision is being saved: answer with what the log holds, not with what it may never hold
            async with deciding:
                pass
        execution = await self._load(execution_id)
        return execution_view(execution, children=await self._projections.children_of(execution_id))

    async def get_events(self, execution_id: str, after: int) -> dict[str, Any]:
        events = await asyncio.to_thread(
            lambda: list(self._executions.events.get(_uuid(execution_id, "execution"), gt=after or None))
        )
        if not events and after == 0:
            raise NotFound(f"execution {execution_id} does not exist")
        return {"items": [event_view(event) for event in events]}

    async def list_executions(self, query: msg.ListExecutions) -> dict[str, Any]:
        return await self._projections.list_executions(
            workflow_id=query.workflow_id, status=query.status, limit=query.limit, cursor=query.cursor
        )
