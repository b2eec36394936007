"""The engine's event stores: workflows and execution logs, on PostgreSQL or SQLite via ``eventsourcing``.

``eventsourcing`` is synchronous; callers reach it through :class:`LogWriter` (writes, batched, one thread)
and ``asyncio.to_thread`` (reads).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, Recording
from sqlalchemy.engine import make_url

from flowtape.common.db import is_sqlite

log = logging.getLogger("flowtape.engine")


class WorkflowStore(Application[Any]):
    name = "workflows"


class ExecutionLog(Application[Any]):
    name = "executions"


def event_store_env(app_name: str, url: str, schema: str, *, pool_size: int = 8) -> dict[str, str]:
    """eventsourcing settings for ``url``, prefixed with the app name so they win over the process env."""
    env: dict[str, str]
    if is_sqlite(url):
        path = Path(make_url(url).database or "engine.db")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path.with_name(f"{path.stem}.events{path.suffix or '.db'}")),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    else:
        parsed = make_url(url)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.database or "flowtape",
            "POSTGRES_HOST": parsed.host or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": parsed.username or "postgres",
            "POSTGRES_PASSWORD": parsed.password or "",
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(pool_size),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_PRE_PING": "y",
        }
    env["CREATE_TABLE"] = "y"
    prefix = app_name.upper()
    return {f"{prefix}_{key}": value for key, value in env.items()}


#: how long a save waits for an unreachable database before failing the decision
OUTAGE_SECONDS = 60.0

SavedCallback = Callable[[Application[Any], Sequence[Recording[Any]]], Awaitable[None]]


class LogWriter:
    """Saves aggregates in batches, so that under load many executions share one transaction.

    Each caller awaits its own save; whatever accumulated while the previous batch was being written goes
    into the next one. ``on_saved`` (the projections) runs after each batch, before callers resume.
    """

    def __init__(self, app: Application[Any], on_saved: SavedCallback | None = None, max_batch: int = 128) -> None:
        self._app = app
        self._on_saved = on_saved
        self._max_batch = max_batch
        self._pending: list[tuple[Any, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{app.name}-writer")
        self._task: asyncio.Task[None] | None = None
        self._saves = 0
        self._projected = 0
        self._projection = asyncio.Condition()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._app.name}-writer")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            try:  # let the last saves reach the read models (catch-up on start would repair them anyway)
                await asyncio.wait_for(self.projected(), timeout=10)
            except TimeoutError:
                log.warning("stopping before the read models caught up; they catch up on the next start")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._thread.shutdown(wait=True)

    async def save(self, aggregate: Any) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((aggregate, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                # take the pending events out once: ``Application.save`` empties an aggregate even when the
                # write then fails, so the one-by-one retry must be handed the events themselves
                events = [aggregate.collect_events() for aggregate, _ in batch]
                try:
                    recordings = await loop.run_in_executor(
                        self._thread, self._save, [event for group in events for event in group]
                    )
                except Exception as exc:
                    if len(batch) > 1:
                        await self._save_one_by_one(batch, events)
                    elif not batch[0][1].done():
                        batch[0][1].set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
                await self._saved(recordings)

    def _save(self, events: list[Any]) -> Sequence[Recording[Any]]:
        """Save, riding out a database restart: connection errors are retried for up to a minute.

        A retry that meets a conflict means the first try committed after all (the engine is the only
        writer of its executions), so it counts as saved; projections fill the gap from the log.
        """
        delay, waited = 0.2, 0.0
        while True:
            try:
                return self._app.save(*events)
            except IntegrityError:
                if waited:
                    log.warning("a save retried after a lost connection had already been committed")
                    return []
                raise
            except (OperationalError, InterfaceError) as exc:
                if waited >= OUTAGE_SECONDS:
                    raise
                log.warning("the event store is unreachable (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    async def _save_one_by_one(self, batch: list[tuple[Any, asyncio.Future[None]]], events: list[list[Any]]) -> None:
        """Isolate the failing save so one bad aggregate does not fail its neighbours."""
        loop = asyncio.get_running_loop()
        for (_, future), group in zip(batch, events, strict=True):
            try:
                recordings = await loop.run_in_executor(self._thread, self._save, group)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(None)
            await self._saved(recordings)

    async def _saved(self, recordings: Sequence[Recording[Any]]) -> None:
        """Project a saved batch. Callers have their answer already: read models are not on the hot path;
        a query that must see its own writes awaits :meth:`projected` first."""
        self._saves += 1
        try:
            if self._on_saved is not None:
                await self._on_saved(self._app, recordings)
        except Exception:
            log.exception("updating projections failed; they catch up from the log on restart")
        finally:
            async with self._projection:
                self._projected = self._saves
                self._projection.notify_all()

    async def projected(self) -> None:
        """Wait until every save made so far has reached the read models (read-your-writes for lists)."""
        target = self._saves
        async with self._projection:
            await self._projection.wait_for(lambda: self._projected >= target)
