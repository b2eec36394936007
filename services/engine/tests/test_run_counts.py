"""The count behind the bound on queued runs: cheap far from the bound, exact near it."""

from __future__ import annotations

from flowtape.engine.run_counts import FRESH_SECONDS, RunningCounts


class Counted:
    def __init__(self, running: int) -> None:
        self.running = running
        self.queries = 0

    async def __call__(self, workflow_id: str) -> int:
        self.queries += 1
        return self.running


async def test_far_from_the_bound_one_count_serves_the_starts_of_a_moment() -> None:
    read_model, now = Counted(running=10), [0.0]
    counts = RunningCounts(read_model, clock=lambda: now[0])

    seen = [await counts.count("w", bound=10_000) for _ in range(50)]

    assert read_model.queries == 1
    assert seen == list(range(10, 60))  # the starts since the count are added to it
    now[0] += FRESH_SECONDS
    assert await counts.count("w", bound=10_000) == 10 and read_model.queries == 2


async def test_near_the_bound_every_start_counts_afresh() -> None:
    read_model = Counted(running=2)
    counts = RunningCounts(read_model, clock=lambda: 0.0)

    assert [await counts.count("w", bound=3) for _ in range(3)] == [2, 2, 2]
    assert read_model.queries == 3


async def test_each_workflow_has_its_own_count() -> None:
    read_model = Counted(running=1)
    counts = RunningCounts(read_model, clock=lambda: 0.0)

    await counts.count("a", bound=10_000)
    await counts.count("b", bound=10_000)

    assert read_model.queries == 2
