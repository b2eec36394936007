"""Many runs waiting at once beside a steady webhook load: all finish, memory stays bounded (issue 15, item 6).

The benchmark's own scenario (``benchmarks/waiting.py``), at 300 runs rather than its 1,000, on the embedded
platform (one process: every service's memory in one reading). 300 is enough to see a per-run cost (a task, a
connection or a cached view per waiting run would show as tens of MB) and keeps the suite's wall time small; the
1,000-run figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import pytest

from benchmarks.cli import sign_in, webhook_call
from benchmarks.platforms import embedded
from benchmarks.waiting import run

#: timed against a steady load and the clock: alone on the machine, after the parallel part (see the Makefile)
pytestmark = pytest.mark.serial
RUNS = 300
WAIT_SECONDS = 8.0
#: resident memory the platform may gain while they wait, about 0.25 MB a waiting run
GROWTH_LIMIT_MB = 75.0


def test_runs_waiting_at_once_all_finish_and_memory_stays_bounded() -> None:
    with embedded() as target:
        headers = sign_in(target.url)
        hook, why_not = webhook_call(target.url, headers)
        assert hook is not None, why_not
        result = run(
            target.url, headers, target.memory_mb, runs=RUNS, wait_seconds=WAIT_SECONDS, hook=hook, time_limit=120
        )
    growth = result.growth_mb("embedded")
    after = result.after["embedded"][0] - result.before["embedded"][0]
    print(
        f"\n{RUNS} waiting runs: {result.succeeded} succeeded, at most {result.most_waiting} waiting at once, "
        f"done after {result.finish_seconds:.1f} s; RSS before {result.before['embedded'][0]:.0f} MB, "
        f"peak +{growth:.0f} MB, after +{after:.0f} MB; {result.webhooks.ok} webhook answers, "
        f"{result.webhooks.errors} errors"
    )
    assert result.succeeded == RUNS, f"{result.not_finished} runs did not finish"
    assert result.most_waiting >= RUNS // 2, "the runs were meant to wait together"
    assert result.webhooks.ok > 0 and result.webhooks.errors == 0, result.webhooks.first_error
    assert growth < GROWTH_LIMIT_MB, f"memory grew {growth:.0f} MB with {RUNS} runs waiting"
