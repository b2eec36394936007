"""How many runs of a workflow are under way, for the bound on queued runs, without a query per start.

The bound (``FLOWTAPE_MAX_QUEUED_RUNS_PER_WORKFLOW``, 10,000 by default) is a safety cap far above what most
workflows reach, yet counting the read model on every start cost the engine 8 % of its CPU under load. A
count is therefore reused for a moment while the workflow is far from its bound (the starts since are added
to it), and read afresh on every start once it comes within half of the bound, where it must be exact.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: how long a count far from the bound stands in for a fresh one
FRESH_SECONDS = 1.0


@dataclass
class _Count:
    running: int
    at: float
    started_since: int = 0


class RunningCounts:
    def __init__(self, count: Callable[[str], Awaitable[int]], clock: Callable[[], float] = time.monotonic) -> None:
        self._count = count
        self._clock = clock
        self._known: dict[str, _Count] = {}

    async def count(self, workflow_id: str, bound: int) -> int:
        """The workflow's runs under way before this start (an estimate while far below ``bound``)."""
        now = self._clock()
        known = self._known.get(workflow_id)
        if known is not None and now - known.at < FRESH_SECONDS:
            estimate = known.running + known.started_since
            if estimate < bound // 2:
                known.started_since += 1
                return estimate
        running = await self._count(workflow_id)
        if len(self._known) > 10_000:  # workflows come and go: keep memory bounded
            self._known.clear()
        self._known[workflow_id] = _Count(running, now, started_since=1)
        return running
