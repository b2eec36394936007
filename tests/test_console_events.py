"""The console's live run view listens to named SSE events: every event type the log can hold must be in its list,
or a run that loops or calls a workflow would stop updating in the browser."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_console_listens_to_every_event_type_the_execution_log_has() -> None:
    domain = (ROOT / "services/engine/src/flowtape/engine/domain/execution.py").read_text()
    logged = set(re.findall(r'@event\("(\w+)"\)', domain))
    listener = (ROOT / "console/src/lib/sse.ts").read_text()
    listened = set(re.findall(r'"([A-Z]\w+)"', listener))
    assert logged, "no event types found in the execution aggregate"
    assert logged <= listened, f"console/src/lib/sse.ts misses {sorted(logged - listened)}"
