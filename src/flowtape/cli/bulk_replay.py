"""Bulk replay: re-run every run of a workflow that matches a query, a canary first.

The canary (the first K runs, oldest first) is replayed and waited for; the rest start only when every canary
replay succeeded, at most ``parallel`` at a time, with a progress bar and a summary. Each selected run is replayed
exactly once. ``--dry-run`` starts nothing: it lists the runs and, for a target version, asks replay-check which
of them that version would take down another path.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
#: statuses a replay ends in
_FINAL = {"succeeded", "failed", "cancelled"}
#: how long one replay may take before the bulk replay stops waiting for it
REPLAY_TIMEOUT = 300.0


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
        self._workflow_id = workflow_id
        self._status = status
        self._since = _parse_time(since) if since else None
        self._from_node = from_node

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._client.call(method, path, **kwargs)
        except ApiError as exc:
            raise fail(str(exc)) from None

    def selected(self) -> list[dict[str, Any]]:
        """The matching runs, oldest first (a bulk replay repeats history in the order it happened)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"workflow_id": self._workflow_id, "status": self._status, "limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/api/v1/executions", params=params)
            for item in page["items"]:
                started = item.get("started_at")
                if self._since is None or (started and _parse_time(started) >= self._since):
                    found.append(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return sorted(found, key=lambda item: item.get("started_at") or "")

    def _replay_one(self, execution: dict[str, Any]) -> dict[str, Any]:
        """Start the replay of one run and wait for it to end."""
        from_node = self._from_node
        if from_node is None:
            detail = self._call("GET", f"/api/v1/executions/{execution['id']}")
            from_node = detail.get("failed_node")
        if from_node is None:
            return {"source": execution["id"], "execution_id": None, "status": "skipped", "note": "no failed node"}
        body = {"from_node": from_node, "workflow_version": self._version}
        started = self._call("POST", f"/api/v1/executions/{execution['id']}/replay", json=body)
        deadline = time.monotonic() + REPLAY_TIMEOUT
        while True:
            replayed = self._call("GET", f"/api/v1/executions/{started['execution_id']}")
            if replayed["status"] in _FINAL or time.monotonic() > deadline:
                return {
                    "source": execution["id"],
                    "execution_id": started["execution_id"],
                    "status": replayed["status"],
                }
            time.sleep(0.25)

    def _replay(self, executions: list[dict[str, Any]], parallel: int, label: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=False) as bar, ThreadPoolExecutor(parallel) as pool:
            task = bar.add_task(label, total=len(executions))
            for result in pool.map(self._replay_one, executions):
                results.append(result)
                bar.advance(task)
        return results

    def _target_version(self) -> int | None:
        if isinstance(self._version, int):
            return self._version
        if self._version == "latest":
            return int(self._call("GET", f"/api/v1/workflows/{self._workflow_id}")["latest_version"])
        return None

    def dry_run(self, executions: list[dict[str, Any]], canary: int) -> None:
        differing: dict[str, list[str]] = {}
        version = self._target_version()
        if version is not None and executions:
            body: dict[str, Any] = {"workflow_id": self._workflow_id, "version": version, "limit": 1000}
            report = self._call("POST", "/api/v1/admin/replay-check", json=body)
            differing = {
                item["execution_id"]: [difference["node"] for difference in item["differences"]]
                for item in report["executions"]
            }
        table = Table(title=f"{len(executions)} run(s) would be replayed ({self._version} version)")
        for column in ("order", "execution", "version", "started", "phase", "other path on the target version"):
            table.add_column(column)
        for index, execution in enumerate(executions):
            other = differing.get(execution["id"])
            table.add_row(
                str(index + 1),
                execution["id"],
                str(execution["workflow_version"]),
                execution.get("started_at") or "",
                "canary" if index < canary else "rest",
                ("yes: " + ", ".join(other)) if other else ("no" if version is not None else "n/a"),
            )
        console.print(table)
        console.print(f"dry run: nothing started; {len(differing)} would take another path")

    def run(self, *, canary: int, parallel: int, dry_run: bool) -> None:
        executions = self.selected()
        if dry_run:
            self.dry_run(executions, canary)
            return
        if not executions:
            console.print(f"no {self._status} runs of workflow {self._workflow_id} to replay")
            return
        first, rest = executions[:canary], executions[canary:]
        results = self._replay(first, parallel, f"canary ({len(first)})")
        failed = [result for result in results if result["status"] != "succeeded"]
        if failed:
            self._summary(results, len(rest))
            console.print(f"[red]the canary did not all succeed ({len(failed)} of {len(first)}): nothing else started")
            raise typer.Exit(code=1)
        results += self._replay(rest, parallel, f"replaying ({len(rest)})")
        self._summary(results, 0)
        if any(result["status"] != "succeeded" for result in results):
            raise typer.Exit(code=1)

    def _summary(self, results: list[dict[str, Any]], not_started: int) -> None:
        counts = Counter(result["status"] for result in results)
        table = Table(title="bulk replay")
        table.add_column("outcome")
        table.add_column("runs", justify="right")
        for status, count in sorted(counts.items()):
            table.add_row(status, str(count))
        if not_started:
            table.add_row("not started", str(not_started))
        console.print(table)
        for result in results:
            if result["status"] != "succeeded":
                console.print(f"  {result['source']} → {result['execution_id']}: {result['status']}", highlight=False)
