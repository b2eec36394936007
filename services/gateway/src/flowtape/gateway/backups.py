"""Backup and restore of a whole platform: the gateway collects each service's data over the bus, a chunk at a
time, into one stream of JSON lines, and hands a stream back the same way. It holds none of it.

The stream: a header line ``{"format": "flowtape.backup", "format_version": 1, ...}``, then one line per chunk
``{"service", "table", "rows"}``, then ``{"end": true, "rows": N}``. A restore refuses another format or
format version before it changes anything, and a platform that is not empty unless forced.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from flowtape.common.errors import Conflict, FlowtapeError, InvalidInput
from flowtape.common.messages import backups as msg
from flowtape.gateway.clients import Platform

#: a restore waits this long for a service to take one chunk
CHUNK_TIMEOUT_SECONDS = 120.0


def _version() -> str:
    try:
        return metadata.version("flowtape")
    except metadata.PackageNotFoundError:
        return "unknown"


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def check_header(header: Any) -> None:
    if not isinstance(header, dict) or header.get("format") != msg.BACKUP_FORMAT:
        raise InvalidInput("this is not a Flowtape backup (its first line does not say format: flowtape.backup)")
    version = header.get("format_version")
    if version != msg.BACKUP_FORMAT_VERSION:
        raise InvalidInput(
            f"this backup has format version {version!r} (made by Flowtape {header.get('flowtape_version')}); "
            f"this Flowtape reads format version {msg.BACKUP_FORMAT_VERSION} only",
            {"reason": "incompatible_version", "format_version": version, "supported": [msg.BACKUP_FORMAT_VERSION]},
        )


class PlatformBackups:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    async def backup(self) -> AsyncIterator[bytes]:
        header = {
            "format": msg.BACKUP_FORMAT,
            "format_version": msg.BACKUP_FORMAT_VERSION,
            "flowtape_version": _version(),
            "created_at": datetime.now(UTC).isoformat(),
            "services": list(msg.DATA_SERVICES),
        }
        yield _line(header)
        total = 0
        for service in msg.DATA_SERVICES:
            index: int | None = 0
            offset = 0
            while index is not None:
                reply = await self._platform.ask(
                    msg.ExportServiceData(service=service, table_index=index, offset=offset),
                    timeout=CHUNK_TIMEOUT_SECONDS,
                )
                chunk = msg.ServiceDataChunk.model_validate(reply)
                if chunk.table is None:
                    break
                if chunk.rows or offset == 0:
                    total += len(chunk.rows)
                    yield _line({"service": service, "table": chunk.table, "rows": chunk.rows})
                index, offset = chunk.next_table_index, chunk.next_offset
        yield _line({"end": True, "rows": total})

    async def restore(self, lines: AsyncIterable[bytes], force: bool) -> dict[str, Any]:
        stream = aiter(lines)
        try:
            header = json.loads(await anext(stream))
        except StopAsyncIteration:
            raise InvalidInput("the backup is empty") from None
        except ValueError:
            raise InvalidInput("this is not a Flowtape backup (its first line is not JSON)") from None
        check_header(header)
        if not force:
            await self._check_empty()
        seen: set[tuple[str, str]] = set()
        restored: dict[str, int] = {}
        ended = False
        async for raw in stream:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                raise InvalidInput("the backup has a line that is not JSON: the file is damaged") from None
            if line.get("end"):
                ended = True
                break
            service, table = line.get("service"), line.get("table")
            if service not in msg.DATA_SERVICES or not isinstance(table, str):
                raise InvalidInput(f"the backup names a service this Flowtape does not have: {service!r}")
            first = (service, table) not in seen
            seen.add((service, table))
            await self._platform.ask(
                msg.ImportServiceData(service=service, table=table, rows=line.get("rows") or [], first=first),
                timeout=CHUNK_TIMEOUT_SECONDS,
            )
            restored[service] = restored.get(service, 0) + len(line.get("rows") or [])
        problems: list[FlowtapeError] = []
        for service in msg.DATA_SERVICES:  # every service finishes, even when one has something to say
            try:
                await self._platform.ask(msg.FinishServiceRestore(service=service), timeout=CHUNK_TIMEOUT_SECONDS)
            except FlowtapeError as exc:
                problems.append(exc)
        if problems:
            raise problems[0]
        if not ended:
            raise InvalidInput("the backup is cut short (no end line): what it held is restored, the rest is missing")
        return {"restored": restored, "tables": len(seen)}

    async def _check_empty(self) -> None:
        holds: list[str] = []
        for service in msg.DATA_SERVICES:
            emptiness = await self._platform.ask(msg.CheckServiceEmpty(service=service), into=msg.ServiceEmptiness)
            holds.extend(f"{service}: {what}" for what in emptiness.holds)
        if holds:
            raise Conflict(
                "the platform is not empty (" + "; ".join(holds) + "): restore into a new platform, "
                "or force it to replace what is there",
                {"holds": holds},
            )
