"""Retention: which finished runs to drop from the log, by global and per-workflow policy, and dropping them.

A policy keeps a run while it is younger than ``days`` and among its workflow's newest ``runs``; a failed run
is kept by ``failed_days`` alone when that is set (failures are what operators come back to), and then takes
no place among the ``runs`` newest. A workflow's
``settings.retention`` overrides the global policy key by key (``null`` switches a key off for it); with no key
set anywhere nothing is removed.

With an archive (:mod:`flowtape.engine.archive`) each run's whole log is written there first, and only the
runs written are pruned. Pruning leaves each run's summary row (status, times, workflow, version, error)
marked pruned, so listings still show it; its events, snapshots and unshared blobs go. Only finished runs are
candidates: nothing decides them any more, so no partition owner can race the delete. The summary is marked
before the log rows go, and marks whose log rows are not gone yet are finished on the next pass, so a crash in
between loses nothing but time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowtape.common.errors import NotFound
from flowtape.engine.archive import RunArchive, archive_lines
from flowtape.engine.decisions import Decisions
from flowtape.engine.projections import Projections
from flowtape.engine.pruning import prune_runs
from flowtape.engine.store import ExecutionLog
from flowtape.engine.views import event_view, execution_view
from flowtape.engine.workflows import Workflows

log = logging.getLogger("flowtape.engine")

_KEYS = ("days", "runs", "failed_days")


@dataclass(frozen=True)
class RetentionPolicy:
    days: int | None = None
    runs: int | None = None
    failed_days: int | None = None

    @property
    def empty(self) -> bool:
        return self.days is None and self.runs is None and self.failed_days is None

    def overridden_by(self, settings: dict[str, Any] | None) -> RetentionPolicy:
        """This policy with a workflow's ``settings.retention`` keys in place of its own."""
        if not settings:
            return self
        values = {key: settings.get(key, getattr(self, key)) for key in _KEYS}
        return RetentionPolicy(**values)

    def expired(self, status: str, finished_at: datetime, rank: int, now: datetime) -> bool:
        """Whether a run, the ``rank``-th newest of its workflow (0 = newest), is past this policy."""
        age = now - finished_at
        if status == "failed" and self.failed_days is not None:
            return age > timedelta(days=self.failed_days)
        if self.days is not None and age > timedelta(days=self.days):
            return True
        return self.runs is not None and rank >= self.runs


class Retention:
    def __init__(
        self,
        *,
        store: ExecutionLog,
        projections: Projections,
        workflows: Workflows,
        decisions: Decisions,
        policy: RetentionPolicy,
        clock: Callable[[], datetime],
        archive: RunArchive | None = None,
    ) -> None:
        self._archive = archive
        self._store = store
        self._projections = projections
        self._workflows = workflows
        self._decisions = decisions
        self._policy = policy
        self._clock = clock
        self._lock = asyncio.Lock()

    async def _policy_of(self, workflow_id: str) -> RetentionPolicy:
        try:
            workflow = await self._workflows.load(workflow_id)
        except NotFound:  # deleted: its runs follow the global policy
            return self._policy
        return self._policy.overridden_by(workflow.definition().get("settings", {}).get("retention"))

    async def expired(self) -> list[dict[str, Any]]:
        """The finished, not yet pruned runs past their policy, oldest first."""
        now = self._clock()
        found: list[dict[str, Any]] = []
        policies: dict[str, RetentionPolicy] = {}
        ranks: dict[str, int] = {}
        for row in await self._projections.retention_candidates():
            workflow_id = row["workflow_id"]
            if workflow_id not in policies:
                policies[workflow_id] = await self._policy_of(workflow_id)
            policy = policies[workflow_id]
            rank = ranks.get(workflow_id, 0)
            if not (row["status"] == "failed" and policy.failed_days is not None):
                ranks[workflow_id] = rank + 1  # failed runs judged by failed_days take no place among ``runs``
            if not policy.empty and policy.expired(row["status"], row["finished_at"], rank, now):
                found.append(row)
        found.sort(key=lambda row: row["finished_at"])
        return found

    async def run(self, *, dry_run: bool, limit: int | None = None) -> dict[str, Any]:
        """Prune (or, dry, list) the expired runs; ``limit`` bounds one pass (a caller showing progress loops)."""
        async with self._lock:
            expired = await self.expired()
            if limit is not None:
                remaining, expired = max(len(expired) - limit, 0), expired[:limit]
            else:
                remaining = 0
            ids = [row["id"] for row in expired]
            report: dict[str, Any] = {
                "dry_run": dry_run,
                "runs": len(ids),
                "remaining": remaining,
                "execution_ids": ids,
                "by_status": _by_status(expired),
                "events": 0,
                "blobs": 0,
            }
            if dry_run:
                return report
            if self._archive is not None:
                expired, report["archive_failed"] = await self._archived(expired)
                ids = report["execution_ids"] = [row["id"] for row in expired]
                report["runs"], report["by_status"] = len(ids), _by_status(expired)
            marks = []
            for row in expired:
                error = None
                if row["status"] == "failed":
                    try:
                        error = (await self._decisions.read(row["id"])).error
                    except NotFound:
                        pass
                marks.append({"id": row["id"], "error": error})
            await self._projections.mark_pruned(marks, self._clock())
            for execution_id in ids:
                self._decisions.forget(execution_id)
            removed = await self._purge()
            report.update(events=removed["events"], blobs=removed["blobs"])
            if ids:
                log.info(
                    "retention pruned %d runs (%d events, %d blobs)", len(ids), removed["events"], removed["blobs"]
                )
            return report

    async def _archived(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Write each run's whole log to the archive; only the runs written may be pruned."""
        assert self._archive is not None
        written: list[dict[str, Any]] = []
        failed: list[dict[str, str]] = []
        for row in rows:
            execution_id = row["id"]
            try:
                execution = await self._decisions.read(execution_id)
                events = await asyncio.to_thread(self._recorded, execution.id)
                data = archive_lines(execution_view(execution), [event_view(event) for event in events])
                await asyncio.to_thread(self._archive.write, row["workflow_id"], execution_id, data)
            except Exception as exc:
                log.warning("archiving run %s failed, so it is not pruned this time: %s", execution_id, exc)
                failed.append({"execution_id": execution_id, "error": f"{type(exc).__name__}: {exc}"[:500]})
                continue
            written.append(row)
        return written, failed

    def _recorded(self, execution_id: Any) -> list[Any]:
        return list(self._store.events.get(execution_id))

    async def _purge(self) -> dict[str, int]:
        """Remove the log rows of every run marked pruned whose rows are still there."""
        ids = await self._projections.unpurged()
        totals = {"events": 0, "snapshots": 0, "blobs": 0}
        for start in range(0, len(ids), 100):
            batch = ids[start : start + 100]
            removed = await asyncio.to_thread(prune_runs, self._store, batch)
            await self._projections.purged(batch)
            for key, value in removed.items():
                totals[key] += value
        return totals


def _by_status(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts
