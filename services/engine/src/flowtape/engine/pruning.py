"""Removing finished runs from the execution log: their event rows, their snapshots and the blobs only they
reference.

eventsourcing has no delete; this module reaches into its recorders (one ``DELETE`` per table, by originator),
so it is the only place that knows their table layout. Callers must only pass finished runs: nothing decides
them any more, so no writer can race the delete (see :mod:`flowtape.engine.retention`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from flowtape.engine.blobs import BLOB_MARKER
from flowtape.engine.store import EventLog


def _is_postgres(recorder: Any) -> bool:
    return hasattr(recorder.datastore, "schema")


def _table(recorder: Any) -> str:
    name = recorder.events_table_name
    return f'"{recorder.datastore.schema}"."{name}"' if _is_postgres(recorder) else f'"{name}"'


def _ids(recorder: Any, execution_ids: Sequence[str]) -> list[Any]:
    """PostgreSQL keeps originator ids as ``uuid``; eventsourcing's SQLite recorder as 32 hex digits."""
    if _is_postgres(recorder):
        return [uuid.UUID(i) for i in execution_ids]
    return [uuid.UUID(i).hex for i in execution_ids]


def _delete_events(recorder: Any, execution_ids: Sequence[str]) -> tuple[int, set[str]]:
    """Delete the runs' rows from one recorder's table; returns how many, and the blob keys they named."""
    if not execution_ids:
        return 0, set()
    table, ids = _table(recorder), _ids(recorder, execution_ids)
    marker = "%s" if _is_postgres(recorder) else "?"
    in_list = ", ".join([marker] * len(ids))
    keys: set[str] = set()
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"SELECT state FROM {table} WHERE originator_id IN ({in_list})", ids)
        rows = cursor.fetchall()
        for row in rows:
            state = bytes(row["state"] if isinstance(row, dict) else row[0])
            if state.startswith(BLOB_MARKER):
                keys.add(state[len(BLOB_MARKER) :].decode("ascii"))
        cursor.execute(f"DELETE FROM {table} WHERE originator_id IN ({in_list})", ids)
    # the rows just read are the rows deleted: nothing writes a finished run any more
    return len(rows), keys


def _still_referenced(recorder: Any, key: str) -> bool:
    """Blobs are content-addressed: another run with the same large body shares the key."""
    marker = "%s" if _is_postgres(recorder) else "?"
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT 1 FROM {_table(recorder)} WHERE state = {marker} LIMIT 1", [BLOB_MARKER + key.encode()])
        return cursor.fetchone() is not None


def prune_runs(log: EventLog, execution_ids: Sequence[str]) -> dict[str, int]:
    """Remove the runs' events, snapshots and unshared blobs (blocking: call it in a thread)."""
    events, keys = _delete_events(log.recorder, execution_ids)
    snapshots = 0
    if log.snapshots is not None:
        snapshots, more = _delete_events(log.snapshots.recorder, execution_ids)
        keys |= more
    blobs = 0
    for key in sorted(keys):
        if not _still_referenced(log.recorder, key):
            log.blobs.delete(key)
            blobs += 1
    return {"events": events, "snapshots": snapshots, "blobs": blobs}
