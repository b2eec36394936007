"""Dead letters kept where operators can see them, and re-driven to the queue they died on.

The engine consumes ``flowtape.dead-letters`` (raw bytes: a poison message may not even be JSON) into a
table with the reason and origin; ``flowtape admin dlq list|replay`` reads and re-drives them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.bus import Bus
from flowtape.common.errors import InvalidInput

metadata = MetaData(schema="engine")

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(200), nullable=False),
    Column("reason", String(1000), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True)),
)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def origin(headers: dict[str, Any] | Any) -> tuple[str, str]:
    """(queue, reason) from our own headers, or from RabbitMQ's when the broker dead-lettered it."""
    queue = headers.get("x-flowtape-queue") or headers.get("x-first-death-queue") or "unknown"
    reason = headers.get("x-flowtape-reason") or headers.get("x-first-death-reason") or "unknown"
    return _text(queue), _text(reason)


class DeadLetters:
    def __init__(self, engine: AsyncEngine, bus: Bus, counted: Counter | None = None) -> None:
        self._engine = engine
        self._bus = bus
        self._counted = counted

    async def create(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def keep(self, body: bytes, headers: Any) -> None:
        queue, reason = origin(dict(headers))
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(dead_letters).values(queue=queue, reason=reason, body=body, received_at=datetime.now(UTC))
            )
        if self._counted is not None:
            self._counted.labels(queue).inc()

    async def recent(self, limit: int, include_replayed: bool) -> dict[str, Any]:
        query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        if not include_replayed:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {
            "items": [
                {
                    "id": row["id"],
                    "queue": row["queue"],
                    "reason": row["reason"],
                    "body": row["body"].decode(errors="replace")[:4000],
                    "received_at": row["received_at"].isoformat(),
                    "replayed_at": row["replayed_at"].isoformat() if row["replayed_at"] else None,
                }
                for row in rows
            ]
        }

    async def replay(self, ids: list[int]) -> dict[str, Any]:
        """Publish each dead letter again where it came from; a re-driven letter is marked, not deleted."""
        query = select(dead_letters).where(dead_letters.c.replayed_at.is_(None))
        if ids:
            query = query.where(dead_letters.c.id.in_(ids))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(dead_letters.c.id))).mappings().all()
        replayed: list[int] = []
        skipped: list[dict[str, Any]] = []
        for row in rows:
            if row["queue"] == "unknown":
                skipped.append({"id": row["id"], "reason": "the queue it died on is not known"})
                continue
            try:
                await self._bus.publish_to_queue(row["queue"], row["body"])
            except LookupError as exc:
                skipped.append({"id": row["id"], "reason": str(exc)})
                continue
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(dead_letters).where(dead_letters.c.id == row["id"]).values(replayed_at=datetime.now(UTC))
                )
            replayed.append(row["id"])
        if ids and not rows:
            raise InvalidInput("none of those dead letters is waiting to be replayed")
        return {"replayed": replayed, "skipped": skipped}
