"""``flowtape``: run the platform, one service, or its operations from a terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flowtape.cli import (
    accounts,
    backups,
    debugging,
    lifecycle,
    node_reference,
    operations,
    pauses,
    projects,
    scaffold,
    sso,
    variables,
)
from flowtape.cli.client import ApiClient, ApiError, fail

app = typer.Typer(help="Flowtape: workflow automation with an event-sourced execution log.", no_args_is_help=True)
executions = typer.Typer(help="Inspect executions.", no_args_is_help=True)
app.add_typer(executions, name="executions")
operations.register(executions)
lifecycle.register(executions)
executions.add_typer(debugging.debug, name="debug")
app.add_typer(lifecycle.workflows, name="workflows")
app.add_typer(operations.admin, name="admin")
app.add_typer(variables.variables, name="variables")
accounts.register(app, operations.admin)
backups.register(operations.admin)
pauses.register(operations.admin)
app.add_typer(sso.sso, name="sso")
app.add_typer(projects.projects, name="projects")
nodes = typer.Typer(help="Write node types of your own (plugins).", no_args_is_help=True)
app.add_typer(nodes, name="nodes")
console = Console()

UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="where the SQLite files live")] = Path(".flowtape"),
    port: Annotated[int, typer.Option("--port")] = 8080,
    host: Annotated[str, typer.Option("--host", envvar="FLOWTAPE_HOST")] = "127.0.0.1",
) -> None:
    """Run the whole platform in one process: in-process bus, SQLite under DATA_DIR."""
    import uvicorn

    from flowtape.cli.hosts import embedded_app
    from flowtape.common.hosting import settle_heap
    from flowtape.common.logs import configure_logging
    from flowtape.common.settings import Settings
    from flowtape.common.telemetry import configure_tracing, shutdown_tracing

    settings = Settings(data_dir=data_dir, amqp_url=None)
    configure_logging("flowtape", settings.log_level, settings.log_format)
    configure_tracing("flowtape")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Flowtape[/] embedded, data in {settings.data_dir.resolve()}, API on http://{host}:{port}/api/v1"
    )
    app = embedded_app(settings)
    settle_heap()
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False)
    finally:
        shutdown_tracing()


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="gateway | auth | triggers | engine | connectors")],
) -> None:
    """Run one service against RabbitMQ (FLOWTAPE_AMQP_URL) and its database (FLOWTAPE_DATABASE_URL)."""
    import uvicorn

    from flowtape.cli.hosts import service_app
    from flowtape.common.hosting import settle_heap
    from flowtape.common.logs import configure_logging
    from flowtape.common.settings import SERVICES, Settings
    from flowtape.common.telemetry import configure_tracing, shutdown_tracing

    if service not in SERVICES:
        raise fail(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    settings = Settings()
    configure_logging(service, settings.log_level, settings.log_format)
    configure_tracing(service)
    port = settings.port_for(service)
    app = service_app(service, settings)
    settle_heap()
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,  # no banner naming the server and its version
        )
    finally:
        shutdown_tracing()


def _client(url: str | None) -> ApiClient:
    return ApiClient(url)


def _print_execution(execution: dict[str, Any]) -> None:
    table = Table(title=f"execution {execution['id']} — {execution['status']}")
    for column in ("node", "status", "attempts", "items in", "items out", "port", "error"):
        table.add_column(column)
    for node_id, node in execution["nodes"].items():
        table.add_row(
            node_id,
            node["status"],
            str(node["attempts"]),
            str(len(node["input"] or [])) if node["input"] is not None else "",
            str(len(node["output"] or [])) if node["output"] is not None else "",
            node.get("port") or "",
            (node.get("error") or "")[:80],
        )
    console.print(table)
    console.print_json(json.dumps(execution["output"]))
    if execution.get("error"):
        console.print(f"[red]{execution['error']}[/]")


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="a workflow definition (JSON)")],
    input: Annotated[str, typer.Option("--input", help="trigger items: a JSON object or list")] = "[]",
    url: UrlOption = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the run to finish")] = 60.0,
) -> None:
    """Save FILE as a workflow (a new version if one of that name exists), run it and show the result."""
    try:
        definition = json.loads(file.read_text())
        items = json.loads(input)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read the workflow or the input: {exc}") from None
    if isinstance(items, dict):
        items = [items]
    client = _client(url)
    try:
        existing = [w for w in _all_workflows(client) if w["name"] == definition.get("name")]
        if existing:
            workflow = client.call("PUT", f"/api/v1/workflows/{existing[0]['id']}", json=definition)
        else:
            workflow = client.call("POST", "/api/v1/workflows", json=definition)
        with console.status(f"running {workflow['name']} v{workflow['version']}…"):
            execution = client.call(
                "POST",
                f"/api/v1/workflows/{workflow['id']}/run",
                params={"wait": "true", "timeout": timeout},
                json={"input": items},
            )
    except ApiError as exc:
        raise fail(str(exc)) from None
    _print_execution(execution)
    if execution["status"] != "succeeded":
        raise typer.Exit(code=2)


def _all_workflows(client: ApiClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.call("GET", "/api/v1/workflows", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        found.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


@executions.command("show")
def show(execution_id: str, url: UrlOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """An execution's nodes, inputs, outputs and result."""
    try:
        execution = _client(url).call("GET", f"/api/v1/executions/{execution_id}")
    except ApiError as exc:
        raise fail(str(exc)) from None
    if as_json:
        console.print_json(json.dumps(execution))
    else:
        _print_execution(execution)


