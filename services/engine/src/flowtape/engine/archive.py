"""The retention archive: a pruned run's whole log, written to files or S3-compatible storage before it goes.

``FLOWTAPE_RETENTION_ARCHIVE`` names where: ``file:///path`` or ``s3://bucket/prefix`` (with
``FLOWTAPE_RETENTION_ARCHIVE_S3_*`` for the endpoint, region and keys). Each run is one JSON-lines object
``<workflow id>/<execution id>.jsonl``: first ``{"execution": <the run as GET /executions/{id} shows it>}``,
then one line per event as ``GET /executions/{id}/events`` shows it, in order. Retention prunes a run only once
its object is written (a file is written beside and renamed into place, so a crash leaves no half file under
the final name); a run whose write fails stays in the log and is tried again on the next pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from flowtape.common import views
from flowtape.common.errors import InvalidInput

if TYPE_CHECKING:  # botocore and httpx (with the rich and click httpx pulls in) only when an S3 archive is set
    from flowtape.common.s3 import S3Location


class RunArchive(Protocol):
    """Where pruned runs go first; ``write`` is blocking (call it in a thread) and raises when it did not."""

    def write(self, workflow_id: str, execution_id: str, data: bytes) -> str: ...


def archive_lines(execution: views.Execution, events: list[views.ExecutionEvent]) -> bytes:
    lines = [json.dumps({"execution": execution.model_dump(mode="json")}, separators=(",", ":"))]
    lines += [event.model_dump_json() for event in events]
    return ("\n".join(lines) + "\n").encode()


def _key(workflow_id: str, execution_id: str) -> str:
    for part in (workflow_id, execution_id):
        if not part or "/" in part or part.startswith("."):
            raise ValueError(f"{part!r} cannot name an archive object")
    return f"{workflow_id}/{execution_id}.jsonl"


class FileArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, workflow_id: str, execution_id: str, data: bytes) -> str:
        path = self.root / _key(workflow_id, execution_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".jsonl.partial")
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(path)
        return str(path)


class S3Archive:
    def __init__(self, location: S3Location) -> None:
        from flowtape.common.s3 import S3Objects

        self._objects = S3Objects(location, store="the retention archive", settings="FLOWTAPE_RETENTION_ARCHIVE_S3_*")
        self._location = location

    def write(self, workflow_id: str, execution_id: str, data: bytes) -> str:
        key = _key(workflow_id, execution_id)
        self._objects.put(key, data)
        return f"s3://{self._location.bucket}/{self._location.prefix}{key}"


def open_archive(
    url: str | None,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> RunArchive | None:
    """The archive ``url`` names (None: pruned runs keep only their summary)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path:
        return FileArchive(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        if not access_key_id or not secret_access_key:
            raise InvalidInput(
                "FLOWTAPE_RETENTION_ARCHIVE is an s3:// URL: set FLOWTAPE_RETENTION_ARCHIVE_S3_ACCESS_KEY_ID and "
                "FLOWTAPE_RETENTION_ARCHIVE_S3_SECRET_ACCESS_KEY too"
            )
        from flowtape.common.s3 import S3Location

        prefix = parts.path.strip("/")
        return S3Archive(
            S3Location(
                bucket=parts.netloc,
                access_key_id=access_key_id,
                secret_access_key=secret_access_key,
                endpoint_url=endpoint_url,
                region=region,
                prefix=f"{prefix}/" if prefix else "",
            )
        )
    raise InvalidInput(f"FLOWTAPE_RETENTION_ARCHIVE must be file:///path or s3://bucket/prefix, not {url!r}")
