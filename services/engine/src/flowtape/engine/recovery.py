"""Picking up runs that no process is moving: after a crash, on taking over a partition, and tasks gone silent.

What memory loses is rebuilt from the logs: each unfinished run is resumed by :meth:`Decisions.resume`, and
finish notices not yet published (pending rows written with the summary) are sent again. Consumers are
idempotent, so anything sent twice is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from flowtape.common.messages.base import Message
from flowtape.engine.decisions import Clock, Decisions
from flowtape.engine.integration import finish_notices
from flowtape.engine.outbox import Outbox
from flowtape.engine.projections import Projections
from flowtape.engine.workflows import Workflows

log = logging.getLogger("flowtape.engine")

#: a dispatched task with no outcome this long after its timeout is dispatched again (same attempt and key)
LEASE_GRACE_SECONDS = 60.0
DEFAULT_TASK_TIMEOUT = 300.0

Owned = Callable[[str], bool]


def _everything(_: str) -> bool:
    return True


class Recovery:
    def __init__(
        self, *, decisions: Decisions, workflows: Workflows, projections: Projections, outbox: Outbox, clock: Clock
    ) -> None:
        self._decisions = decisions
        self._workflows = workflows
        self._projections = projections
        self._outbox = outbox
        self._clock = clock

    async def recover(self, owned: Owned = _everything) -> int:
        """Resume every unfinished run ``owned`` selects, then send the finish notices still pending for them."""
        recovered = 0
        for execution_id in await self._projections.unfinished_executions():
            if owned(execution_id) and await self._decisions.resume(execution_id):
                recovered += 1
        notices: list[Message] = []
        for execution_id in await self._projections.pending_notices():
            if owned(execution_id):
                notices.extend(finish_notices(await self._decisions.load(execution_id)))
        self._outbox.put(notices)
        return recovered

    async def sweep(self, execution_ids: Iterable[str] | None = None) -> int:
        """Dispatch again tasks whose outcome is overdue (a lost message, a worker gone for good)."""
        now = self._clock()
        redispatched = 0
        live = self._decisions.live()
        for execution_id in execution_ids if execution_ids is not None else list(live):
            execution = live.get(execution_id)
            if execution is None:
                continue
            graph = await self._workflows.graph(execution.workflow_id, execution.workflow_version)
            overdue: list[str] = []
            for node_id in execution.in_flight():
                run = execution.nodes[node_id]
                timeout = graph.nodes[node_id].timeout_seconds or DEFAULT_TASK_TIMEOUT
                if run.scheduled_at and now - run.scheduled_at > timedelta(seconds=timeout + LEASE_GRACE_SECONDS):
                    overdue.append(node_id)
            if overdue:
                log.warning("re-dispatching %d overdue task(s) of execution %s", len(overdue), execution_id)
                self._decisions.redispatch(execution, graph, overdue)
                redispatched += len(overdue)
        return redispatched
