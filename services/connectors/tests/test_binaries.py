"""The connectors' binary store, on real PostgreSQL (a table of bodies), on SQLite with the data directory's
files (embedded mode) and with the bytes in an S3-compatible bucket (moto in server mode): put and get, scoping
to a workflow, the size limit, deduplication and retention."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from flowtape.common.binary import is_binary_ref
from flowtape.common.blobs import BlobMissing
from flowtape.common.db import async_engine
from flowtape.common.errors import NodeError, NotFound
from flowtape.connectors.binaries import BinaryStore, S3Blobs, S3Location, binaries, open_blob_store
from flowtape.connectors.completed import SCHEMA
from services.connectors.tests.fakes import s3_server
from tests.infra import postgres_database

S3_SECRET = f"sk-{secrets.token_urlsafe(20)}"


@pytest.fixture(params=["postgresql", "sqlite", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BinaryStore]:
    if request.param == "s3":
        with s3_server("AKIABINSTORE", S3_SECRET, "flowtape-store") as endpoint:
            url = f"sqlite:///{tmp_path / 'connectors.db'}"
            engine = async_engine(url, SCHEMA)
            location = S3Location("flowtape-store", "AKIABINSTORE", S3_SECRET, endpoint_url=endpoint)
            blobs = open_blob_store(url, tmp_path, location)
            assert isinstance(blobs, S3Blobs)
            store = BinaryStore(engine, blobs, max_bytes=64 * 1024)
            await store.create()
            yield store
            store.close()
            await engine.dispose()
    elif request.param == "postgresql":
        with postgres_database("flowtape_test_binaries") as url:
            engine = async_engine(url, SCHEMA)
            store = BinaryStore(engine, open_blob_store(url, tmp_path), max_bytes=64 * 1024)
            await store.create()
            yield store
            store.close()
            await engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'connectors.db'}"
        engine = async_engine(url, SCHEMA)
        store = BinaryStore(engine, open_blob_store(url, tmp_path), max_bytes=64 * 1024)
        await store.create()
        yield store
        await engine.dispose()


async def test_put_then_get_within_the_workflow_only(store: BinaryStore) -> None:
    data = os.urandom(5000)
    task = store.for_task("wf-a", "exec-1")
    info = await task.put(data, mime_type="application/pdf; charset=binary", file_name="report.pdf")
    assert info.mime_type == "application/pdf" and info.size == 5000 and info.file_name == "report.pdf"
    ref = info.reference()
    assert is_binary_ref(ref)

    got_info, got = await task.get(ref)
    assert got == data and got_info == info
    # another run of the same workflow reads it; another workflow does not
    assert (await store.for_task("wf-a", "exec-2").get(ref))[1] == data
    with pytest.raises(NodeError, match="not in this workflow's runs"):
        await store.for_task("wf-b", "exec-3").get(ref, "attachment 1")
    with pytest.raises(NotFound):
        await store.download(info.id, "wf-b")
    downloaded = await store.download(info.id, "wf-a")
    assert downloaded.size == 5000 and downloaded.file_name == "report.pdf"


async def test_what_is_not_a_reference_is_refused_by_name(store: BinaryStore) -> None:
    task = store.for_task("wf-a", "exec-1")
    with pytest.raises(NodeError, match="attachment 2 is not binary data"):
        await task.get("aGVsbG8=", "attachment 2")
    with pytest.raises(NodeError, match="not a valid binary reference"):
        await task.get({"$binary": {"id": "../../etc/passwd", "size": 1}}, "content")


async def test_data_over_the_limit_is_refused_before_anything_is_stored(store: BinaryStore) -> None:
    task = store.for_task("wf-limit", "exec-1")
    with pytest.raises(NodeError, match="FLOWTAPE_MAX_BINARY_BYTES"):
        await task.put(b"x" * (64 * 1024 + 1), mime_type="text/plain")
    assert await store.count("wf-limit") == 0


async def test_the_same_bytes_are_kept_once_and_forgotten_with_their_last_reference(store: BinaryStore) -> None:
    data = os.urandom(2000)
    first = await store.for_task("wf-old", "exec-1").put(data, mime_type="image/png")
    second = await store.for_task("wf-old", "exec-2").put(data, mime_type="image/png")
    assert first.id != second.id
    async with store._engine.begin() as conn:
        await conn.execute(
            binaries.update()
            .where(binaries.c.id == first.id)
            .values(created_at=binaries.c.created_at - timedelta(days=90))
        )
    assert await store.forget_old() == 1
    with pytest.raises(NotFound):
        await store.get(first.id, workflow_id="wf-old")
    assert (await store.get(second.id, workflow_id="wf-old"))[1] == data  # the shared bytes are still there
    async with store._engine.begin() as conn:
        await conn.execute(
            binaries.update()
            .where(binaries.c.id == second.id)
            .values(created_at=binaries.c.created_at - timedelta(days=90))
        )
    assert await store.forget_old() == 1
    assert await store.count("wf-old") == 0
    with pytest.raises(BlobMissing):
        store._blobs.get(hashlib.sha256(data).hexdigest())


async def test_an_unreachable_s3_bucket_fails_at_start_naming_the_settings(tmp_path: Path) -> None:
    with s3_server("AKIABINSTORE", S3_SECRET, "flowtape-store") as endpoint:
        wrong = S3Location("no-such-bucket", "AKIABINSTORE", S3_SECRET, endpoint_url=endpoint)
        blobs = S3Blobs(wrong)
        with pytest.raises(RuntimeError, match="FLOWTAPE_BINARY_S3_"):
            blobs.create()
        blobs.close()
