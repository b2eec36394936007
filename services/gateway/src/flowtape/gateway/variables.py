"""The gateway's side of variables: a secret value is sealed to the connectors' key before it goes on the bus
(as credential data is); a workflow's variables are refused for a workflow that does not exist."""

from __future__ import annotations

from typing import Any

from flowtape.common.messages import engine
from flowtape.common.messages import variables as msg
from flowtape.common.messages.auth import Actor
from flowtape.gateway.clients import Platform
from flowtape.gateway.vault import VaultClient


class VariablesClient:
    def __init__(self, platform: Platform, vault: VaultClient) -> None:
        self._platform = platform
        self._vault = vault

    async def _known(self, workflow_id: str | None) -> None:
        if workflow_id is not None:
            await self._platform.ask(engine.GetWorkflow(workflow_id=workflow_id))  # NotFound when there is none

    async def list(self, workflow_id: str | None) -> Any:
        await self._known(workflow_id)
        return await self._platform.ask(msg.ListVariables(workflow_id=workflow_id))

    async def set(self, name: str, value: str, *, secret: bool, workflow_id: str | None, actor: Actor | None) -> Any:
        await self._known(workflow_id)
        if not secret:
            return await self._platform.ask(
                msg.SetVariable(name=name, workflow_id=workflow_id, value=value, actor=actor)
            )
        return await self._vault.ask_sealed(
            lambda sealed: msg.SetVariable(
                name=name, workflow_id=workflow_id, secret=True, sealed_value=sealed, actor=actor
            ),
            {"value": value},
        )

    async def unset(self, name: str, *, workflow_id: str | None, actor: Actor | None) -> Any:
        await self._known(workflow_id)
        return await self._platform.ask(msg.UnsetVariable(name=name, workflow_id=workflow_id, actor=actor))
