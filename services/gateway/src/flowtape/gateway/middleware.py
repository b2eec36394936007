"""ASGI middleware of the public surface: rate limits, request limits, security headers and request metrics.

Order, outermost first (see :func:`flowtape.gateway.app.configure`): security headers, metrics, the console's session
cookie, rate limits, request limits, then the last-resort error handler of :mod:`flowtape.gateway.errors`; so
every answer, a refusal or a 500 included, carries the security headers and is counted.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowtape.common.errors import RateLimited
from flowtape.gateway.domain.bodies import is_json, json_text_depth, nul_parameter
from flowtape.gateway.domain.rate_limits import before_reading
from flowtape.gateway.rate_limits import RateLimits

#: bodies larger than this are measured in a worker thread, so the event loop keeps serving meanwhile
_MEASURE_IN_THREAD_BYTES = 1024 * 1024


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: object = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An answer in API.md's error shape, for middleware that refuses a request before the app sees it."""
    body = json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimiting:
    """Count, before the body is read: every ``/hooks/<path>`` call against its path's limit, and every API call
    that carries no credentials against its client address's limit. Calls with credentials are counted by the
    ``authenticated`` dependency (:mod:`flowtape.gateway.deps`), per caller once they are verified and per
    address when they are wrong."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            counted = before_reading(scope["path"], _has_credentials(scope), client[0] if client else None)
            try:
                if counted is not None:
                    await self.limits.hit(*counted)
            except RateLimited as refused:
                details = refused.details
                retry_after = str(details["retry_after"]).encode()
                await send_error(
                    send, 429, refused.code, refused.message, details, headers=[(b"retry-after", retry_after)]
                )
                return
        await self.app(scope, receive, send)


def _has_credentials(scope: Scope) -> bool:
    return any(name in (b"authorization", b"x-api-key") for name, _ in scope.get("headers") or [])


class RequestLimits:
    """Refuse, on every route and before any parser runs: a body over ``limit`` bytes (413), a JSON body nested
    deeper than ``max_json_depth`` (422), and a NUL character in the path (404) or in an API query parameter (422).

    The body is read here, whether or not the client sent a Content-Length (a chunked body is counted as it
    streams and refused as soon as it passes the limit), because FastAPI turns any error raised while it reads a
    body into a 400, and because a parser handed JSON nested thousands deep recurses until it fails. A NUL in a
    URL can name nothing: no stored id or name holds one, and PostgreSQL cannot even compare text with it.

    A restore's body (a whole platform's backup, JSON lines) is the one exception: its route reads it line by line,
    after the caller proved to be an admin, and no line is parsed whole before that.
    """

    #: routes that read their own body as a stream
    STREAMED_PATHS = frozenset({"/api/v1/admin/restore"})

    def __init__(self, app: ASGIApp, limit: int, max_json_depth: int) -> None:
        self.app = app
        self.limit = limit
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await send_error(send, 404, "not_found", "no such endpoint: the path holds a NUL character")
            return
        if scope["path"].startswith("/api/"):
            parameter = nul_parameter(scope.get("query_string", b""))
            if parameter is not None:
                problem = "must not contain a NUL character (\\u0000)"
                await send_error(
                    send,
                    422,
                    "validation_error",
                    f"invalid request: query.{parameter}: {problem}",
                    [{"field": f"query.{parameter}", "message": problem}],
                )
                return
        if scope["path"] in self.STREAMED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        seen = 0
        after_body: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                after_body = message  # the client went away: the app must still hear it
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and is_json(headers.get(b"content-type")) and await self._too_deep(body):
            await send_error(
                send,
                422,
                "json_too_deep",
                f"the JSON body is nested more than {self.max_json_depth} levels deep "
                "(objects and lists inside each other; the limit is FLOWTAPE_MAX_JSON_DEPTH)",
                {"max_depth": self.max_json_depth},
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed, after_body
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if after_body is not None:
                message, after_body = after_body, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _too_deep(self, body: bytes) -> bool:
        if len(body) > _MEASURE_IN_THREAD_BYTES:
            depth = await anyio.to_thread.run_sync(json_text_depth, body, self.max_json_depth)
        else:
            depth = json_text_depth(body, self.max_json_depth)
        return depth > self.max_json_depth

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send,
            413,
            "payload_too_large",
            f"the request body is over {self.limit} bytes (the limit is FLOWTAPE_MAX_BODY_BYTES)",
            {"limit_bytes": self.limit},
        )


#: the console is a Vite-built single-page app and the API docs a Swagger UI, both served from the gateway
#: itself: scripts only from files of this origin (no inline script, no eval); styles may also be set at run
#: time (Mantine and Swagger UI do); images and fonts may be data: URIs (Vite inlines small assets); the
#: browser talks to this origin only; no page of this origin may be framed (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_REPLACED = {name for name, _ in SECURITY_HEADERS} | {b"server", b"strict-transport-security"}
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """The same security headers on every answer of the gateway, replacing any a route set: a webhook's
    ``respond`` node builds its own headers, and must not loosen the policy of the console's origin.

    API answers are not cached unless the route says otherwise (they carry tokens and workflow data); over
    HTTPS (directly, or from a trusted proxy's X-Forwarded-Proto) browsers are told to keep to HTTPS. The
    ``server`` header is dropped here, and uvicorn is started without its own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*SECURITY_HEADERS, _HSTS] if scope.get("scheme") == "https" else list(SECURITY_HEADERS)
        api = scope["path"].startswith("/api/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                if api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        await self.app(scope, receive, sending)


class RequestMetrics:
    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            labels = (scope["method"], path, str(status))
            self.requests.labels(*labels).inc()
            self.latency.labels(*labels).observe(time.perf_counter() - started)
