"""Partitions: which engine replica decides which executions.

Every execution belongs to one of :data:`~flowtape.common.topology.ENGINE_PARTITIONS` partitions (a hash of its
id); each partition has a durable queue that carries every command about its executions (starts, task outcomes,
cancels, forks) and a lease in the engine's database. A replica consumes the queue of each partition it holds
a lease on, and only that replica decides the partition's executions, keeping them in memory.

Leases are taken in PostgreSQL rather than left to RabbitMQ's single-active-consumer queues because a replica
must *know* when it takes a partition over: it then catches the read models up, resumes the partition's
unfinished runs (timers, in-flight tasks) and only then consumes. Each replica renews its leases every
:data:`RENEW_SECONDS` and takes free or expired ones up to a fair share (partitions / live replicas), handing
the excess back gracefully when replicas join; a replica killed with SIGKILL loses its leases after
:data:`LEASE_SECONDS`. The event store's optimistic concurrency remains the fence: should two replicas ever
decide one run at once (a paused process waking after its lease expired), the second save of a version fails,
its cached run is dropped and the command is retried against the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.common.bus import Bus
from flowtape.common.bus.base import Consumer, Handlers
from flowtape.common.topology import ENGINE_PARTITIONS, partition_of, partition_queue
from flowtape.engine.decisions import Clock, Decisions
from flowtape.engine.metrics import EngineMetrics
from flowtape.engine.projections import SCHEMA

log = logging.getLogger("flowtape.engine")

#: how often a replica renews its leases and looks for partitions to take
RENEW_SECONDS = 2.0
#: a lease not renewed for this long is free for another replica to take
LEASE_SECONDS = 10.0
PREFETCH = 64

metadata = MetaData(schema=SCHEMA)
leases = Table(
    "partition_leases",
    metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(64), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)
replicas = Table(
    "engine_replicas",
    metadata,
    Column("replica", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass
class Tick:
    """What one round of leasing changed for this replica."""

    taken: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    #: held beyond this replica's fair share: to hand back once their consumers stopped
    excess: list[int] = field(default_factory=list)


def _valid(expires_at: datetime | None, now: datetime) -> bool:
    if expires_at is None:
        return False
    if expires_at.tzinfo is None:  # SQLite gives naive datetimes back
        expires_at = expires_at.replace(tzinfo=UTC)
    return expires_at > now


class Leases:
    """The lease rows, one per partition, and the replicas' heartbeats."""

    def __init__(self, engine: AsyncEngine, replica: str, clock: Clock, ttl: float = LEASE_SECONDS) -> None:
        self._engine = engine
        self.replica = replica
        self._clock = clock
        self._ttl = timedelta(seconds=ttl)

    async def create(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            await conn.execute(
                insert(leases)
                .values([{"partition": p, "owner": None, "expires_at": None} for p in range(ENGINE_PARTITIONS)])
                .on_conflict_do_nothing(index_elements=["partition"])
            )

    async def tick(self, held: set[int]) -> Tick:
        """Renew this replica's leases, take free ones up to a fair share, and name what it holds too much of."""
        now = self._clock()
        expires = now + self._ttl
        async with self._engine.begin() as conn:
            await self._heartbeat(conn, now)
            live = await conn.scalar(
                select(func.count()).select_from(replicas).where(replicas.c.seen_at > now - self._ttl)
            )
            fair = math.ceil(ENGINE_PARTITIONS / max(int(live or 1), 1))
            query = select(leases).order_by(leases.c.partition)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()  # one replica leases at a time
            rows = (await conn.execute(query)).all()
            mine = [row.partition for row in rows if row.owner == self.replica and _valid(row.expires_at, now)]
            free = [row.partition for row in rows if row.owner is None or not _valid(row.expires_at, now)]
            owned: set[int] = set()
            if mine:
                renewed = await conn.execute(
                    update(leases)
                    .where(leases.c.owner == self.replica, leases.c.partition.in_(mine))
                    .values(expires_at=expires)
                    .returning(leases.c.partition)
                )
                owned.update(renewed.scalars())
            wanted = free[: max(0, fair - len(owned))]
            if wanted:
                taken = await conn.execute(
                    update(leases)
                    .where(leases.c.partition.in_(wanted), or_(leases.c.owner.is_(None), leases.c.expires_at <= now))
                    .values(owner=self.replica, expires_at=expires)
                    .returning(leases.c.partition)
                )
                owned.update(taken.scalars())
        excess = sorted(owned)[fair:] if len(owned) > fair and not free else []
        return Tick(taken=sorted(owned - held), lost=sorted(held - owned), excess=excess)

    async def _heartbeat(self, conn: AsyncConnection, now: datetime) -> None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(replicas).values(replica=self.replica, host=socket.gethostname(), seen_at=now)
        await conn.execute(
            statement.on_conflict_do_update(index_elements=["replica"], set_={"seen_at": statement.excluded.seen_at})
        )

    async def release(self, partitions: list[int]) -> None:
        if not partitions:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                update(leases)
                .where(and_(leases.c.owner == self.replica, leases.c.partition.in_(partitions)))
                .values(owner=None, expires_at=None)
            )

    async def leave(self) -> None:
        """Hand back every lease and say this replica is gone, so others take over at once. A database that
        cannot take it now (locked, out of reach) does not stop the shutdown: the leases then expire."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(leases).where(leases.c.owner == self.replica).values(owner=None, expires_at=None)
                )
                await conn.execute(replicas.delete().where(replicas.c.replica == self.replica))
        except DBAPIError as exc:
            log.warning("could not hand back this replica's partitions (%s): they pass on when they expire", exc)

    async def owners(self) -> dict[int, str | None]:
        """Each partition's live owner (None while nobody holds it)."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(leases.c.partition, leases.c.owner, leases.c.expires_at))).all()
        now = self._clock()
        return {row.partition: row.owner if _valid(row.expires_at, now) else None for row in rows}


