"""Rebuilding every read model from the logs, in the background, with progress an operator can watch."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application

from flowtape.common.errors import Conflict
from flowtape.engine.projections import Projections

log = logging.getLogger("flowtape.engine")


class Rebuilds:
    def __init__(self, projections: Projections, stores: list[Application[Any]]) -> None:
        self._projections = projections
        self._stores = stores
        self._status: dict[str, Any] = {"state": "idle"}
        self._task: asyncio.Task[None] | None = None

    async def status(self) -> dict[str, Any]:
        """The last rebuild's progress, and the events the read models could not take."""
        return {**self._status, "failures": await self._projections.failures()}

    def start(self) -> dict[str, Any]:
        if self._status["state"] == "running":
            raise Conflict("a rebuild is already running; watch its progress instead")
        self._status = {
            "state": "running",
            "started_at": datetime.now(UTC).isoformat(),
            "stores": {store.name: {"position": 0, "total": None, "applied": 0} for store in self._stores},
        }
        self._task = asyncio.create_task(self._run())
        return dict(self._status)

    async def _run(self) -> None:
        try:
            for store in self._stores:
                entry = self._status["stores"][store.name]

                def progress(position: int, total: int, entry: dict[str, Any] = entry) -> None:
                    entry.update(position=position, total=total)

                entry["applied"] = await self._projections.rebuild(store, progress)
                entry["total"] = entry["total"] or entry["position"]
            self._status.update(state="done", finished_at=datetime.now(UTC).isoformat())
        except Exception as exc:
            log.exception("rebuilding projections failed")
            # the log has the detail (it may quote SQL): the status says what kind of failure and where to look
            self._status.update(state="failed", error=f"{type(exc).__name__}; the engine's log has the details")
