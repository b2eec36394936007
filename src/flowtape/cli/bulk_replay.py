"""Bulk replay from a terminal: ``POST /api/v1/executions/replay`` starts the job, its progress is followed.

The engine selects the runs (oldest first), replays the canary, and the rest only when every canary replay
succeeded, each run once (see ``flowtape.engine.bulk_replays``). This command shows a progress bar from the job
and a summary by outcome; ``--dry-run`` lists what would run and which runs replay-check says would take another
path on the target version.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
POLL_SECONDS = 0.5


def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--since is not an ISO time: {value!r}") from None


class BulkReplay:
    def __init__(
        self,
        url: str | None,
        workflow_version: str,
        *,
        workflow_id: str,
        status: str,
        since: str | None,
        from_node: str | None,
    ) -> None:
        self._client = ApiClient(url)
        self._version: str | int = int(workflow_version) if workflow_version.isdigit() else workflow_version
        self._query: dict[str, Any] = {
            "workflow_id": workflow_id,
            "status": status,
            "since": _parse_time(since).isoformat() if since else None,
            "from_node": from_node,
            "workflow_version": self._version,
        }

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._client.call(method, path, **kwargs)
        except ApiError as exc:
            raise fail(str(exc)) from None

    def run(self, *, canary: int, parallel: int, dry_run: bool) -> None:
        body = {**self._query, "canary": canary, "parallelism": parallel, "dry_run": dry_run}
        job = self._call("POST", "/api/v1/executions/replay", json=body)
        if dry_run:
            self._plan(job)
            return
        if not job["total"]:
            console.print(f"no {self._query['status']} runs of workflow {self._query['workflow_id']} to replay")
            return
        job = self._follow(job)
        items = job["items"]
        started = [item for item in items if item["outcome"] != "pending"]
        self._summary(started, len(items) - len(started))
        if job["state"] == "canary_failed":
            failed = sum(1 for item in items[: job["canary"]] if item["outcome"] != "succeeded")
            console.print(f"[red]the canary did not all succeed ({failed} of {job['canary']}): nothing else started")
            raise typer.Exit(code=1)
        if job["state"] != "succeeded":
            reason = f": {job['error']}" if job["error"] else ""
            console.print(f"[red]bulk replay {job['id']} ended {job['state']}{reason}")
            raise typer.Exit(code=1)

    def _follow(self, job: dict[str, Any]) -> dict[str, Any]:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(f"replaying (canary {job['canary']})", total=job["total"])
            while job["state"] == "running":
                time.sleep(POLL_SECONDS)
                job = self._call("GET", f"/api/v1/executions/replay/{job['id']}")
                bar.update(task, completed=job["done"])
        return job

    def _plan(self, job: dict[str, Any]) -> None:
        checked = self._version != "original"
        table = Table(title=f"{job['total']} run(s) would be replayed ({self._version} version)")
        for column in ("order", "execution", "version", "started", "phase", "other path on the target version"):
            table.add_column(column)
        for index, item in enumerate(job["items"]):
            other = item.get("other_path")
            table.add_row(
                str(index + 1),
                item["source"],
                str(item["source_version"]),
                item.get("started_at") or "",
                item["phase"],
                ("yes: " + ", ".join(other)) if other else ("no" if checked else "n/a"),
            )
        console.print(table)
        differing = sum(1 for item in job["items"] if item.get("other_path"))
        console.print(f"dry run: nothing started; {differing} would take another path")

    def _summary(self, items: list[dict[str, Any]], not_started: int) -> None:
        counts = Counter(item["outcome"] for item in items)
        table = Table(title="bulk replay")
        table.add_column("outcome")
        table.add_column("runs", justify="right")
        for outcome, count in sorted(counts.items()):
            table.add_row(outcome, str(count))
        if not_started:
            table.add_row("not started", str(not_started))
        console.print(table)
        for item in items:
            if item["outcome"] != "succeeded":
                console.print(f"  {item['source']} → {item['execution_id']}: {item['outcome']}", highlight=False)
