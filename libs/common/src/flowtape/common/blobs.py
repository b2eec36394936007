"""Content-addressed stores of bytes beside a service's own data: a table in its PostgreSQL schema, or files
under a folder (embedded mode). The engine keeps large event bodies here (:mod:`flowtape.engine.blobs`) and
the connectors the bodies of binary data on items (:mod:`flowtape.connectors.binaries`); each service opens
its own store in its own schema or folder, so no service reads another's.

Bodies are zlib-compressed (JSON item data shrinks several times, cheaply at level 1). Every call blocks:
async callers run it in a thread.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Protocol

from psycopg import sql
from psycopg_pool import ConnectionPool


class BlobMissing(LookupError):
    """An event refers to a body the store does not hold (it was deleted or never written)."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; storing a key that exists already is a no-op."""

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None:
        """Forget ``key``; deleting a key that is not there is a no-op."""

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
            raise BlobMissing(f"body {key} is not in the blob store")
        return zlib.decompress(row[0])

    def delete(self, key: str) -> None:
        with self._connection() as conn:
            conn.execute(sql.SQL("DELETE FROM {} WHERE key = %s").format(self._table), (key,))

    def close(self) -> None:
        if self._opened:
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
            raise BlobMissing(f"body {key} is not in the blob store") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def close(self) -> None:
        return None