Resume = Callable[[Callable[[str], bool]], Awaitable[int]]


class Partitions:
    """Takes, holds and hands back this replica's partitions (see the module docstring)."""

    def __init__(
        self,
        *,
        bus: Bus,
        leases: Leases,
        decisions: Decisions,
        handlers: Handlers,
        catch_up: Callable[[], Awaitable[object]],
        resume: Resume,
        metrics: EngineMetrics | None = None,
        renew: float = RENEW_SECONDS,
    ) -> None:
        self._bus = bus
        self._leases = leases
        self._decisions = decisions
        self._handlers = handlers
        self._catch_up = catch_up
        self._resume = resume
        self._metrics = metrics or EngineMetrics()
        self._renew = renew
        self._held: dict[int, Consumer] = {}
        self._task: asyncio.Task[None] | None = None
        self._ticking = asyncio.Lock()

    @property
    def held(self) -> list[int]:
        return sorted(self._held)

    def owns(self, execution_id: str) -> bool:
        return partition_of(execution_id) in self._held

    async def start(self) -> None:
        for partition in range(ENGINE_PARTITIONS):
            await self._bus.declare(partition_queue(partition))
        await self.tick()
        self._task = asyncio.create_task(self._run(), name="engine-partitions")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._renew)
            try:
                await self.tick()
            except Exception:
                log.exception("renewing partition leases failed; trying again in %.0f s", self._renew)

    async def tick(self) -> None:
        async with self._ticking:
            tick = await self._leases.tick(set(self._held))
            for partition in tick.lost:
                log.warning("lost the lease of partition %d: another replica decides its runs now", partition)
                await self._drop(partition)
            for partition in tick.excess:
                await self._drop(partition)
            await self._leases.release(tick.excess)
            if tick.taken:
                await self._catch_up()  # a run the last owner saved but had not projected is found
                for partition in tick.taken:
                    await self._take(partition)
            self._metrics.partitions_owned.set(len(self._held))
            if tick.taken or tick.lost or tick.excess:
                log.info(
                    "partitions: took %s, lost %s, handed back %s; holding %d",
                    tick.taken,
                    tick.lost,
                    tick.excess,
                    len(self._held),
                )

    async def _take(self, partition: int) -> None:
        resumed = await self._resume(lambda execution_id: partition_of(execution_id) == partition)
        if resumed:
            log.info("partition %d: resumed %d unfinished executions from their logs", partition, resumed)
        self._held[partition] = await self._bus.consume(partition_queue(partition), self._handlers, prefetch=PREFETCH)

    async def _drop(self, partition: int) -> None:
        consumer = self._held.pop(partition, None)
        if consumer is not None:
            await consumer.stop()
        self._decisions.forget_all(
            execution_id for execution_id in self._decisions.live() if partition_of(execution_id) == partition
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        async with self._ticking:
            for partition in list(self._held):
                await self._drop(partition)
            await self._leases.leave()
