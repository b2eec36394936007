"""The node catalog as the connectors publish it: what workflows are validated against."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from flowtape.common.errors import Unavailable

log = logging.getLogger("flowtape.engine")


class NodeCatalog:
    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}
        self._known = asyncio.Event()

    def replace(self, entries: list[dict[str, Any]]) -> None:
        self._entries = {entry["type"]: entry for entry in entries}
        self._known.set()

    def get(self, node_type: str) -> dict[str, Any] | None:
        return self._entries.get(node_type)

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
