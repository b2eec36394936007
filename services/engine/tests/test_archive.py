"""The retention archive's stores: a run's log as one JSON-lines object, in files or an S3-compatible bucket
(moto in server mode stands in for S3), and the settings that choose them."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from flowtape.common import views
from flowtape.common.errors import InvalidInput
from flowtape.engine.archive import FileArchive, S3Archive, archive_lines, open_archive
from services.connectors.tests.fakes import s3_server

RUN = views.Execution(
    id="e1", workflow_id="w1", workflow_version=1, status="succeeded", nodes={}, output=[{"ok": True}], events=2
)
EVENTS = [
    views.ExecutionEvent(seq=1, type="ExecutionStarted", at="2026-12-01T12:00:00+00:00", data={"trigger": [{}]}),
    views.ExecutionEvent(seq=2, type="ExecutionSucceeded", at="2026-12-01T12:00:01+00:00", data={"output": []}),
]


def lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_a_file_archive_holds_the_run_then_every_event_and_leaves_no_partial_file(tmp_path: Path) -> None:
    archive = open_archive(f"file://{tmp_path}/runs")
    assert isinstance(archive, FileArchive)
    where = archive.write("w1", "e1", archive_lines(RUN, EVENTS))
    assert where == str(tmp_path / "runs" / "w1" / "e1.jsonl")
    written = lines(Path(where).read_bytes())
    assert written[0]["execution"]["id"] == "e1" and [line["seq"] for line in written[1:]] == [1, 2]
    assert sorted(p.name for p in (tmp_path / "runs" / "w1").iterdir()) == ["e1.jsonl"]
    (tmp_path / "runs" / "w2").write_text("a file where the workflow's folder would be")
    with pytest.raises(OSError):
        archive.write("w2", "e2", b"{}\n")
    with pytest.raises(ValueError, match="cannot name"):
        archive.write("../w1", "e1", b"{}\n")


def test_an_s3_archive_puts_one_object_per_run_under_its_prefix() -> None:
    with s3_server("key", "secret", "archive") as endpoint:
        archive = open_archive(
            "s3://archive/flowtape/runs", endpoint_url=endpoint, access_key_id="key", secret_access_key="secret"
        )
        assert isinstance(archive, S3Archive)
        assert archive.write("w1", "e1", archive_lines(RUN, EVENTS)) == "s3://archive/flowtape/runs/w1/e1.jsonl"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="key",
            aws_secret_access_key="secret",
            region_name="us-east-1",
        )
        body = client.get_object(Bucket="archive", Key="flowtape/runs/w1/e1.jsonl")["Body"].read()
        assert lines(body)[0]["execution"]["output"] == [{"ok": True}] and len(lines(body)) == 3
        missing = open_archive("s3://nope/x", endpoint_url=endpoint, access_key_id="key", secret_access_key="secret")
        assert missing is not None
        with pytest.raises(RuntimeError, match="retention archive's S3 bucket 'nope' refused"):
            missing.write("w1", "e1", b"{}\n")


def test_the_archive_setting_is_a_file_or_s3_url() -> None:
    assert open_archive(None) is None
    with pytest.raises(InvalidInput, match="file:///path or s3://bucket/prefix"):
        open_archive("ftp://somewhere")
    with pytest.raises(InvalidInput, match="ACCESS_KEY_ID"):
        open_archive("s3://bucket")
