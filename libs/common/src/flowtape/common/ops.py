"""``/healthz``, ``/readyz`` and ``/metrics``: the same three endpoints on every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], Awaitable[bool]]


def ops_router(registry: CollectorRegistry, checks: Callable[[], Mapping[str, Check]]) -> APIRouter:
    """``checks`` is called per request so it sees the service's current connections."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in checks().items():
            try:
                results[name] = await check()
            except Exception:
                results[name] = False
        ready = all(results.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": results}, status_code=200 if ready else 503
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
