"""``flowtape variables``: a project's and a workflow's variables (``vars.NAME`` in expressions)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]
WorkflowOption = Annotated[
    str | None, typer.Option("--workflow", help="a workflow's own variable (default: the project's)")
]
ProjectOption = Annotated[
    str | None, typer.Option("--project", help="the project's variables (default: your default project)")
]

variables = typer.Typer(help="Variables: plain and secret, for a project or one workflow.", no_args_is_help=True)


def _path(name: str | None, workflow: str | None, project: str | None = None) -> str:
    base = f"/api/v1/workflows/{workflow}/variables" if workflow else "/api/v1/variables"
    path = f"{base}/{name}" if name else base
    return f"{path}?project_id={project}" if project and not workflow else path


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return ApiClient(url).call(method, path, **kwargs)
    except ApiError as exc:
        raise fail(str(exc)) from None


@variables.command("list")
def list_variables(
    workflow: WorkflowOption = None,
    project: ProjectOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    url: UrlOption = None,
) -> None:
    """List the variables; secret values are never shown (nor sent by the platform)."""
    found = _call(url, "GET", _path(None, workflow, project))["items"]
    if as_json:
        console.print_json(json.dumps(found))
        return
    table = Table()
    for column in ("name", "value", "updated"):
        table.add_column(column)
    for variable in found:
        value = "(secret)" if variable["secret"] else variable["value"]
        table.add_row(variable["name"], value, variable["updated_at"])
    console.print(table)


@variables.command("set")
def set_variable(
    name: str,
    value: Annotated[str | None, typer.Argument(help="the value; asked for (hidden) when left out")] = None,
    secret: Annotated[bool, typer.Option("--secret", help="encrypted at rest and never shown again")] = False,
    workflow: WorkflowOption = None,
    project: ProjectOption = None,
    url: UrlOption = None,
) -> None:
    """Create or replace a variable."""
    if value is None:
        value = typer.prompt(f"value of {name}", hide_input=secret)
    _call(url, "PUT", _path(name, workflow, project), json={"value": value, "secret": secret})
    console.print(
        f"set {'secret ' if secret else ''}variable {name}" + (f" of workflow {workflow}" if workflow else "")
    )


@variables.command("unset")
def unset_variable(
    name: str, workflow: WorkflowOption = None, project: ProjectOption = None, url: UrlOption = None
) -> None:
    """Remove a variable (runs that used it keep the value they recorded)."""
    _call(url, "DELETE", _path(name, workflow, project))
    console.print(f"unset variable {name}")
