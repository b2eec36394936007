"""Operators' commands: fork, cancel and inspect runs; rebuild read models; look after dead letters."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from flowtape.cli import status
from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]

admin = typer.Typer(help="Operate the platform: status, read models and dead letters.", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: messages no consumer could handle, kept with the reason.", no_args_is_help=True)
admin.add_typer(dlq, name="dlq")
admin.command("status")(status.status)


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return ApiClient(url).call(method, path, **kwargs)
    except ApiError as exc:
        raise fail(str(exc)) from None


def register(executions: typer.Typer) -> None:
    """Add the operating commands to ``flowtape executions``."""

    @executions.command("retry")
    def retry(execution_id: str, url: UrlOption = None) -> None:
        """Run a failed execution again from its first failed node (upstream outputs are reused)."""
        started = _call(url, "POST", f"/api/v1/executions/{execution_id}/retry")
        console.print(f"started {started['execution_id']} (forked from {execution_id})")

    @executions.command("replay")
    def replay(
        execution_id: Annotated[str | None, typer.Argument(help="one run (or many: --workflow)")] = None,
        from_node: Annotated[
            str | None, typer.Option("--from-node", help="the node to run again (bulk: default each run's failed node)")
        ] = None,
        workflow_version: Annotated[str, typer.Option(help="original | latest | <number>")] = "original",
        input: Annotated[str | None, typer.Option("--input", help="JSON items replacing the node's input")] = None,
        workflow: Annotated[str | None, typer.Option("--workflow", help="bulk: the runs of this workflow")] = None,
        status: Annotated[str, typer.Option("--status", help="bulk: runs with this status")] = "failed",
        since: Annotated[str | None, typer.Option("--since", help="bulk: runs started at or after (ISO)")] = None,
        canary: Annotated[int, typer.Option("--canary", help="bulk: replay these first; the rest if all pass")] = 1,
        parallel: Annotated[int, typer.Option("--parallel", min=1, max=32, help="bulk: replays at once")] = 4,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="bulk: list, with replay-check")] = False,
        url: UrlOption = None,
    ) -> None:
        """Fork an execution at any node, optionally on another version and with an edited input; with --workflow,
        replay every matching run: a canary first, the rest only if the canary all succeeded."""
        if workflow is not None:
            from flowtape.cli.bulk_replay import BulkReplay

            replay = BulkReplay(
                url, workflow_version, workflow_id=workflow, status=status, since=since, from_node=from_node
            )
            replay.run(canary=canary, parallel=parallel, dry_run=dry_run)
            return
        if execution_id is None or from_node is None:
            raise fail("give an EXECUTION_ID and --from-node, or --workflow for a bulk replay")
        version: str | int = int(workflow_version) if workflow_version.isdigit() else workflow_version
        body: dict[str, Any] = {"from_node": from_node, "workflow_version": version}
        if input is not None:
            try:
                items = json.loads(input)
            except ValueError as exc:
                raise fail(f"--input is not JSON: {exc}") from None
            body["input"] = [items] if isinstance(items, dict) else items
        started = _call(url, "POST", f"/api/v1/executions/{execution_id}/replay", json=body)
        console.print(f"started {started['execution_id']} (replay of {execution_id} from {from_node})")

    @executions.command("cancel")
    def cancel(execution_id: str, reason: str = "cancelled by operator", url: UrlOption = None) -> None:
        """Stop a running or waiting execution; its running node tasks are told to stop."""
        result = _call(url, "POST", f"/api/v1/executions/{execution_id}/cancel", json={"reason": reason})
        console.print(f"{execution_id}: {result['status']}")

    @executions.command("state")
    def state(
        execution_id: str,
        at: Annotated[int, typer.Option("--at", help="the event number (seq) to stop after")],
        url: UrlOption = None,
    ) -> None:
        """The execution as it stood after event AT: each node's status, input and output."""
        console.print_json(json.dumps(_call(url, "GET", f"/api/v1/executions/{execution_id}/state", params={"at": at})))

    @executions.command("replay-check")
    def replay_check(
        workflow_id: Annotated[str, typer.Option("--workflow-id")],
        workflow_version: Annotated[int, typer.Option("--workflow-version")],
        since: Annotated[str | None, typer.Option(help="only runs started at or after this ISO time")] = None,
        limit: int = 100,
        url: UrlOption = None,
    ) -> None:
        """Re-drive a version's decisions over recorded runs (no side effects); exit 1 where a path differs."""
        body: dict[str, Any] = {"workflow_id": workflow_id, "version": workflow_version, "limit": limit}
        if since:
            body["since"] = since
        with console.status("re-driving recorded runs…"):
            report = _call(url, "POST", "/api/v1/admin/replay-check", json=body)
        console.print(
            f"checked {report['checked']} runs against version {workflow_version}: {report['differing']} differ"
        )
        for execution in report["executions"]:
            table = Table(title=f"{execution['execution_id']} (recorded on v{execution['recorded_version']})")
            for column in ("node", "recorded", "with this version"):
                table.add_column(column)
            for difference in execution["differences"]:
                was, now = difference["recorded"], difference["replayed"]
                table.add_row(
                    difference["node"],
                    f"{was['status']} {was['port'] or ''}".strip(),
                    f"{now['status']} {now['port'] or ''} {now.get('note') or ''}".strip(),
                )
            console.print(table)
        if report["differing"]:
            raise typer.Exit(code=1)


