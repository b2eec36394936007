"""``flowtape admin backup FILE`` and ``flowtape admin restore FILE``: a whole platform, with progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console(stderr=True)
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]
#: a backup or restore of a big platform takes a while: no read of one chunk may take longer than this
TIMEOUT_SECONDS = 600.0


def register(admin: typer.Typer) -> None:
    @admin.command("backup")
    def backup(file: Path, url: UrlOption = None) -> None:
        """Write the whole platform (workflows and their versions, credentials still encrypted, users, API keys,
        triggers, variables, execution logs) to FILE; restoring it needs the same FLOWTAPE_SECRET_KEY."""
        rows = 0
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[rows]} rows"))
        try:
            with (
                Progress(*columns, console=console) as bar,
                ApiClient(url, timeout=TIMEOUT_SECONDS).stream("GET", "/api/v1/admin/backup") as response,
                file.open("wb") as out,
            ):
                task = bar.add_task("backing up", total=None, rows=0)
                for line in response.iter_lines():
                    out.write(line.encode() + b"\n")
                    chunk = json.loads(line)
                    if "rows" in chunk and "table" in chunk:
                        rows += len(chunk["rows"])
                        bar.update(task, description=f"{chunk['service']}: {chunk['table']}", rows=rows)
                    elif chunk.get("end"):
                        bar.update(task, description="done", total=1, completed=1, rows=rows)
                if not chunk.get("end"):
                    raise ApiError("the backup stopped before its end: the file is incomplete, try again")
        except ApiError as exc:
            raise fail(str(exc)) from None
        console.print(f"backed up {rows} rows to {file}")

    @admin.command("restore")
    def restore(
        file: Path,
        force: Annotated[
            bool, typer.Option("--force", help="replace what the platform holds (by default it must be empty)")
        ] = False,
        url: UrlOption = None,
    ) -> None:
        """Put a backup made by `flowtape admin backup` into this platform (an empty one, unless --force).
        Sign in afterwards with the backup's accounts."""
        if not file.is_file():
            raise fail(f"no backup file {file}")
        lines = file.read_bytes().splitlines()
        columns = (TextColumn("restoring"), BarColumn(), MofNCompleteColumn())

        def sent(progress: Progress) -> Iterator[bytes]:
            task = progress.add_task("restoring", total=len(lines))
            for line in lines:
                yield line + b"\n"
                progress.advance(task)

        try:
            with Progress(*columns, console=console) as bar:
                result = ApiClient(url, timeout=TIMEOUT_SECONDS).call(
                    "POST",
                    "/api/v1/admin/restore",
                    params={"force": str(force).lower()},
                    content=sent(bar),
                    headers={"Content-Type": "application/x-ndjson"},
                )
        except ApiError as exc:
            raise fail(str(exc)) from None
        restored = ", ".join(f"{service} {rows}" for service, rows in result["restored"].items())
        console.print(f"restored {result['tables']} tables ({restored} rows); sign in with the backup's accounts")
