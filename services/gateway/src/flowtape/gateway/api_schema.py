"""The OpenAPI document says what every operation may answer besides its success: API.md's error shape.

FastAPI documents a route's success and a 422 in its own ``{"detail": [...]}`` shape, which the gateway never
sends. Every API and webhook operation may also meet the answers the gateway gives on any route (401 without
valid credentials, 429 over a rate limit, 413 for a body over the limit, 503/504 when a peer service is away or
slow), so each is documented on each operation, with the one error schema (``Error``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case, e.g. not_found, rate_limited"},
                "message": {"type": "string", "description": "a human sentence"},
                "details": {"description": "what the code needs: the fields at fault, retry_after, ..."},
            },
        }
    },
}

#: answered by any operation: refusals of the edge, and the platform's own trouble
_ALWAYS = {
    400: "the request is malformed",
    404: "no such resource (or one the caller may not see)",
    413: "the body is over the limit (FLOWTAPE_MAX_BODY_BYTES)",
    422: "the input fails validation; details name the fields",
    429: "over a rate limit; Retry-After says when to try again",
    503: "a service the answer needs is unavailable",
    504: "a service the answer needs did not answer in time",
}
_SIGNED_IN = {401: "no valid credentials", 403: "the caller's role does not allow this"}
_WRITES = {409: "the change conflicts with the current state"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the error answers on every operation under ``/api`` and ``/hooks``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(("/api/", "/hooks/")):
                continue
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                errors = {**_ALWAYS, **_SIGNED_IN, **(_WRITES if method != "get" else {})}
                for status, description in errors.items():
                    existing = responses.get(str(status))
                    documented = existing.get("description") if isinstance(existing, dict) else None
                    responses[str(status)] = _error(documented if documented and status != 422 else description)
        if '"#/components/schemas/HTTPValidationError"' not in json.dumps(schema["paths"]):
            for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's shape, which we never send
                schema["components"]["schemas"].pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