@admin.command("rebuild-projections")
def rebuild_projections(url: UrlOption = None) -> None:
    """Drop and rebuild every read model from the logs, showing progress."""
    _call(url, "POST", "/api/v1/admin/projections/rebuild")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}")) as bar:
        tasks: dict[str, Any] = {}
        while True:
            status = _call(url, "GET", "/api/v1/admin/projections")
            for name, store in status.get("stores", {}).items():
                if name not in tasks:
                    tasks[name] = bar.add_task(f"rebuilding {name}", total=store["total"] or None)
                bar.update(tasks[name], completed=store["position"], total=store["total"] or None)
            if status["state"] == "done":
                break
            if status["state"] == "failed":
                raise fail(f"the rebuild failed: {status.get('error')}; the engine log has details")
            time.sleep(0.2)
    console.print("read models rebuilt from the logs")


@admin.command("retention")
def retention(
    url: UrlOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list the runs that would be pruned")] = False,
) -> None:
    """Prune finished runs past their retention policy (global FLOWTAPE_RETENTION_* or the workflow's own)."""
    plan = _call(url, "POST", "/api/v1/admin/retention/run", json={"dry_run": True})
    if dry_run:
        for execution_id in plan["execution_ids"]:
            console.print(execution_id)
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(plan["by_status"].items()))
        console.print(f"{plan['runs']} runs would be pruned" + (f" ({statuses})" if statuses else ""))
        return
    runs = events = 0
    with Progress(TextColumn("pruning runs"), BarColumn(), TextColumn("{task.completed}/{task.total}")) as bar:
        task = bar.add_task("pruning", total=plan["runs"])
        while True:
            done = _call(url, "POST", "/api/v1/admin/retention/run", json={"dry_run": False, "limit": 50})
            runs, events = runs + done["runs"], events + done["events"]
            bar.update(task, completed=runs, total=max(plan["runs"], runs + done["remaining"]))
            if not done["remaining"] or not done["runs"]:
                break
    console.print(f"pruned {runs} runs ({events} events removed from the log)")


@dlq.command("list")
def dlq_list(
    url: UrlOption = None, all: Annotated[bool, typer.Option("--all", help="include replayed ones")] = False
) -> None:
    """Dead letters, newest first, with the queue they died on and why."""
    page = _call(url, "GET", "/api/v1/admin/dead-letters", params={"include_replayed": str(all).lower()})
    table = Table()
    for column in ("id", "queue", "reason", "received", "replayed", "body"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(
            str(item["id"]),
            item["queue"],
            item["reason"],
            item["received_at"],
            item["replayed_at"] or "",
            item["body"][:60],
        )
    console.print(table)


@dlq.command("replay")
def dlq_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="dead letter ids (default: all not yet replayed)")] = None,
    url: UrlOption = None,
) -> None:
    """Publish dead letters again to the queue they died on."""
    result = _call(url, "POST", "/api/v1/admin/dead-letters/replay", json={"ids": ids or []})
    console.print(f"replayed {len(result['replayed'])}; skipped {len(result['skipped'])}")
    for skipped in result["skipped"]:
        console.print(f"  {skipped['id']}: {skipped['reason']}")
