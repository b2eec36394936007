"""Debug runs from a terminal: start a run that stops at breakpoints, edit the paused node's input, step, continue."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]

debug = typer.Typer(help="Debug runs: stop before nodes, inspect, edit input, step or continue.", no_args_is_help=True)


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return ApiClient(url).call(method, path, **kwargs)
    except ApiError as exc:
        raise fail(str(exc)) from None


def _items(text: str, what: str) -> list[Any]:
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise fail(f"{what} is not JSON: {exc}") from None
    return [items] if isinstance(items, dict) else items


def _where(execution: dict[str, Any]) -> None:
    paused = (execution.get("debug") or {}).get("paused_at")
    if paused:
        node = execution["nodes"].get(paused["node"], {})
        console.print(f"{execution['id']}: paused before [bold]{paused['node']}[/] ({paused['reason']})")
        console.print_json(json.dumps({"input": node.get("input")}))
    else:
        console.print(f"{execution['id']}: {execution['status']}")


@debug.command("start")
def start(
    workflow_id: str,
    breakpoint: Annotated[list[str] | None, typer.Option("--break", help="stop before this node (repeat)")] = None,
    when: Annotated[
        list[str] | None, typer.Option("--when", help="NODE=EXPRESSION: stop before NODE when it holds for an item")
    ] = None,
    input: Annotated[str, typer.Option("--input", help="trigger items: a JSON object or list")] = "[]",
    url: UrlOption = None,
) -> None:
    """Start WORKFLOW_ID in debug mode; prints the new execution's id."""
    conditions: dict[str, str] = {}
    for rule in when or []:
        node, sep, expression = rule.partition("=")
        if not sep or not node or not expression:
            raise fail(f"--when takes NODE=EXPRESSION, not {rule!r}")
        conditions[node] = expression
    body = {"input": _items(input, "--input"), "debug": {"breakpoints": breakpoint or [], "conditions": conditions}}
    started = _call(url, "POST", f"/api/v1/workflows/{workflow_id}/run", json=body)
    typer.echo(started["execution_id"])


@debug.command("input")
def edit_input(
    execution_id: str,
    items: Annotated[str, typer.Option("--items", help="the paused node's new input: a JSON object or list")],
    url: UrlOption = None,
) -> None:
    """Replace the input of the node the run is paused before."""
    body = {"input": _items(items, "--items")}
    _where(_call(url, "POST", f"/api/v1/executions/{execution_id}/debug/input", json=body))


@debug.command("step")
def step(execution_id: str, url: UrlOption = None) -> None:
    """Run the paused node and stop before the next one."""
    _where(_call(url, "POST", f"/api/v1/executions/{execution_id}/debug/step"))


@debug.command("continue")
def continue_(execution_id: str, url: UrlOption = None) -> None:
    """Run on to the next breakpoint or the end."""
    _where(_call(url, "POST", f"/api/v1/executions/{execution_id}/debug/continue"))
