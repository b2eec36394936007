"""A storage for the ``limits`` library kept in PostgreSQL, so that every gateway replica counts in one place.

The platform's shared state is PostgreSQL (and RabbitMQ); a rate limit held in one replica's memory would let
a client with N replicas behind a load balancer make N times its allowance. One counter is one row, moved by
one ``INSERT ... ON CONFLICT DO UPDATE`` (atomic across replicas) whose windows run on the database's clock,
so replicas whose clocks drift still agree on when a window ends. Expired rows are swept now and then.

This storage serves the fixed-window strategy (``incr``/``get``/``get_expiry``), which costs one round trip
per request: each statement is atomic on its own, so it runs in autocommit rather than inside BEGIN ... COMMIT
(three round trips, a fifth of the gateway's CPU per request under load). Calls that count against one key while
its statement is in flight (a busy API key's concurrent requests) ride together on the next statement, each
given the count it would have had alone: one statement per round trip per key instead of one per call, which
those calls would otherwise spend queueing on the same row's lock.
"""

from __future__ import annotations

import asyncio
import time

from limits.aio.storage import Storage
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import creating, ensure_schema

SCHEMA = "gateway"
TABLE = f'"{SCHEMA}".rate_limit_counters'
#: how often one replica deletes the rows of windows that ended
SWEEP_SECONDS = 60.0
_NOW = "extract(epoch from clock_timestamp())"

_INCR = text(
    f"""
    INSERT INTO {TABLE} AS c (key, hits, expires_at) VALUES (:key, :amount, {_NOW} + :expiry)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN c.expires_at <= {_NOW} THEN EXCLUDED.hits ELSE c.hits + EXCLUDED.hits END,
        expires_at = CASE WHEN c.expires_at <= {_NOW} THEN EXCLUDED.expires_at ELSE c.expires_at END
    RETURNING hits
    """
)
_GET = text(f"SELECT hits FROM {TABLE} WHERE key = :key AND expires_at > {_NOW}")
#: seconds left in the window, measured on the database's clock (the caller adds its own ``time.time()``)
_TTL = text(f"SELECT expires_at - {_NOW} FROM {TABLE} WHERE key = :key AND expires_at > {_NOW}")
_SWEEP = text(f"DELETE FROM {TABLE} WHERE expires_at <= {_NOW}")


class StorageUnreachable(OSError):
    """The statement a call rode on was cancelled: counted as an unreachable counter (the call goes through)."""


class PostgresCounters(Storage):
    """Fixed-window counters in the gateway's own schema (``gateway.rate_limit_counters``)."""

    STORAGE_SCHEME = None

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._last_sweep = time.monotonic()
        self._sweeping: asyncio.Task[None] | None = None
        #: per key whose statement is in flight: the calls waiting to ride on the next one (amount, answer)
        self._riding: dict[str, list[tuple[int, asyncio.Future[int]]]] = {}
        self._draining: set[asyncio.Task[None]] = set()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (SQLAlchemyError, OSError)

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with creating(self._engine, "gateway.rate_limit_counters"):
            async with self._engine.begin() as conn:
                await conn.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {TABLE} "
                        "(key TEXT PRIMARY KEY, hits BIGINT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)"
                    )
                )

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        riding = self._riding.get(key)
        if riding is not None:
            answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            riding.append((amount, answer))
            return await answer
        self._riding[key] = []
        try:
            hits = await self._add(key, expiry, amount)
        except BaseException as exc:
            self._hand_on(key, expiry, exc)
            raise
        self._hand_on(key, expiry, None)
        return hits

    async def _add(self, key: str, expiry: int, amount: int) -> int:
        async with self._autocommit.connect() as conn:
            hits = await conn.scalar(_INCR, {"key": key, "amount": amount, "expiry": float(expiry)})
        self._maybe_sweep()
        return int(hits or 0)

    def _hand_on(self, key: str, expiry: int, failure: BaseException | None) -> None:
        """The statement for ``key`` is done: send the next one for the calls that queued behind it, or free
        the key. A failure fails those calls too (the caller lets them through, as for any unreachable counter)."""
        riding = self._riding.get(key) or []
        if not riding:
            self._riding.pop(key, None)
            return
        if failure is not None:
            self._riding.pop(key, None)
            for _, answer in riding:
                if not answer.done():
                    answer.set_exception(failure if isinstance(failure, Exception) else StorageUnreachable())
            return
        self._riding[key] = []
        task = asyncio.create_task(self._ride(key, expiry, riding))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _ride(self, key: str, expiry: int, riding: list[tuple[int, asyncio.Future[int]]]) -> None:
        total = sum(amount for amount, _ in riding)
        try:
            hits = await self._add(key, expiry, total)
        except Exception as exc:
            for _, answer in riding:
                if not answer.done():
                    answer.set_exception(exc)
            self._hand_on(key, expiry, exc)
            return
        count = hits - total
        for amount, answer in riding:  # in the order the calls came, as if each had its own statement
            count += amount
            if not answer.done():
                answer.set_result(count)
        self._hand_on(key, expiry, None)

    async def get(self, key: str) -> int:
        async with self._autocommit.connect() as conn:
            return int(await conn.scalar(_GET, {"key": key}) or 0)

    async def get_expiry(self, key: str) -> float:
        async with self._autocommit.connect() as conn:
            left = await conn.scalar(_TTL, {"key": key})
        return time.time() + float(left or 0.0)

    async def check(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return True

    async def reset(self) -> int | None:
        async with self._engine.begin() as conn:
            result = await conn.execute(text(f"DELETE FROM {TABLE}"))
        return int(result.rowcount)

    async def clear(self, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {TABLE} WHERE key = :key"), {"key": key})

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep < SWEEP_SECONDS or self._sweeping is not None:
            return
        self._last_sweep = time.monotonic()
        self._sweeping = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(_SWEEP)
        except (SQLAlchemyError, OSError):
            pass  # the next sweep deletes them; an expired row is never counted meanwhile
        finally:
            self._sweeping = None
