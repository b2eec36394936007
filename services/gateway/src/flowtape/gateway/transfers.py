"""Workflows out to a file and back in: the file names credentials, never holds their data.

Nodes refer to a credential by id or name in their ``credential`` parameter. An export writes each such
reference as the credential's *name* (ids mean nothing on another platform) and lists the names and types the
workflows need; an import maps names through ``credentials_map`` and reports the ones this platform lacks.
Each workflow keeps the id it was exported with, so importing the same file twice gives the same workflows
(see :class:`flowtape.common.messages.engine.ImportWorkflow`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flowtape.common.messages import engine as msg
from flowtape.gateway.access import Owners
from flowtape.gateway.clients import Platform
from flowtape.gateway.domain.access import Access
from flowtape.gateway.domain.credential_references import credential_names, with_credentials
from flowtape.gateway.schemas import WorkflowImport
from flowtape.gateway.vault import VaultClient

_EXPORTED_KEYS = ("name", "nodes", "edges", "settings", "tags")


class WorkflowTransfers:
    def __init__(self, platform: Platform, vault: VaultClient, owners: Owners) -> None:
        self._platform = platform
        self._vault = vault
        self._owners = owners

    async def _credentials(self, project_ids: list[str] | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self._vault.list(500, cursor, project_ids)
            found.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    async def _all_workflow_ids(self, project_ids: list[str] | None) -> list[str]:
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = await self._platform.ask(msg.ListWorkflows(limit=500, cursor=cursor, project_ids=project_ids))
            ids.extend(item["id"] for item in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return ids

    async def export(
        self, workflow_ids: list[str] | None, reach: Access, project_ids: list[str] | None
    ) -> dict[str, Any]:
        """The workflows named (all of ``project_ids`` when None), their latest versions, credentials by name.
        A named workflow the caller may not see is 404, as anywhere else."""
        if workflow_ids is not None:
            for workflow_id in workflow_ids:
                await self._owners.check(reach, "workflow", workflow_id, "viewer")
        else:
            workflow_ids = await self._all_workflow_ids(project_ids)
        credentials = await self._credentials(reach.visible())
        by_id = {c["id"]: c for c in credentials}
        by_name = {c["name"]: c for c in credentials}
        to_name = {c["id"]: c["name"] for c in credentials}
        exported, needed = [], {}
        for workflow_id in workflow_ids:
            workflow = await self._platform.ask(msg.GetWorkflow(workflow_id=workflow_id))
            definition = with_credentials({k: workflow[k] for k in _EXPORTED_KEYS if workflow.get(k)}, to_name)
            for name in credential_names(definition):
                known = by_name.get(name) or by_id.get(name)
                needed[name] = {"name": name, "type": known["type"] if known else "unknown"}
            exported.append({"id": workflow["id"], "definition": definition})
        return {
            "format": "flowtape.workflows",
            "format_version": 1,
            "exported_at": datetime.now(UTC).isoformat(),
            "workflows": exported,
            "credentials": sorted(needed.values(), key=lambda c: c["name"]),
        }

    async def import_(self, body: WorkflowImport, as_copy: bool, reach: Access, project_id: str) -> dict[str, Any]:
        """Every workflow of the file, credentials renamed as ``credentials_map`` says; all are validated by the
        engine, one at a time (a bad one stops the import with the workflows before it in). New workflows go
        into ``project_id``; one already here stays where it is, and only where the caller edits."""
        credentials = await self._credentials([project_id])
        editable = reach.projects_with("editor")
        known = {c["name"] for c in credentials} | {c["id"] for c in credentials}
        items: list[dict[str, Any]] = []
        missing: set[str] = set()
        for exported in body.workflows:
            definition = with_credentials(exported.definition, body.credentials_map)
            missing.update(name for name in credential_names(definition) if name not in known)
            result = await self._platform.ask(
                msg.ImportWorkflow(
                    workflow_id=exported.id,
                    definition=definition,
                    as_copy=as_copy,
                    project_id=project_id,
                    project_ids=editable,
                    actor=reach.actor(),
                )
            )
            workflow = result["workflow"]
            items.append(
                {
                    "source_id": str(exported.id),
                    "id": workflow["id"],
                    "name": workflow["name"],
                    "version": workflow["version"],
                    "outcome": result["outcome"],
                }
            )
        return {"items": items, "missing_credentials": sorted(missing)}
