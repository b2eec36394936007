"""A run's place among its workflow's concurrent runs, taken once however often its start arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from flowtape.common.db import async_engine
from flowtape.engine.admission import Admissions, admissions
from flowtape.engine.projections import SCHEMA, Projections


async def test_a_start_that_comes_again_keeps_the_place_it_took(tmp_path: Path) -> None:
    db = async_engine(f"sqlite:///{tmp_path / 'engine.db'}", SCHEMA)
    try:
        await Projections(db).create()
        places = Admissions(db, lambda: datetime.now(UTC))
        await places.create()

        first = await places.enter("w", "run-1", limit=1)
        queued = await places.enter("w", "run-2", limit=1)
        # a redelivery of either start, or its retry after the engine stopped before saving the run
        assert await places.enter("w", "run-1", limit=1) == first is None
        assert await places.enter("w", "run-2", limit=1) == queued is not None

        async with db.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(admissions)) == 2
    finally:
        await db.dispose()
