"""Serving ``/hooks/<path>``: find the workflow, check the signature, start it, shape the answer (API.md, "Webhooks").

The route table belongs to the triggers service; the gateway asks it and keeps the answers a few seconds,
dropping them all whenever a registration changes (``TriggersChanged``, and its own activation calls), so a
deactivated webhook stops answering at once while a busy one costs no round trip per request. While the
triggers service does not answer, a route it resolved before goes on serving.
"""

from __future__ import annotations

import logging
import time
import uuid

from flowtape.common.bus import Bus
from flowtape.common.errors import FlowtapeError, NotFound, TimedOut, Unavailable
from flowtape.common.messages.triggers import ResolveWebhook, TriggersChanged, WebhookRoute
from flowtape.gateway.clients import Platform, not_started
from flowtape.gateway.domain.webhooks import (
    SIGNATURE_HEADER,
    WebhookRequest,
    WebhookResponse,
    finished_answer,
    verify_signature,
)

log = logging.getLogger("flowtape.gateway.webhooks")

CACHE_SECONDS = 5.0


class WebhookRoutes:
    """``(method, path)`` → :class:`WebhookRoute`, asked of the triggers service and cached briefly."""

    def __init__(self, bus: Bus, ttl: float = CACHE_SECONDS) -> None:
        self._bus = bus
        self._ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, WebhookRoute | FlowtapeError]] = {}

    async def resolve(self, method: str, path: str) -> WebhookRoute:
        key = (method.upper(), path.strip("/"))
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            found = cached[1]
        else:
            try:
                found = WebhookRoute.model_validate(
                    await self._bus.ask(ResolveWebhook(method=key[0], path=key[1]), timeout=10)
                )
            except NotFound as exc:
                found = exc
            except (TimedOut, Unavailable):
                # the triggers service is down (a restart): a route it gave before still serves its webhook, so
                # callers of a known path are not refused for an outage of a service their run does not need
                if cached is None or isinstance(cached[1], FlowtapeError):
                    raise
                log.warning("the triggers service did not resolve %s %s: serving the route it gave before", *key)
                found = cached[1]
            self._cache[key] = (time.monotonic() + self._ttl, found)
        if isinstance(found, FlowtapeError):
            raise found
        return found

    def invalidate(self) -> None:
        self._cache.clear()

    async def on_changed(self, _: TriggersChanged) -> None:
        self.invalidate()


class Webhooks:
    """One webhook call: resolve, verify, start the registered version, answer as the route asks."""

    def __init__(self, routes: WebhookRoutes, platform: Platform, default_timeout: float) -> None:
        self._routes = routes
        self._platform = platform
        self._default_timeout = default_timeout

    async def call(self, request: WebhookRequest) -> WebhookResponse:
        try:
            route = await self._routes.resolve(request.method, request.path)
        except (TimedOut, Unavailable) as exc:
            # the triggers service is out of reach and this replica never learned the route (it just started):
            # nothing was started, which a 503 says, naming the run as every refused start does
            raise not_started(exc, str(uuid.uuid4())) from None
        if route.secret is not None:
            verify_signature(route.secret, request.body, request.header(SIGNATURE_HEADER))
        wait = route.respond == "last_node"
        started = await self._platform.run_workflow(
            route.workflow_id,
            request.items(),
            wait=wait,
            timeout=route.timeout_seconds or self._default_timeout,
            version=route.version,
            trigger={"request": request.metadata()},
        )
        if not wait:
            body = {"execution_id": started.execution_id}
            if started.status == "queued":  # paused, or at its max_concurrent_runs: it starts later
                body["status"] = "queued"
            return WebhookResponse(status=202, body=body, headers={})
        assert started.execution is not None  # run_workflow(wait=True) answers with the finished run or raises
        return finished_answer(route, started.execution)
