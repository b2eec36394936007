"""A webhook call in and its answer out (API.md, "Webhooks"): the items a request becomes, what expressions see of
it, its signature, and what the caller hears back once the run is done. :mod:`flowtape.gateway.webhooks` finds
the route and starts the run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowtape.common.errors import Unauthorized
from flowtape.common.messages.triggers import WebhookRoute
from flowtape.common.views import Execution

SIGNATURE_HEADER = "x-flowtape-signature"
#: credentials the caller sent are not copied into the execution log
_PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection"})


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """``X-Flowtape-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if header is None or not hmac.compare_digest(expected.encode(), header.strip().lower().encode()):
        raise Unauthorized(
            "missing or wrong webhook signature: send X-Flowtape-Signature: sha256=<hex HMAC-SHA256 of the body>"
        )


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str
    headers: Sequence[tuple[str, str]]
    query: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name), None)

    def items(self) -> list[dict[str, Any]]:
        """A JSON object body is the item, a JSON list of objects the items, anything else ``{"body": text}``."""
        if not self.body.strip():
            return []
        text = self.body.decode("utf-8", errors="replace")
        content_type = (self.header("content-type") or "").lower()
        if not content_type or "json" in content_type:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):  # the gateway refuses deep JSON before this; text it is
                value = None
            if isinstance(value, dict):
                return [value]
            if isinstance(value, list) and all(isinstance(item, dict) for item in value):
                return value
        return [{"body": text}]

    def metadata(self) -> dict[str, Any]:
        """What expressions see as ``request``: method, path, headers (lower-cased, without credentials), query."""
        query: dict[str, Any] = {}
        for key, value in self.query:
            if key in query:
                previous = query[key]
                query[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                query[key] = value
        headers = {key.lower(): value for key, value in self.headers if key.lower() not in _PRIVATE_HEADERS}
        return {"method": self.method.upper(), "path": self.path.strip("/"), "headers": headers, "query": query}


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: Any
    headers: Mapping[str, str]
    #: send ``body`` as it is (text) rather than as JSON
    raw: bool = False


def _respond_node_answer(route: WebhookRoute, execution: Execution) -> WebhookResponse | None:
    """The answer a ``respond`` node built: of those that ran, the one that finished last."""
    nodes = execution.nodes
    built = [
        nodes[node_id]
        for node_id in route.respond_nodes
        if node_id in nodes and nodes[node_id].status == "succeeded" and nodes[node_id].output
    ]
    if not built:
        return None
    answer = (max(built, key=lambda node: node.finished_at or "").output or [{}])[0]
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items() if str(k).lower() not in _HOP_BY_HOP}
    body = answer.get("body")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    raw = isinstance(body, str) and bool(content_type) and "json" not in content_type.lower()
    return WebhookResponse(status=int(answer.get("status") or 200), body=body, headers=headers, raw=raw)


def finished_answer(route: WebhookRoute, execution: Execution) -> WebhookResponse:
    """``respond: last_node``: the respond node's answer, else the output items (one item → that object).

    A run that did not succeed is reported by its id, status and failed node, not its error: the caller of a
    webhook may be anyone, and a node's error can tell of the systems behind it. The execution has the rest.
    """
    if execution.status != "succeeded":
        body = {
            "error": {
                "code": "execution_failed",
                "message": f"the workflow did not succeed ({execution.status}); "
                f"its execution {execution.id} has the details",
                "details": {"execution_id": execution.id, "failed_node": execution.failed_node},
            }
        }
        return WebhookResponse(status=500, body=body, headers={})
    built = _respond_node_answer(route, execution)
    if built is not None:
        return built
    output = execution.output
    return WebhookResponse(status=200, body=output[0] if len(output) == 1 else output, headers={})
