"""The engine's event stores: workflows and execution logs, on PostgreSQL or SQLite via ``eventsourcing``.

``eventsourcing`` is synchronous; callers reach it through :class:`LogWriter` (writes, batched, one thread)
and ``asyncio.to_thread`` (reads).

Every save is bounded: large event bodies go to a blob store beside the log (:mod:`flowtape.engine.blobs`),
events are inserted by one database function call per save rather than psycopg's pipeline mode (which can
deadlock client and server on large batches: psycopg/psycopg#685), and each statement carries a server-side
timeout, so no input can hold the events table's lock for longer than :data:`STATEMENT_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, InterfaceError, Mapper, OperationalError, Recording, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from psycopg import sql
from sqlalchemy.engine import make_url

from flowtape.common.db import is_sqlite
from flowtape.engine.blobs import DEFAULT_OFFLOAD_BYTES, BlobStore, FileBlobs, OffloadingMapper, PostgresBlobs
from flowtape.engine.codec import FastJSONTranscoder

log = logging.getLogger("flowtape.engine")
E = TypeVar("E", bound="EventLog")


#: the longest any one statement of the event stores may run before the server cancels it
STATEMENT_TIMEOUT_SECONDS = 30
#: the longest a save waits for the events table's lock (held by another writer) before it fails
LOCK_TIMEOUT_SECONDS = 10


class EventLog(Application[Any]):
    """An eventsourcing application whose large event bodies live in a blob store."""

    def __init__(self, env: dict[str, str], blobs: BlobStore, offload_bytes: int = DEFAULT_OFFLOAD_BYTES) -> None:
        self.blobs = blobs
        self._offload_bytes = offload_bytes
        super().__init__(env=env)

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[Any]:
        return OffloadingMapper(self.construct_transcoder(), self.blobs, self._offload_bytes)

    def close(self) -> None:
        super().close()
        self.blobs.close()


class WorkflowStore(EventLog):
    name = "workflows"


class ExecutionLog(EventLog):
    name = "executions"


def sqlite_events_path(url: str) -> Path:
    path = Path(make_url(url).database or "engine.db")
    return path.with_name(f"{path.stem}.events{path.suffix or '.db'}")


def _server_options() -> str:
    return f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}"


def open_blobs(app_name: str, url: str, schema: str) -> PostgresBlobs | FileBlobs:
    """The blob store beside ``app_name``'s log: a table in ``schema``, or a folder beside the SQLite file."""
    blobs: PostgresBlobs | FileBlobs
    if is_sqlite(url):
        events = sqlite_events_path(url)
        blobs = FileBlobs(events.with_name(f"{events.stem}.{app_name}-blobs"))
    else:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        blobs = PostgresBlobs(conninfo, schema, f"{app_name}_blobs", options=_server_options())
    blobs.create()
    return blobs


def open_event_log(cls: type[E], url: str, schema: str, *, pool_size: int = 8) -> E:
    """Open ``cls`` (blocking: call it in a thread) with its blob store and bounded statements."""
    return cls(env=event_store_env(cls.name, url, schema, pool_size=pool_size), blobs=open_blobs(cls.name, url, schema))


def _renamed(statement: sql.Composed, old: str, new: str) -> sql.Composed:
    """``statement`` with the identifier ``old`` replaced by ``new``, wherever it is nested."""
    parts: list[sql.Composable] = []
    for part in statement:
        if isinstance(part, sql.Composed):
            parts.append(_renamed(part, old, new))
        elif part == sql.Identifier(old):
            parts.append(sql.Identifier(new))
        else:
            parts.append(part)
    return sql.Composed(parts)


class PerTableInsertRecorder(PostgresApplicationRecorder):
    """eventsourcing names its insert function after the schema's id type (``es_insert_events_uuid``), so two
    logs in one schema (workflows and executions) would each insert into the table of whichever created the
    function last; here the function is named after its table."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        old, new = self.pg_function_name_insert_events, f"es_insert_{events_table_name}"
        self.pg_function_name_insert_events = new
        self.sql_invoke_pg_function_insert_events = _renamed(self.sql_invoke_pg_function_insert_events, old, new)
        self.sql_create_pg_function_insert_events = _renamed(self.sql_create_pg_function_insert_events, old, new)
        index = self.create_insert_function_statement_index
        self.sql_create_statements[index] = self.sql_create_pg_function_insert_events


class BoundedPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL persistence whose connections carry a statement timeout, inserting each
    save with one function call (:class:`PerTableInsertRecorder`)."""

    application_recorder_class = PerTableInsertRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs["options"] = _server_options()  # the pool is not open yet


def event_store_env(app_name: str, url: str, schema: str, *, pool_size: int = 8) -> dict[str, str]:
    """eventsourcing settings for ``url``, prefixed with the app name so they win over the process env."""
    env: dict[str, str]
    if is_sqlite(url):
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(sqlite_events_path(url)),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    else:
        parsed = make_url(url)
        env = {
            "PERSISTENCE_MODULE": f"{__name__}:BoundedPostgresFactory",
            "POSTGRES_DBNAME": parsed.database or "flowtape",
            "POSTGRES_HOST": parsed.host or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": parsed.username or "postgres",
            "POSTGRES_PASSWORD": parsed.password or "",
            "POSTGRES_SCHEMA": schema,
            # connections kept open are few (one writer thread; reads come and go): the rest open on demand
            "POSTGRES_POOL_SIZE": str(min(pool_size, 2)),
            "POSTGRES_MAX_OVERFLOW": str(min(pool_size, 4)),
            "POSTGRES_CONNECT_TIMEOUT": "10",
            # no ping before every use of a pooled connection (a round trip per save: 5 % of the engine's CPU);
            # eventsourcing retries a statement that meets a dead connection on a fresh one, and the pool
            # drops the dead one, so a database restart costs one retry instead
            "POSTGRES_PRE_PING": "n",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
            "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
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