@executions.command("events")
def events(execution_id: str, url: UrlOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The execution's log, event by event."""
    try:
        log = _client(url).call("GET", f"/api/v1/executions/{execution_id}/events")
    except ApiError as exc:
        raise fail(str(exc)) from None
    if as_json:
        console.print_json(json.dumps(log))
        return
    table = Table(title=f"log of {execution_id}")
    for column in ("seq", "at", "type", "data"):
        table.add_column(column)
    for event in log["items"]:
        table.add_row(str(event["seq"]), event["at"], event["type"], json.dumps(event["data"])[:100])
    console.print(table)


@executions.command("list")
def list_executions(
    url: UrlOption = None,
    workflow_id: Annotated[str | None, typer.Option("--workflow-id")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    limit: int = 20,
) -> None:
    """The most recent executions."""
    params = {k: v for k, v in {"workflow_id": workflow_id, "status": status, "limit": limit}.items() if v}
    try:
        page = _client(url).call("GET", "/api/v1/executions", params=params)
    except ApiError as exc:
        raise fail(str(exc)) from None
    table = Table()
    for column in ("id", "workflow", "version", "status", "started", "finished"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(
            item["id"],
            item["workflow_id"],
            str(item["workflow_version"]),
            item["status"],
            item["started_at"] or "",
            item["finished_at"] or "",
        )
    console.print(table)


if __name__ == "__main__":
    app()


@nodes.command("new")
def new_node(
    name: Annotated[str, typer.Argument(help="the node type's name, e.g. acme-lookup")],
    directory: Annotated[Path, typer.Option("--dir", help="where to create the plugin")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing plugin directory")] = False,
) -> None:
    """Scaffold a plugin package: pyproject with the flowtape.nodes entry point, a node, a test."""
    try:
        root = scaffold.scaffold_plugin(name, directory, force=force)
    except (ValueError, FileExistsError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"created {root}")
    typer.echo(f"  test it:    cd {root} && pytest tests")
    typer.echo("  install it: pip install . in the connectors' environment, then restart them")


@nodes.command("table")
def node_table(
    write: Annotated[Path | None, typer.Option("--write", help="replace the table in this Markdown file")] = None,
) -> None:
    """The built-in node types as a Markdown table (docs/nodes.md keeps a copy)."""
    if write is None:
        typer.echo(node_reference.render_table(node_reference.builtin_catalog()))
        return
    try:
        node_reference.write_table(write)
    except (OSError, ValueError) as exc:
        raise fail(f"{write}: {exc}") from None
    typer.echo(f"updated the node table in {write}")
