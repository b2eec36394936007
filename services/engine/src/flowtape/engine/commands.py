"""Commands on executions: start, fork (retry and replay), cancel, and the connectors' task outcomes.

Each turns a message into one thing that happened and leaves the deciding to :class:`Decisions`; what is
checked here is only what needs more than the execution's own log (the workflow, idempotency keys, limits).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

from flowtape.common.errors import Conflict, InvalidInput, NotFound
from flowtape.common.limits import DEFAULT_LIMITS, Limits, check_items
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import NodeTaskCompleted
from flowtape.engine.decisions import Clock, Decisions
from flowtape.engine.domain.decider import CancelRequested, TaskCompleted
from flowtape.engine.domain.execution import Execution, Items
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.projections import Projections
from flowtape.engine.views import execution_view
from flowtape.engine.workflows import Workflows


def started_reply(execution: Execution) -> dict[str, Any]:
    return {
        "execution_id": str(execution.id),
        "status": execution.status,
        "execution": execution_view(execution) if execution.finished else None,
    }


class ExecutionCommands:
    def __init__(
        self,
        *,
        decisions: Decisions,
        workflows: Workflows,
        projections: Projections,
        clock: Clock,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._decisions = decisions
        self._workflows = workflows
        self._projections = projections
        self._clock = clock
        self._limits = limits
        self._key_locks: dict[str, asyncio.Lock] = {}

    # -- starting ----------------------------------------------------------------------------------------

    async def start(self, command: msg.StartExecution) -> dict[str, Any]:
        check_items(command.input, self._limits, what="the run's input")
        if command.execution_id is not None:
            chosen = str(command.execution_id)
            async with self._key_locks.setdefault(chosen, asyncio.Lock()):
                try:
                    return started_reply(await self._decisions.load(chosen))
                except NotFound:
                    return await self._start_keyed(command)
                finally:
                    self._key_locks.pop(chosen, None)
        return await self._start_keyed(command)

    async def _start_keyed(self, command: msg.StartExecution) -> dict[str, Any]:
        if not command.idempotency_key:
            return await self._start(command)
        async with self._key_locks.setdefault(command.idempotency_key, asyncio.Lock()):
            try:
                known = await self._projections.execution_for_key(command.idempotency_key)
                if known is not None:
                    try:
                        return started_reply(await self._decisions.load(known))
                    except NotFound:
                        pass  # the engine stopped between remembering the key and saving the run
                return await self._start(command)
            finally:
                self._key_locks.pop(command.idempotency_key, None)

    async def _start(self, command: msg.StartExecution) -> dict[str, Any]:
        workflow = await self._workflows.load(command.workflow_id)
        version = command.version or workflow.latest_version
        if not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {command.workflow_id} has no version {version}")
        graph = await self._workflows.graph(command.workflow_id, version, workflow)
        execution = self._new(
            graph, command.workflow_id, version, command.input or [{}], command.trigger, command.execution_id
        )
        if command.idempotency_key:
            await self._projections.remember_key(command.idempotency_key, str(execution.id))
        return started_reply(await self._decisions.begin(execution, graph))

    def _new(
        self,
        graph: WorkflowGraph,
        workflow_id: str,
        version: int,
        trigger: Items,
        meta: dict[str, Any],
        execution_id: UUID | None = None,
    ) -> Execution:
        timeout = graph.definition.settings.get("timeout_seconds")
        deadline = self._clock() + timedelta(seconds=float(timeout)) if timeout else None
        return Execution.begin(
            execution_id,
            workflow_id=workflow_id,
            workflow_version=version,
            trigger=trigger,
            trigger_meta=meta,
            node_ids=list(graph.nodes),
            deadline=deadline,
        )

    # -- forks: retry and replay -------------------------------------------------------------------------

    async def retry(self, execution_id: str, fork_id: UUID | None = None) -> dict[str, Any]:
        parent = await self._decisions.read(execution_id)
        failed = parent.first_failed()
        if failed is None:
            raise Conflict(f"execution {execution_id} has no failed node to retry from ({parent.status})")
        return await self.replay(execution_id, failed, "original", None, fork_id)

    async def replay(
        self,
        execution_id: str,
        from_node: str,
        version_choice: str | int,
        input_override: Items | None,
        fork_id: UUID | None = None,
    ) -> dict[str, Any]:
        """A new execution, forked from ``execution_id`` at ``from_node`` (the parent is only read)."""
        parent = await self._decisions.read(execution_id)
        if not parent.finished:
            raise Conflict(f"execution {execution_id} is still {parent.status}; cancel it or wait for it to finish")
        workflow = await self._workflows.load(parent.workflow_id)
        if version_choice == "original":
            version = parent.workflow_version
        elif version_choice == "latest":
            version = workflow.latest_version
        else:
            version = int(version_choice)
        if not 1 <= version <= workflow.latest_version:
            raise NotFound(f"workflow {parent.workflow_id} has no version {version}")
        graph = await self._workflows.graph(parent.workflow_id, version, workflow)
        if from_node not in graph.nodes:
            raise InvalidInput(f"node {from_node!r} does not exist in version {version} of the workflow")
        if input_override is not None:
            check_items(input_override, self._limits, what=f"the input given for node {from_node}")
        execution = self._new(graph, parent.workflow_id, version, parent.trigger, parent.trigger_meta, fork_id)
        execution.fork_from(parent_id=execution_id, node_id=from_node, input_override=input_override)
        rerun = graph.reachable_from(from_node)
        for node_id in graph.order:
            before = parent.nodes.get(node_id)
            if node_id in rerun or before is None or before.status not in ("succeeded", "skipped"):
                continue
            execution.copy_node(node_id, before.status, before.input, before.ports)
        return started_reply(await self._decisions.begin(execution, graph))

    # -- what happens to a running execution -------------------------------------------------------------

    async def cancel(self, execution_id: str, reason: str) -> dict[str, Any]:
        execution = await self._decisions.apply(execution_id, CancelRequested(reason))
        return {"execution_id": execution_id, "status": execution.status}

    async def complete_node_task(self, outcome: NodeTaskCompleted) -> None:
        await self._decisions.apply(
            outcome.execution_id,
            TaskCompleted(
                node_id=outcome.node_id,
                attempt=outcome.attempt,
                started_at=outcome.started_at,
                succeeded=outcome.outcome == "succeeded",
                ports=outcome.ports,
                error=outcome.error,
                error_code=outcome.error_code,
                retry_after=outcome.retry_after_seconds,
            ),
        )
