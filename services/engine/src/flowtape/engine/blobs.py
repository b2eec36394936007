"""Large event bodies, kept beside the log: the log row holds a reference, the body lives in a blob store.

A run whose trigger or node output is megabytes big would otherwise write that much into the events table
on every decision, under the table lock every writer shares. Instead, :class:`OffloadingMapper` stores the
encoded body of any event above a threshold in a content-addressed store (its key is the SHA-256 of the body,
so a retried save writes nothing twice) and records ``BLOB_MARKER + key`` in the row; reading the event fetches
the body back. The domain sees the same events either way, so time travel and replay stay exact.

Stores: a table in the engine's own PostgreSQL schema, or files beside the SQLite log (embedded mode). Bodies
are zlib-compressed (JSON item data shrinks several times, cheaply at level 1).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from psycopg import sql
from psycopg_pool import ConnectionPool

#: an event body at least this big (encoded) goes to the blob store
DEFAULT_OFFLOAD_BYTES = 64 * 1024
#: prefix of a stored event state that is a reference (no JSON or zlib stream starts with a NUL byte)
BLOB_MARKER = b"\x00flowtape-blob:"


class BlobMissing(LookupError):
    """An event refers to a body the store does not hold (it was deleted or never written)."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; storing a key that exists already is a no-op."""

    def get(self, key: str) -> bytes: ...

    def close(self) -> None: ...


class PostgresBlobs:
    """``<schema>.<table>`` rows of compressed bodies; a small pool of its own, used from worker threads."""

    def __init__(self, conninfo: str, schema: str, table: str, *, options: str = "") -> None:
        self._table = sql.Identifier(schema, table)
        self._pool = ConnectionPool(
            conninfo, min_size=0, max_size=4, open=False, kwargs={"autocommit": True, "options": options}
        )
        self._opened = False

    def _connection(self) -> Any:
        if not self._opened:
            self._pool.open(wait=True, timeout=30)
            self._opened = True
        return self._pool.connection(timeout=30)

    def create(self) -> None:
        with self._connection() as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, size bigint NOT NULL, data bytea NOT NULL, "
                    "created_at timestamptz NOT NULL DEFAULT now())"
                ).format(self._table)
            )

    def put(self, key: str, data: bytes) -> None:
        with self._connection() as conn:
            conn.execute(
                sql.SQL("INSERT INTO {} (key, size, data) VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING").format(
                    self._table
                ),
                (key, len(data), zlib.compress(data, 1)),
            )

    def get(self, key: str) -> bytes:
        with self._connection() as conn:
            row = conn.execute(sql.SQL("SELECT data FROM {} WHERE key = %s").format(self._table), (key,)).fetchone()
        if row is None:
            raise BlobMissing(f"event body {key} is not in the blob store")
        return zlib.decompress(row[0])

    def close(self) -> None:
        self._pool.close()


class FileBlobs:
    """One compressed file per body under ``directory`` (embedded mode), written atomically."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def create(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self._directory / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(zlib.compress(data, 1))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return zlib.decompress(self._path(key).read_bytes())
        except FileNotFoundError:
            raise BlobMissing(f"event body {key} is not in the blob store") from None

    def close(self) -> None:
        return None


class OffloadingMapper(Mapper[Any]):
    """eventsourcing's mapper, with bodies of ``offload_bytes`` or more moved to ``blobs``."""

    def __init__(self, transcoder: Transcoder, blobs: BlobStore, offload_bytes: int = DEFAULT_OFFLOAD_BYTES) -> None:
        super().__init__(transcoder=transcoder)
        self._blobs = blobs
        self._offload_bytes = offload_bytes

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if len(stored.state) < self._offload_bytes:
            return stored
        key = hashlib.sha256(stored.state).hexdigest()
        self._blobs.put(key, stored.state)
        return replace(stored, state=BLOB_MARKER + key.encode("ascii"))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.state.startswith(BLOB_MARKER):
            key = stored_event.state[len(BLOB_MARKER) :].decode("ascii")
            stored_event = replace(stored_event, state=self._blobs.get(key))
        return super().to_domain_event(stored_event)
