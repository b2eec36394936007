"""The kill switch from a terminal: ``flowtape admin pause|resume [--workflow W]``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowtape.cli.client import ApiClient, ApiError, fail

UrlOption = Annotated[str | None, typer.Option("--url", help="gateway URL (default $FLOWTAPE_URL or :8080)")]
WorkflowOption = Annotated[str | None, typer.Option("--workflow", help="only this workflow's runs (default: all)")]


def _switch(url: str | None, workflow_id: str | None, action: str) -> None:
    path = f"/api/v1/workflows/{workflow_id}/{action}" if workflow_id else f"/api/v1/admin/{action}"
    try:
        state: dict[str, Any] = ApiClient(url).call("POST", path)
    except ApiError as exc:
        raise fail(str(exc)) from None
    paused = "all workflows" if state["all"] else (", ".join(state["workflows"]) or "nothing")
    typer.echo(f"paused now: {paused}")


def register(admin: typer.Typer) -> None:
    @admin.command("pause")
    def pause(workflow: WorkflowOption = None, url: UrlOption = None) -> None:
        """Stop new starts (they queue) and hold running runs at their next step."""
        _switch(url, workflow, "pause")

    @admin.command("resume")
    def resume(workflow: WorkflowOption = None, url: UrlOption = None) -> None:
        """Start the queued runs and let the held ones go on."""
        _switch(url, workflow, "resume")
