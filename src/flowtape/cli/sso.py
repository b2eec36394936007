"""Single sign-on providers from a terminal (``flowtape sso ...``), through the gateway as an admin
(``FLOWTAPE_TOKEN``). Client secrets are read from standard input, never from an option (shell history, ``ps``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]
SecretStdin = Annotated[
    bool, typer.Option("--client-secret-stdin", help="read the client secret from the first line of standard input")
]
Grants = Annotated[
    list[str] | None, typer.Option("--grant", help="GROUP=ROLE: members of the provider's group get the role")
]

sso = typer.Typer(help="Single sign-on: OpenID Connect and GitHub providers, require-SSO.", no_args_is_help=True)


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return ApiClient(url).call(method, path, **kwargs)
    except ApiError as exc:
        raise fail(str(exc)) from None


def _grants(values: list[str] | None) -> list[dict[str, str]] | None:
    if values is None:
        return None
    grants = []
    for value in values:
        group, sep, role = value.rpartition("=")
        if not sep or not group or not role:
            raise fail(f"--grant takes GROUP=ROLE, not {value!r}")
        grants.append({"group": group, "role": role})
    return grants


def _secret() -> str:
    secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise fail("the client secret is empty")
    return secret


@sso.command("list")
def list_providers(url: UrlOption = None) -> None:
    """The providers, whether each is enabled, and the require-SSO setting."""
    providers = _call(url, "GET", "/api/v1/auth/sso/providers")["items"]
    settings = _call(url, "GET", "/api/v1/auth/sso/settings")
    table = Table("name", "kind", "enabled", "client id", "grants", "default role")
    for p in providers:
        grants = ", ".join(f"{g['group']}={g['role']}" for g in p["grants"])
        table.add_row(p["name"], p["kind"], str(p["enabled"]), p["client_id"], grants, str(p["default_role"]))
    console.print(table)
    console.print(f"require SSO: {'on' if settings['require_sso'] else 'off'}")


@sso.command("add")
def add(
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="oidc or github")] = "oidc",
    client_id: Annotated[str, typer.Option("--client-id")] = "",
    client_secret_stdin: SecretStdin = False,
    discovery_url: Annotated[str | None, typer.Option("--discovery-url", help="OpenID Connect")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="google or microsoft")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Microsoft's tenant (common)")] = None,
    display_name: Annotated[str | None, typer.Option("--display-name")] = None,
    github_url: Annotated[str | None, typer.Option("--github-url", help="GitHub Enterprise Server")] = None,
    api_url: Annotated[str | None, typer.Option("--api-url", help="GitHub Enterprise Server's API")] = None,
    grant: Grants = None,
    default_role: Annotated[
        str | None, typer.Option("--default-role", help="role of new accounts no grant matched")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Add a provider; register <gateway>/api/v1/auth/sso/NAME/callback at it as the redirect URI."""
    if not client_secret_stdin:
        raise fail("pass the client secret on standard input with --client-secret-stdin")
    body: dict[str, Any] = {"name": name, "kind": kind, "client_id": client_id, "client_secret": _secret()}
    optional = {
        "discovery_url": discovery_url,
        "preset": preset,
        "tenant": tenant,
        "display_name": display_name,
        "github_url": github_url,
        "api_url": api_url,
        "grants": _grants(grant),
        "default_role": default_role,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    created = _call(url, "POST", "/api/v1/auth/sso/providers", json=body)
    console.print(f"added {created['kind']} provider {created['name']} ({created['display_name']})")


@sso.command("update")
def update(
    name: str,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
    client_secret_stdin: SecretStdin = False,
    grant: Grants = None,
    default_role: Annotated[str | None, typer.Option("--default-role", help="a role, or none: no sign-ups")] = None,
    url: UrlOption = None,
) -> None:
    """Enable or disable a provider, replace its secret, its grants or its default role."""
    body: dict[str, Any] = {}
    if enabled is not None:
        body["enabled"] = enabled
    if client_secret_stdin:
        body["client_secret"] = _secret()
    if grant is not None:
        body["grants"] = _grants(grant)
    if default_role is not None:
        body["default_role"] = None if default_role == "none" else default_role
    changed = _call(url, "PATCH", f"/api/v1/auth/sso/providers/{name}", json=body)
    console.print(f"updated {changed['name']} (enabled: {changed['enabled']})")


@sso.command("remove")
def remove(name: str, url: UrlOption = None) -> None:
    """Remove a provider; its accounts stay."""
    _call(url, "DELETE", f"/api/v1/auth/sso/providers/{name}")
    console.print(f"removed {name}")


@sso.command("require")
def require(state: Annotated[str, typer.Argument(help="on or off")], url: UrlOption = None) -> None:
    """on: password sign-in is refused to everyone but the first admin (break-glass)."""
    if state not in ("on", "off"):
        raise fail("say on or off")
    _call(url, "PUT", "/api/v1/auth/sso/settings", json={"require_sso": state == "on"})
    console.print(f"require SSO: {state}")
