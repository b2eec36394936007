"""How a workflow definition names its credentials: in a node's ``credential`` parameter, by id or by name.

An export rewrites ids to names (ids mean nothing on another platform) and an import maps names through the
caller's ``credentials_map``, both through :func:`with_credentials`.
"""

from __future__ import annotations

from typing import Any

#: the node parameter that names a credential
CREDENTIAL_PARAM = "credential"


def credential_names(definition: dict[str, Any]) -> list[str]:
    """The credentials a workflow's nodes name (by id or by name), in node order."""
    return [
        node["params"][CREDENTIAL_PARAM]
        for node in definition.get("nodes", [])
        if isinstance(node.get("params", {}).get(CREDENTIAL_PARAM), str)
    ]


def with_credentials(definition: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """``definition`` with each credential reference found in ``rename`` replaced; the rest, and the original,
    untouched."""
    nodes = []
    for node in definition.get("nodes", []):
        reference = node.get("params", {}).get(CREDENTIAL_PARAM)
        if isinstance(reference, str) and reference in rename:
            node = {**node, "params": {**node["params"], CREDENTIAL_PARAM: rename[reference]}}
        nodes.append(node)
    return {**definition, "nodes": nodes}
