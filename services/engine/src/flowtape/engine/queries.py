"""Questions about executions: one run now or after event k (time travel), its log, lists, the replay check.

Any replica answers them. A run this replica decides is answered from memory once no decision on it is in
flight, so a caller sees its own writes; any other run is read from the log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flowtape.common import views
from flowtape.common.errors import NotFound, Pruned
from flowtape.common.messages import engine as msg
from flowtape.common.nodes.sdk import NodeType
from flowtape.engine.decisions import Decisions
from flowtape.engine.projections import Projections
from flowtape.engine.replay_check import differences, redrive
from flowtape.engine.store import ExecutionLog, LogWriter
from flowtape.engine.views import event_view, execution_view, project_in
from flowtape.engine.workflows import Workflows, parse_id


class ExecutionQueries:
    def __init__(
        self,
        *,
        store: ExecutionLog,
        writer: LogWriter,
        decisions: Decisions,
        workflows: Workflows,
        projections: Projections,
        inline: dict[str, NodeType[Any]],
    ) -> None:
        self._store = store
        self._writer = writer
        self._decisions = decisions
        self._workflows = workflows
        self._projections = projections
        #: what the replay check evaluates again: pure and deterministic (the rest comes from the recording)
        self._replayable = {name: node for name, node in inline.items() if type(node).deterministic}

    async def get(self, execution_id: str, at: int | None) -> views.Execution:
        try:
            return await self._get(execution_id, at)
        except NotFound:
            summary = await self._projections.pruned_summary(execution_id)
            if summary is None:
                raise
            if at is not None:
                raise Pruned(_pruned_message(execution_id, summary), {"pruned_at": summary["pruned_at"]}) from None
            return views.Execution(**summary, nodes={}, output=[], events=0)

    async def _get(self, execution_id: str, at: int | None) -> views.Execution:
        if at is not None:
            past = await self._decisions.read(execution_id, version=at)
            if past.version < at:
                raise NotFound(f"execution {execution_id} has {past.version} events; there is no event {at}")
            return execution_view(past)
        await self._writer.projected()
        children = await self._projections.children_of(execution_id)
        deciding = self._decisions.deciding(execution_id)
        if deciding is not None:
            # a decision is being saved: answer with what the log holds, not with what it may never hold
            async with deciding:
                pass
        # no await between here and the view for a run held in memory: no decision can interleave
        execution = self._decisions.cached(execution_id) or await self._decisions.read(execution_id)
        return execution_view(execution, children=children, tokens=self._decisions.resume_tokens)

    async def events(self, execution_id: str, after: int) -> views.ExecutionEvents:
        events = await asyncio.to_thread(
            lambda: list(self._store.events.get(parse_id(execution_id, "execution"), gt=after or None))
        )
        if not events and after == 0:
            summary = await self._projections.pruned_summary(execution_id)
            if summary is not None:
                raise Pruned(_pruned_message(execution_id, summary), {"pruned_at": summary["pruned_at"]})
            raise NotFound(f"execution {execution_id} does not exist")
        return views.ExecutionEvents(items=[event_view(event) for event in events])

    def _recorded_events(self, execution_id: str) -> list[Any]:
        return list(self._store.events.get(parse_id(execution_id, "execution")))

    async def project_of(self, execution_id: str) -> str:
        """A run's project from the read model (one row; a pruned run's summary row stays), else from its first
        event in the log: a run another replica started a moment ago may not be in the read model yet (this
        replica's ``projected`` covers only its own saves)."""
        run_id = parse_id(execution_id, "execution")
        await self._writer.projected()
        found = await self._projections.project_of_execution(execution_id)
        if found is not None:
            return found
        first = await asyncio.to_thread(lambda: list(self._store.events.get(run_id, lte=1)))
        if not first:
            raise NotFound(f"execution {execution_id!r} does not exist")
        return project_in(getattr(first[0], "trigger_meta", None))

    async def summaries(self, query: msg.ListExecutions) -> dict[str, Any]:
        await self._writer.projected()
        return await self._projections.list_executions(
            workflow_id=query.workflow_id,
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
            project_ids=query.project_ids,
        )

    async def replay_check(self, query: msg.ReplayCheck) -> dict[str, Any]:
        workflow = await self._workflows.load(query.workflow_id)
        if not 1 <= query.version <= workflow.latest_version:
            raise NotFound(f"workflow {query.workflow_id} has no version {query.version}")
        graph = await self._workflows.graph(query.workflow_id, query.version, workflow)
        await self._writer.projected()
        ids = await self._projections.finished_executions(query.workflow_id, query.since, query.limit)
        differing = []
        for execution_id in ids:
            recorded = await self._decisions.read(execution_id)
            log = await asyncio.to_thread(self._recorded_events, execution_id)
            found = differences(recorded, redrive(graph, recorded, log, self._replayable))
            if found:
                differing.append(
                    {"execution_id": execution_id, "recorded_version": recorded.workflow_version, "differences": found}
                )
        return {
            "workflow_id": query.workflow_id,
            "version": query.version,
            "checked": len(ids),
            "differing": len(differing),
            "executions": differing,
        }


def _pruned_message(execution_id: str, summary: dict[str, Any]) -> str:
    return (
        f"execution {execution_id} was pruned by the retention policy at {summary['pruned_at']}: "
        "its events are gone, only its summary remains"
    )
