"""The node catalog as the connectors publish it: what workflows are validated against.

A node type may have several versions (one class per version, the same ``type``): :attr:`NodeCatalog.entries`
holds the latest of each type, :meth:`NodeCatalog.version` finds any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from flowtape.common.errors import Unavailable

log = logging.getLogger("flowtape.engine")


class NodeCatalog:
    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}
        self._versions: dict[tuple[str, int], dict[str, Any]] = {}
        self._known = asyncio.Event()

    def replace(self, entries: list[dict[str, Any]]) -> None:
        versions = {(entry["type"], int(entry.get("version", 1))): entry for entry in entries}
        latest: dict[str, dict[str, Any]] = {}
        for (node_type, _version), entry in sorted(versions.items()):
            latest[node_type] = entry  # sorted by version: the last one wins
        self._versions = versions
        self._entries = latest
        self._known.set()

    def get(self, node_type: str) -> dict[str, Any] | None:
        return self._entries.get(node_type)

    def version(self, node_type: str, version: int) -> Mapping[str, Any] | None:
        return self._versions.get((node_type, version))

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        return self._entries

    async def wait(self, timeout: float) -> dict[str, dict[str, Any]]:
        try:
            await asyncio.wait_for(self._known.wait(), timeout)
        except TimeoutError:
            raise Unavailable(
                "the node catalog is not known yet: start a connectors worker (flowtape serve connectors)"
            ) from None
        return self._entries
