"""Workflow lifecycle from a terminal: export and import workflows, compare two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]

workflows = typer.Typer(help="Workflows: export, import, duplicate.", no_args_is_help=True)


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return ApiClient(url).call(method, path, **kwargs)
    except ApiError as exc:
        raise fail(str(exc)) from None


def parse_items(text: str, option: str) -> Any:
    """Items given as JSON on the command line: an object is one item."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise fail(f"{option} is not JSON: {exc}") from None
    return [parsed] if isinstance(parsed, dict) else parsed


def _brief(value: Any, width: int = 40) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def register(executions: typer.Typer) -> None:
    """Add ``flowtape executions diff``."""

    @executions.command("diff")
    def diff(
        a: str,
        b: str,
        as_json: Annotated[bool, typer.Option("--json", help="the whole diff as JSON")] = False,
        url: UrlOption = None,
    ) -> None:
        """Compare run A with run B node by node; exit 1 when they differ."""
        result = _call(url, "GET", f"/api/v1/executions/{a}/diff/{b}")
        if as_json:
            console.print_json(json.dumps(result))
        else:
            _print_diff(result)
        if not result["same"]:
            raise typer.Exit(code=1)


def _print_diff(result: dict[str, Any]) -> None:
    left, right = result["a"], result["b"]
    console.print(f"a: {left['id']} v{left['workflow_version']} {left['status']}")
    console.print(f"b: {right['id']} v{right['workflow_version']} {right['status']}")
    if result["same"]:
        console.print("the runs are the same")
        return
    paths = result["paths"]
    if paths["diverged_at"]:
        console.print(f"paths diverged at [bold]{paths['diverged_at']}[/] (common: {' → '.join(paths['common'])})")
    table = Table()
    for column in ("node", "what", "path", "a", "b"):
        table.add_column(column)
    for node_id in result["changed_nodes"]:
        node = result["nodes"][node_id]
        if node["in"] != "both":
            table.add_row(node_id, f"only in {node['in']}", "", "", "")
        for field in ("status", "port", "error", "attempts"):
            if field in node:
                table.add_row(node_id, field, "", _brief(node[field]["a"]), _brief(node[field]["b"]))
        for field in ("input", "output"):
            for change in (node.get(field) or {}).get("changes", []):
                table.add_row(node_id, field, change["path"], _brief(change["a"]), _brief(change["b"]))
    console.print(table)


@workflows.command("export")
def export(
    ids: Annotated[list[str] | None, typer.Argument(help="workflow ids (default: every workflow)")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="the file to write ('-' for the terminal)")] = Path(
        "-"
    ),
    url: UrlOption = None,
) -> None:
    """Write workflows to a JSON file; credentials are named, never exported."""
    params = {"ids": ids} if ids else {}
    document = _call(url, "GET", "/api/v1/workflows/export", params=params)
    text = json.dumps(document, indent=2)
    if str(output) == "-":
        typer.echo(text)
        return
    output.write_text(text + "\n")
    console.print(f"exported {len(document['workflows'])} workflow(s) to {output}", highlight=False)
    for credential in document["credentials"]:
        console.print(f"  needs credential {credential['name']!r} ({credential['type']})", highlight=False)


@workflows.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="a file written by `flowtape workflows export`")],
    credential: Annotated[
        list[str] | None, typer.Option("--credential", help="OLD=NEW: use credential NEW where the file names OLD")
    ] = None,
    as_copy: Annotated[bool, typer.Option("--as-copy", help="make new workflows even if they exist here")] = False,
    url: UrlOption = None,
) -> None:
    """Read workflows from a file; importing the same file again changes nothing."""
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    mapping = {}
    for pair in credential or []:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise fail(f"--credential takes OLD=NEW, not {pair!r}")
        mapping[old] = new
    document["credentials_map"] = {**document.get("credentials_map", {}), **mapping}
    report = _call(url, "POST", "/api/v1/workflows/import", params={"as_copy": str(as_copy).lower()}, json=document)
    for item in report["items"]:
        console.print(f"{item['outcome']:>9}  {item['id']}  v{item['version']}  {item['name']}", highlight=False)
    if report["missing_credentials"]:
        names = ", ".join(report["missing_credentials"])
        console.print(f"[yellow]credentials missing here: {names}[/] (create them, or map with --credential)")


@workflows.command("duplicate")
def duplicate(workflow_id: str, name: Annotated[str | None, typer.Option()] = None, url: UrlOption = None) -> None:
    """A new, inactive copy of a workflow."""
    body = {"name": name} if name else {}
    workflow = _call(url, "POST", f"/api/v1/workflows/{workflow_id}/duplicate", json=body)
    console.print(f"created {workflow['id']} {workflow['name']}", highlight=False)


@workflows.command("test-step")
def test_step(
    workflow_id: str,
    node_id: str,
    items: Annotated[str | None, typer.Option("--items", help="JSON items (an object is one item)")] = None,
    execution: Annotated[str | None, typer.Option("--execution", help="take the node's input from this run")] = None,
    url: UrlOption = None,
) -> None:
    """Run one node now, with given items or a past run's input; no execution is started."""
    body: dict[str, Any] = {}
    if items is not None:
        body["items"] = parse_items(items, "--items")
    if execution is not None:
        body["execution_id"] = execution
    result = _call(url, "POST", f"/api/v1/workflows/{workflow_id}/nodes/{node_id}/test", json=body)
    console.print_json(json.dumps({k: result[k] for k in ("status", "ports", "error")}))
    if result["status"] != "succeeded":
        raise typer.Exit(code=1)


@workflows.command("pin")
def pin(
    workflow_id: str,
    node_id: str,
    items: Annotated[str, typer.Option("--items", help="JSON items (an object is one item)")],
    port: Annotated[str, typer.Option("--port", help="the port they leave by")] = "main",
    url: UrlOption = None,
) -> None:
    """Pin a node's output in the draft: test runs and test-step use it instead of running the node."""
    body = {"items": parse_items(items, "--items"), "port": port}
    _call(url, "PUT", f"/api/v1/workflows/{workflow_id}/pins/{node_id}", json=body)
    console.print(f"pinned the output of {node_id}")


@workflows.command("unpin")
def unpin(workflow_id: str, node_id: str, url: UrlOption = None) -> None:
    """Remove a node's pinned output: test runs run the node again."""
    _call(url, "DELETE", f"/api/v1/workflows/{workflow_id}/pins/{node_id}")
    console.print(f"unpinned the output of {node_id}")


@workflows.command("test-run")
def test_run(
    workflow_id: str,
    input_items: Annotated[str | None, typer.Option("--input", help="JSON trigger items")] = None,
    url: UrlOption = None,
) -> None:
    """Run the workflow as the editor's test does (pinned outputs stand in for their nodes) and wait for it."""
    body = {"input": parse_items(input_items, "--input") if input_items else [], "test": True}
    result = _call(url, "POST", f"/api/v1/workflows/{workflow_id}/run", params={"wait": "true"}, json=body)
    console.print_json(json.dumps({k: result[k] for k in ("id", "status", "output")}))
    if result["status"] != "succeeded":
        raise typer.Exit(code=1)
