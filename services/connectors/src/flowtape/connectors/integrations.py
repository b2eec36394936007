"""The integration node types (databases, queues, mail, chat, AI, storage, SaaS APIs), on shared connections."""

from __future__ import annotations

from typing import Any

from flowtape.common.nodes.sdk import NodeType
from flowtape.connectors.connections import Connections


def integration_nodes(connections: Connections) -> list[NodeType[Any]]:
    return []
