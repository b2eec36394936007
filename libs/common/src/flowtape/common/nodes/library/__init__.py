"""The built-in data node library: pure nodes (no I/O; the engine evaluates them inline) by theme.

Each module holds one theme and exports a tuple of its node types; :data:`LIBRARY_NODES` is all of them, in
the order the catalog documents them. The one node of the library that needs a credential (``hmac``) runs in
the connectors and lives there.
"""

from __future__ import annotations

from typing import Any

from flowtape.common.nodes.library.aggregation import AGGREGATION_NODES
from flowtape.common.nodes.library.conversion import CONVERSION_NODES
from flowtape.common.nodes.library.csv_text import CSV_NODES
from flowtape.common.nodes.library.dates import DATE_NODES
from flowtape.common.nodes.library.encoding import ENCODING_NODES
from flowtape.common.nodes.library.filtering import FILTER_NODES
from flowtape.common.nodes.library.generators import GENERATOR_NODES
from flowtape.common.nodes.library.html_pages import HTML_NODES
from flowtape.common.nodes.library.objects import OBJECT_NODES
from flowtape.common.nodes.library.schemas import SCHEMA_NODES
from flowtape.common.nodes.library.sorting import SORTING_NODES
from flowtape.common.nodes.library.text import TEXT_NODES
from flowtape.common.nodes.library.xml_documents import XML_NODES
from flowtape.common.nodes.sdk import NodeType

__all__ = ["LIBRARY_NODES"]

LIBRARY_NODES: tuple[type[NodeType[Any]], ...] = (
    *FILTER_NODES,
    *SORTING_NODES,
    *AGGREGATION_NODES,
    *OBJECT_NODES,
    *CONVERSION_NODES,
    *SCHEMA_NODES,
    *TEXT_NODES,
    *DATE_NODES,
    *ENCODING_NODES,
    *GENERATOR_NODES,
    *CSV_NODES,
    *XML_NODES,
    *HTML_NODES,
)
