"""The gateway's side of variables: a secret value is sealed to the connectors' key before it goes on the bus
(as credential data is)."""

from __future__ import annotations

from typing import Any

from flowtape.common.messages import variables as msg
from flowtape.common.messages.auth import Actor
from flowtape.gateway.clients import Platform
from flowtape.gateway.vault import VaultClient


class VariablesClient:
    """``project_id`` is the project whose variables these are (a workflow's own: the workflow's project); the
    routes have checked the caller's role there and that the workflow exists."""

    def __init__(self, platform: Platform, vault: VaultClient) -> None:
        self._platform = platform
        self._vault = vault

    async def list(self, workflow_id: str | None, project_id: str) -> Any:
        return await self._platform.ask(msg.ListVariables(workflow_id=workflow_id, project_id=project_id))

    async def set(
        self, name: str, value: str, *, secret: bool, workflow_id: str | None, project_id: str, actor: Actor | None
    ) -> Any:
        if not secret:
            return await self._platform.ask(
                msg.SetVariable(name=name, workflow_id=workflow_id, project_id=project_id, value=value, actor=actor)
            )
        return await self._vault.ask_sealed(
            lambda sealed: msg.SetVariable(
                name=name,
                workflow_id=workflow_id,
                project_id=project_id,
                secret=True,
                sealed_value=sealed,
                actor=actor,
            ),
            {"value": value},
        )

    async def unset(self, name: str, *, workflow_id: str | None, project_id: str, actor: Actor | None) -> Any:
        return await self._platform.ask(
            msg.UnsetVariable(name=name, workflow_id=workflow_id, project_id=project_id, actor=actor)
        )
