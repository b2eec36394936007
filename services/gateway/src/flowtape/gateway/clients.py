"""The gateway's side of the bus: each call is one request to the service that owns the data."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from flowtape.common import views
from flowtape.common.bus import Bus
from flowtape.common.errors import FlowtapeError, TimedOut, Unavailable
from flowtape.common.messages import engine as msg
from flowtape.common.messages.base import Message
from flowtape.common.messages.connectors import GetNodeCatalog
from flowtape.gateway.finished import FinishedExecutions

M = TypeVar("M", bound=BaseModel)

_CHANGES_REGISTRATIONS = (msg.SetWorkflowActive, msg.UpdateWorkflow, msg.DeleteWorkflow, msg.ImportWorkflow)


class Platform:
    """What the HTTP routes may ask of the rest of Flowtape."""

    def __init__(self, bus: Bus, finished: FinishedExecutions, timeout: float) -> None:
        self._bus = bus
        self._finished = finished
        self._timeout = timeout
        #: called after a request that may change trigger registrations (the webhook route cache listens)
        self.on_registrations_changed: list[Callable[[], None]] = []

    @overload
    async def ask(self, message: Message, timeout: float | None = None) -> Any: ...

    @overload
    async def ask(self, message: Message, timeout: float | None = None, *, into: type[M]) -> M: ...

    async def ask(self, message: Message, timeout: float | None = None, *, into: type[BaseModel] | None = None) -> Any:
        try:
            if into is None:
                return await self._bus.ask(message, timeout=timeout or self._timeout)
            return await self._bus.ask(message, timeout=timeout or self._timeout, into=into)
        finally:
            if isinstance(message, _CHANGES_REGISTRATIONS):
                for listener in self.on_registrations_changed:
                    listener()

    async def run_workflow(
        self,
        workflow_id: str,
        items: list[dict[str, Any]],
        *,
        wait: bool,
        timeout: float,
        version: int | None = None,
        trigger: dict[str, Any] | None = None,
        test: bool = False,
        debug: msg.DebugOptions | None = None,
    ) -> views.ExecutionStarted:
        """Start a run; with ``wait`` return the finished execution or raise TimedOut naming it.

        The gateway chooses the execution's id, so even a start the engine has not confirmed in time can be
        named in the 504 (the run may still start: the id is then its id).
        """
        execution_id = uuid.uuid4()
        command = msg.StartExecution(
            workflow_id=workflow_id,
            input=items,
            version=version,
            trigger=trigger or {},
            execution_id=execution_id,
            test=test,
            debug=debug,
        )
        with self._finished.expect(str(execution_id)) as finished:
            try:
                started = await self.ask(command, into=views.ExecutionStarted)
            except TimedOut:
                raise TimedOut(
                    f"the engine did not confirm the start of execution {execution_id} within {self._timeout:g} s; "
                    f"it may still run: GET /api/v1/executions/{execution_id} shows whether it did",
                    details={"execution_id": str(execution_id)},
                ) from None
            except Unavailable as exc:
                raise not_started(exc, str(execution_id)) from None
            if not wait or started.execution is not None:
                return started
            try:
                notice = await asyncio.wait_for(finished, timeout)
            except TimeoutError:
                why = (
                    " (it was queued: the workflow's runs are paused or at their settings.max_concurrent_runs)"
                    if started.status == "queued"
                    else ""
                )
                raise TimedOut(
                    f"execution {execution_id} did not finish within {timeout:g} s{why}; it goes on: "
                    f"GET /api/v1/executions/{execution_id} shows its progress",
                    details={"execution_id": str(execution_id), "status": started.status},
                ) from None
        execution = notice.execution or await self.ask(
            msg.GetExecution(execution_id=str(execution_id)), into=views.Execution
        )
        return views.ExecutionStarted(execution_id=str(execution_id), status=execution.status, execution=execution)

    async def node_catalog(self) -> Any:
        return await self.ask(GetNodeCatalog())


def not_started(exc: FlowtapeError, execution_id: str) -> Unavailable:
    """A refused start, naming the run it would have been (its id is the caller's to look up: never started)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    return Unavailable(
        f"{exc.message}; execution {execution_id} was not started", {**details, "execution_id": execution_id}
    )
