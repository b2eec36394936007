"""The only place an error becomes an HTTP status, in API.md's shape ``{"error": {code, message, details}}``.

A 500 never says more than that something failed on our side: its text (a peer's, the bus's or a bug's) goes to
the gateway's log. What peers say in a client's terms (404, 409, 422, ...) passes as they said it; what they or
the bus say about the platform's insides is rewritten before it gets here (:mod:`flowtape.gateway.peers`).
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowtape.common import errors
from flowtape.gateway.middleware import send_error

log = logging.getLogger("flowtape.gateway")

STATUS: dict[type[errors.FlowtapeError], int] = {
    errors.InvalidWorkflow: 422,
    errors.InvalidCredential: 422,
    errors.InvalidMessage: 500,
    errors.InvalidInput: 400,
    errors.Pruned: 410,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.TimedOut: 504,
    errors.Unavailable: 503,
    errors.NodeError: 422,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

INTERNAL_ERROR = "something went wrong on our side; the gateway log has details"


def status_of(error: errors.FlowtapeError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


class LastResort:
    """An error nothing else handled becomes API.md's 500, logged here. It sits inside the other middleware
    (Starlette's own error handler sits outside all of it), so that answer too carries the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:  # a streamed answer already began: all that is left is to cut it
                raise
            await send_error(send, 500, "internal_error", INTERNAL_ERROR)


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the request's path. A path may be served by several routes
    (one per method) and Starlette's own 405 names only the first one's; the document is what clients rely on."""
    patterns: list[tuple[re.Pattern[str], tuple[int, int], list[str]]] | None = getattr(
        request.app.state, "allowed", None
    )
    if patterns is None:
        patterns = []
        for template, operations in request.app.openapi().get("paths", {}).items():
            parts = re.split(r"(\{[^}]+\})", template)
            # a webhook path may hold slashes; any other parameter is one segment
            regex = "".join(
                (".+" if part == "{path}" else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
            )
            literal = sum(len(part) for part in parts if not part.startswith("{"))
            specificity = (sum(part.startswith("{") for part in parts), -literal)
            patterns.append((re.compile(f"^{regex}$"), specificity, sorted(m.upper() for m in operations)))
        request.app.state.allowed = patterns
    matching = [(rank, listed) for pattern, rank, listed in patterns if pattern.match(request.url.path)]
    if not matching:
        return []
    # the most literal template names the resource (/credentials/types, not /credentials/{credential_id})
    best = min(rank for rank, _ in matching)
    return sorted({method for rank, listed in matching if rank == best for method in listed})


def method_not_allowed(request: Request, methods: list[str]) -> JSONResponse:
    response = error_response(
        405, "method_not_allowed", f"{request.method} is not served here; try {', '.join(methods)}"
    )
    response.headers["Allow"] = ", ".join(methods)
    return response


def install(app: FastAPI) -> None:
    app.add_middleware(LastResort)

    @app.exception_handler(errors.FlowtapeError)
    async def flowtape_error(_: Request, exc: errors.FlowtapeError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            log.error("internal error answered as 500: %s: %s", exc.code, exc.message)
            return error_response(500, "internal_error", INTERNAL_ERROR)
        response = error_response(status, exc.code, exc.message, exc.details)
        if isinstance(exc, errors.Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        retry_hint = isinstance(exc, errors.RateLimited | errors.Unavailable) and isinstance(exc.details, dict)
        if retry_hint and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(int(exc.details["retry_after"]))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in error["loc"]), "message": error["msg"]} for error in exc.errors()]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        return error_response(
            422, "validation_error", f"invalid request: {first['field']}: {first['message']}", details
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: Allow lists what the resource takes, over every route of the path
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", INTERNAL_ERROR)
