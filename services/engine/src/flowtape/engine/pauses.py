"""The kill switch and the places of runs: pause and resume runs (all, or one workflow's), free a finished run's
place, and repair admissions after a crash.

A pause is a row in ``run_pauses`` (see :mod:`flowtape.engine.admission`): new starts of the paused workflows
queue, and every replica, told by a :class:`RunPausesChanged` broadcast (and re-reading the rows every few
seconds in case one was lost), holds the runs it decides at their next decision. A resume deletes the row,
admits the queued starts (within their workflows' limits) and releases the held runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.errors import NotFound
from flowtape.common.messages import engine as msg
from flowtape.engine.admission import ALL, Admissions
from flowtape.engine.decisions import Decisions
from flowtape.engine.domain.decider import Continue
from flowtape.engine.domain.execution import Execution
from flowtape.engine.workflows import Workflows

log = logging.getLogger("flowtape.engine")

#: how often a replica re-reads the pauses and (on partition 0's owner) reconciles admissions
REFRESH_SECONDS = 3.0


class RunPauses:
    def __init__(self, *, admissions: Admissions, decisions: Decisions, workflows: Workflows, bus: Bus) -> None:
        self._admissions = admissions
        self._decisions = decisions
        self._workflows = workflows
        self._bus = bus
        self._leaving: set[asyncio.Task[None]] = set()
        decisions.on_finished.append(self._finished)

    async def set(self, workflow_id: str | None, paused: bool) -> dict[str, Any]:
        """Pause (or resume) the runs of one workflow, or of all with ``workflow_id`` None."""
        if workflow_id is not None:
            await self._workflows.load(workflow_id)  # NotFound for a workflow that does not exist
        await self._admissions.set_paused(workflow_id or ALL, paused)
        await self.changed()  # this replica's starts see it at once; the others on the broadcast
        await self._bus.publish(msg.RunPausesChanged())
        if not paused:
            await self._admit(await self._admissions.admit_queued(workflow_id))
        return await self.state()

    async def state(self) -> dict[str, Any]:
        scopes = await self._admissions.paused()
        return {"all": ALL in scopes, "workflows": sorted(scope for scope in scopes if scope != ALL)}

    async def changed(self) -> None:
        """Another replica (or this one) paused or resumed: hold or release what this replica decides."""
        before = self._decisions.paused
        self._decisions.paused = await self._admissions.paused()
        if self._decisions.paused == before:
            return
        for execution_id, execution in self._decisions.live().items():
            if execution.held and not self._is_paused(execution):
                try:
                    await self._decisions.apply(execution_id, Continue())
                except NotFound:
                    continue

    def _is_paused(self, execution: Execution) -> bool:
        return ALL in self._decisions.paused or execution.workflow_id in self._decisions.paused

    async def refresh(self, reconcile: bool) -> None:
        await self.changed()
        if reconcile:
            await self._admit(await self._admissions.reconcile())

    def _finished(self, execution: Execution) -> None:
        if not execution.trigger_meta.get("gated"):
            return
        task = asyncio.create_task(self._leave(execution.workflow_id, str(execution.id)))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _leave(self, workflow_id: str, execution_id: str) -> None:
        try:
            await self._admit(await self._admissions.leave(workflow_id, execution_id))
        except Exception:
            log.exception("freeing the place of run %s failed; reconciling frees it shortly", execution_id)

    async def _admit(self, execution_ids: list[str]) -> None:
        for execution_id in execution_ids:
            await self._bus.publish(msg.AdmitExecution(execution_id=execution_id))

    async def stop(self) -> None:
        await asyncio.gather(*self._leaving, return_exceptions=True)
