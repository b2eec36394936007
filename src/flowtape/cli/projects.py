"""``flowtape projects``: teams' projects and their members (issue 16)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the API's answer as JSON")]
ROLES = ("viewer", "operator", "editor", "admin")

projects = typer.Typer(help="Projects: what a team owns, and who is in it with which role.", no_args_is_help=True)
members = typer.Typer(help="The members of a project.", no_args_is_help=True)
projects.add_typer(members, name="members")


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return ApiClient(url).call(method, path, **kwargs)
    except ApiError as exc:
        raise fail(str(exc)) from None


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


@projects.command("list")
def list_projects(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Your projects and your role in each (every project, for a platform admin)."""
    found = _call(url, "GET", "/api/v1/projects")["items"]
    if as_json:
        console.print_json(json.dumps(found))
        return
    console.print(_table(("id", "name", "your role"), [(p["id"], p["name"], p.get("role") or "-") for p in found]))


@projects.command("create")
def create_project(name: str, as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Make a project (platform admins); you become its admin."""
    made = _call(url, "POST", "/api/v1/projects", json={"name": name})
    if as_json:
        console.print_json(json.dumps(made))
        return
    console.print(f"created project {made['name']} ({made['id']}): add members with `flowtape projects members add`")


@members.command("list")
def list_members(project: str, as_json: JsonOption = False, url: UrlOption = None) -> None:
    found = _call(url, "GET", f"/api/v1/projects/{project}/members")["items"]
    if as_json:
        console.print_json(json.dumps(found))
        return
    console.print(_table(("email", "role", "user id"), [(m["email"], m["role"], m["user_id"]) for m in found]))


@members.command("add")
def add_member(
    project: str,
    email: str,
    role: Annotated[str, typer.Option("--role", help=f"one of {', '.join(ROLES)}")] = "viewer",
    url: UrlOption = None,
) -> None:
    """Add someone who has an account (or give a member another role)."""
    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}")
    added = _call(url, "POST", f"/api/v1/projects/{project}/members", json={"email": email, "role": role})
    console.print(f"{added['email']} is {added['role']} in project {project}")


@members.command("remove")
def remove_member(project: str, user_id: str, url: UrlOption = None) -> None:
    """Take someone out: their sessions and keys lose the project within seconds."""
    removed = _call(url, "DELETE", f"/api/v1/projects/{project}/members/{user_id}")
    console.print(f"{removed['email']} is no longer in project {project}")


def _amount(value: int | None, unit: str = "") -> str:
    return "no limit" if value is None else f"{value:,}{unit}"


@projects.command("usage")
def show_usage(project: str, as_json: JsonOption = False, url: UrlOption = None) -> None:
    """A project's quotas beside what it uses now (its admins and platform admins)."""
    found = _call(url, "GET", f"/api/v1/projects/{project}/usage")
    if as_json:
        console.print_json(json.dumps(found))
        return
    _print_usage(found)


@projects.command("quotas")
def set_quotas(
    project: str,
    executions_per_day: Annotated[
        int | None, typer.Option("--executions-per-day", min=0, help="runs started per UTC day")
    ] = None,
    concurrent_runs: Annotated[
        int | None, typer.Option("--concurrent-runs", min=0, help="runs under way at once")
    ] = None,
    stored_bytes: Annotated[
        int | None, typer.Option("--stored-bytes", min=0, help="bytes the project's runs keep in the log")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Set a project's quotas (platform admins): each one left out has no limit; starts beyond one get 429."""
    body = {
        "executions_per_day": executions_per_day,
        "concurrent_runs": concurrent_runs,
        "stored_bytes": stored_bytes,
    }
    found = _call(url, "PUT", f"/api/v1/projects/{project}/quotas", json=body)
    if as_json:
        console.print_json(json.dumps(found))
        return
    _print_usage(found)


def _print_usage(found: dict[str, Any]) -> None:
    quotas, usage = found["quotas"], found["usage"]
    rows: list[tuple[str, ...]] = [
        ("executions today", f"{usage['executions_today']:,}", _amount(quotas.get("executions_per_day"))),
        ("concurrent runs", f"{usage['concurrent_runs']:,}", _amount(quotas.get("concurrent_runs"))),
        ("stored execution data", f"{usage['stored_bytes']:,} bytes", _amount(quotas.get("stored_bytes"), " bytes")),
    ]
    console.print(f"project {found['project_id']} (the day began {found['day_started_at']})")
    console.print(_table(("quota", "used", "limit"), rows))
