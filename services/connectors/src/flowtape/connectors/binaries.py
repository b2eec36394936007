"""The binary store: bytes of binary data on items (:mod:`flowtape.common.binary`), owned by the connectors.

The connectors own it because they are the only service that makes or reads such data (nodes run here); the
engine sees only references inside items, and the gateway asks for a download over the bus
(:class:`~flowtape.common.messages.connectors.GetBinary`). Two parts:

- a ``binaries`` table in the connectors' schema: one row per stored item value (id, workflow, execution, MIME
  type, file name, size, SHA-256 of the bytes, when);
- the bytes in a content-addressed :mod:`flowtape.common.blobs` store keyed by that SHA-256 (the same store
  code the engine keeps large event bodies in): a ``connectors.binary_blobs`` table in PostgreSQL, or files
  under ``<data dir>/binaries`` in embedded mode, or objects in an S3-compatible bucket when
  ``FLOWTAPE_BINARY_S3_BUCKET`` is set (:class:`S3Blobs`). The same screenshot stored twice is kept once.

A row older than the retention is forgotten, and its bytes with it once no row refers to them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, String, Table, delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.binary import DEFAULT_MAX_BINARY_BYTES, BinaryInfo, binary_info, mime_type
from flowtape.common.blobs import BlobMissing, BlobStore, FileBlobs, PostgresBlobs
from flowtape.common.db import ensure_schema
from flowtape.common.errors import NodeError, NotFound
from flowtape.common.messages.connectors import BinaryContent
from flowtape.common.s3 import S3Location, S3Objects
from flowtape.connectors.completed import SCHEMA, metadata

binaries = Table(
    "binaries",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("workflow_id", String(200), nullable=False, index=True),
    Column("execution_id", String(200), nullable=False),
    Column("mime_type", String(255), nullable=False),
    Column("file_name", String(255)),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)


class S3Blobs(S3Objects):
    """Bytes as objects ``<prefix><sha256>`` in an S3-compatible bucket (``FLOWTAPE_BINARY_S3_*``)."""

    def __init__(self, location: S3Location) -> None:
        super().__init__(location, store="the binary store", settings="FLOWTAPE_BINARY_S3_*")

    def create(self) -> None:
        """Fail at start-up, not at the first screenshot, when the bucket cannot be reached or written."""
        probe = "probe-" + secrets.token_hex(8)
        response = self.send("PUT", probe, b"flowtape binary store probe")
        if response.status_code >= 300:
            raise self.failed("a test write", response)
        self.delete(probe)

    def get(self, key: str) -> bytes:
        response = self.send("GET", key)
        if response.status_code == 404:
            raise BlobMissing(f"body {key} is not in the blob store")
        if response.status_code >= 300:
            raise self.failed(f"reading {key}", response)
        return response.content


def open_blob_store(database_url: str, data_dir: Path, s3: S3Location | None = None) -> BlobStore:
    """Bytes in S3 when configured; else beside the connectors' database: a table in its PostgreSQL schema, or
    files in the data directory."""
    if s3 is not None:
        return S3Blobs(s3)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        store: FileBlobs | PostgresBlobs = FileBlobs(data_dir / "binaries")
    else:
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        store = PostgresBlobs(conninfo, SCHEMA, "binary_blobs")
    return store


class BinaryStore:
    def __init__(
        self,
        engine: AsyncEngine,
        blobs: BlobStore,
        *,
        max_bytes: int = DEFAULT_MAX_BINARY_BYTES,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._engine = engine
        self._blobs = blobs
        self.max_bytes = max_bytes
        self._retention = retention

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        creator = getattr(self._blobs, "create", None)
        if creator is not None:
            await asyncio.to_thread(creator)

    async def put(
        self, data: bytes, *, workflow_id: str, execution_id: str, mime: str, file_name: str | None = None
    ) -> BinaryInfo:
        if len(data) > self.max_bytes:
            raise NodeError(
                f"the binary data is {len(data):,} bytes, more than the {self.max_bytes:,} allowed "
                "(FLOWTAPE_MAX_BINARY_BYTES)",
                {"limit_bytes": self.max_bytes, "size": len(data)},
            )
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._blobs.put, digest, data)
        info = BinaryInfo(
            id="bin_" + secrets.token_urlsafe(18),
            mime_type=mime_type(mime),
            file_name=(file_name or None) and file_name[:255],
            size=len(data),
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                binaries.insert().values(
                    id=info.id,
                    workflow_id=workflow_id,
                    execution_id=execution_id,
                    mime_type=info.mime_type,
                    file_name=info.file_name,
                    size=info.size,
                    sha256=digest,
                    created_at=datetime.now(UTC),
                )
            )
        return info

    async def get(self, binary_id: str, *, workflow_id: str) -> tuple[BinaryInfo, bytes]:
        """NotFound when there is no such data in ``workflow_id`` (unknown, expired, or another workflow's)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(binaries).where(binaries.c.id == binary_id, binaries.c.workflow_id == workflow_id)
                )
            ).first()
        if row is None:
            raise NotFound(f"binary data {binary_id} is not in this workflow's runs (or it expired)")
        try:
            data = await asyncio.to_thread(self._blobs.get, row.sha256)
        except BlobMissing:
            raise NotFound(f"the bytes of binary data {binary_id} are gone from the store") from None
        info = BinaryInfo(id=row.id, mime_type=row.mime_type, file_name=row.file_name, size=row.size)
        return info, data

    async def download(self, binary_id: str, workflow_id: str) -> BinaryContent:
        info, data = await self.get(binary_id, workflow_id=workflow_id)
        return BinaryContent(
            id=info.id,
            mime_type=info.mime_type,
            file_name=info.file_name,
            size=info.size,
            data=base64.b64encode(data).decode("ascii"),
        )

    def for_task(self, workflow_id: str, execution_id: str) -> TaskBinaries:
        return TaskBinaries(self, workflow_id, execution_id)

    async def forget_old(self) -> int:
        """Drop rows past the retention, and the bytes no remaining row refers to."""
        cutoff = datetime.now(UTC) - self._retention
        async with self._engine.begin() as conn:
            old = (
                await conn.execute(select(binaries.c.id, binaries.c.sha256).where(binaries.c.created_at < cutoff))
            ).all()
            if not old:
                return 0
            await conn.execute(delete(binaries).where(binaries.c.id.in_([row.id for row in old])))
            digests = {row.sha256 for row in old}
            still = set(
                (
                    await conn.execute(
                        select(binaries.c.sha256).where(binaries.c.sha256.in_(digests)).group_by(binaries.c.sha256)
                    )
                ).scalars()
            )
        for digest in digests - still:
            await asyncio.to_thread(self._blobs.delete, digest)
        return len(old)

    async def count(self, workflow_id: str) -> int:
        async with self._engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(binaries).where(binaries.c.workflow_id == workflow_id)
                )
                or 0
            )

    def close(self) -> None:
        self._blobs.close()


@dataclass(frozen=True)
class TaskBinaries:
    """``ctx.binaries`` of one node task: stores under the task's run, reads within its workflow."""

    store: BinaryStore
    workflow_id: str
    execution_id: str

    @property
    def max_bytes(self) -> int:
        return self.store.max_bytes

    async def put(self, data: bytes, *, mime_type: str, file_name: str | None = None) -> BinaryInfo:
        return await self.store.put(
            data, workflow_id=self.workflow_id, execution_id=self.execution_id, mime=mime_type, file_name=file_name
        )

    async def get(self, ref: Any, what: str = "the value") -> tuple[BinaryInfo, bytes]:
        info = binary_info(ref, what)
        try:
            return await self.store.get(info.id, workflow_id=self.workflow_id)
        except NotFound as exc:
            raise NodeError(f"{what}: {exc.message}") from None
