"""``/api/v1/nodes``: the node catalog, as the connectors publish it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowtape.common.messages.connectors import NodeCatalogEntry
from flowtape.gateway.deps import SIGNED_IN, PlatformDep, Viewer

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"], dependencies=SIGNED_IN)


@router.get("", response_model=list[NodeCatalogEntry])
async def list_node_types(platform: PlatformDep, _: Viewer) -> Any:
    return await platform.node_catalog()
