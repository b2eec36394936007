"""Accounts from a terminal: ``flowtape login``, ``flowtape admin create-user`` and ``flowtape admin rotate-keys``.

The admin commands reach auth one of two ways:

- ``--via bus`` (the default when ``FLOWTAPE_AMQP_URL`` is set): straight to the auth service over RabbitMQ, as
  the other services do. No account is needed — whoever can reach the broker already runs the platform — so it
  creates the first admin of a distributed platform and recovers one whose admins are all locked out. The
  password is sealed to auth's key before it is sent, as the gateway does.
- ``--via api`` (otherwise, e.g. the embedded ``flowtape up``): through the gateway like every other command. The
  first admin is made with ``/auth/setup``; after that it needs an admin's token in ``FLOWTAPE_TOKEN``.

Passwords are read from a hidden prompt or, for scripts, the first line of standard input
(``--password-stdin``): never from an option, which would leave them in the shell history and ``ps``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from flowtape.cli.client import ApiClient, ApiError, fail

console = Console()
UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]
Via = Literal["bus", "api"]
ViaOption = Annotated[
    str | None,
    typer.Option(
        "--via",
        help="bus (RabbitMQ, no account needed) or api (the gateway); default: bus when FLOWTAPE_AMQP_URL is set",
    ),
]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="read the password from standard input")]


def _password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    else:
        raise fail("no terminal to ask for the password on: pass it on standard input with --password-stdin")
    if not password:
        raise fail("the password is empty")
    return password


def _via(value: str | None) -> Via:
    if value is None:
        return "bus" if os.environ.get("FLOWTAPE_AMQP_URL") else "api"
    if value not in ("bus", "api"):
        raise fail("--via is bus or api")
    return value  # type: ignore[return-value]


async def _over_bus(make: Any) -> Any:
    """Ask auth over RabbitMQ: ``make(public_keys)`` builds the message (it may seal a password with them)."""
    from flowtape.common.bus.factory import rabbit_bus
    from flowtape.common.messages.auth import GetPublicKeys, PublicKeySet
    from flowtape.common.settings import Settings

    bus = rabbit_bus(Settings().amqp_url, "cli")
    await bus.start()
    try:
        keys = PublicKeySet.model_validate(await bus.ask(GetPublicKeys(), timeout=15))
        return await bus.ask(make(keys), timeout=30)
    finally:
        await bus.stop()


def _cli_actor() -> Any:
    from flowtape.common.messages.auth import Actor

    return Actor(kind="cli", client_address=f"cli@{socket.gethostname()}"[:64])


def _run_over_bus(make: Any) -> Any:
    from flowtape.common.errors import FlowtapeError

    try:
        return asyncio.run(_over_bus(make))
    except FlowtapeError as exc:
        raise fail(f"{exc.message} ({exc.code})") from None


def register(app: typer.Typer, admin: typer.Typer) -> None:
    @app.command()
    def login(
        email: Annotated[str, typer.Option("--email", prompt=True)],
        password_stdin: PasswordStdin = False,
        url: UrlOption = None,
    ) -> None:
        """Sign in and print an access token: ``export FLOWTAPE_TOKEN=$(flowtape login --email ...)``."""
        password = _password(password_stdin, confirm=False)
        try:
            granted = ApiClient(url).call("POST", "/api/v1/auth/login", json={"email": email, "password": password})
        except ApiError as exc:
            raise fail(str(exc)) from None
        typer.echo(granted["access_token"])

    @admin.command("create-user")
    def create_user(
        email: Annotated[str, typer.Option("--email", help="the new user's email")],
        role: Annotated[str, typer.Option("--role", help="admin | editor | operator | viewer")] = "admin",
        password_stdin: PasswordStdin = False,
        via: ViaOption = None,
        url: UrlOption = None,
    ) -> None:
        """Create a user (the first admin of a new platform, or anyone later)."""
        from flowtape.common.messages.auth import ROLES, CreateUser

        if role not in ROLES:
            raise fail(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        password = _password(password_stdin, confirm=True)
        if _via(via) == "bus":
            from flowtape.gateway.security import seal

            user = _run_over_bus(
                lambda keys: CreateUser(
                    email=email, sealed_password=seal(password, keys), role=role, actor=_cli_actor()
                )
            )
        else:
            user = _create_user_via_api(email, password, role, url)
        console.print(f"created {user['role']} {user['email']} ({user['id']})")

    @admin.command("rotate-keys")
    def rotate_keys(via: ViaOption = None, url: UrlOption = None) -> None:
        """Sign new tokens with a new key; tokens signed before stay valid until they expire."""
        from flowtape.common.messages.auth import RotateKeys

        if _via(via) == "bus":
            keys = _run_over_bus(lambda _: RotateKeys(actor=_cli_actor()))
        else:
            try:
                keys = ApiClient(url).call("POST", "/api/v1/auth/keys/rotate")
            except ApiError as exc:
                raise fail(str(exc)) from None
        published = [k["jwk"]["kid"] for k in keys["keys"] if k["jwk"].get("use") == "sig"]
        console.print(f"rotated: signing keys now published: {', '.join(published)}")


def _create_user_via_api(email: str, password: str, role: str, url: str | None) -> Any:
    client = ApiClient(url)
    body = {"email": email, "password": password}
    try:
        if not os.environ.get("FLOWTAPE_TOKEN"):
            if role != "admin":
                raise fail("only the first admin can be created without signing in; set FLOWTAPE_TOKEN")
            return client.call("POST", "/api/v1/auth/setup", json=body)
        return client.call("POST", "/api/v1/users", json={**body, "role": role})
    except ApiError as exc:
        message = str(exc)
        if "HTTP 409" in message and not os.environ.get("FLOWTAPE_TOKEN"):
            message += "; to add users, sign in as an admin: export FLOWTAPE_TOKEN=$(flowtape login --email ...)"
        raise fail(message) from None
