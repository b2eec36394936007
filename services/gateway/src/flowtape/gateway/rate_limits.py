"""Request limits of the public surface, in the ``limits`` library's notation (``1200/minute``, ``10/second``):

- ``FLOWTAPE_RATE_LIMIT_API`` per signed-in caller: an API key counts on its own, a user's tokens together;
- ``FLOWTAPE_RATE_LIMIT_ANONYMOUS`` per client address, for API calls without credentials or with wrong ones
  (so guessing keys or passwords is slowed as well as answered 401);
- ``FLOWTAPE_RATE_LIMIT_WEBHOOK`` per webhook path (``/hooks/<path>``, resume URLs included).

A refused call is a 429 in API.md's error shape with ``Retry-After`` (seconds until its window ends); who counts
against which is decided in :mod:`flowtape.gateway.domain.rate_limits`.

Counters live in PostgreSQL when the gateway has a PostgreSQL database (:mod:`flowtape.gateway.counters`), so
they hold across replicas; on SQLite (the embedded platform, one process) they live in memory. When the
counters cannot be reached the call is let through and counted in ``flowtape_gateway_rate_limit_errors_total``:
the limits guard against abuse, and an outage of the database must not also close the API.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.exc import SQLAlchemyError

from flowtape.gateway.domain.rate_limits import Scope, refusal, retry_after
from flowtape.gateway.settings import RateLimitSettings

log = logging.getLogger("flowtape.gateway.rate_limits")


class RateLimits:
    """One fixed-window limiter over a storage shared by every replica (or memory, with one replica)."""

    def __init__(
        self, settings: RateLimitSettings, storage: Storage | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        self._items: dict[Scope, RateLimitItem] = {
            "api": parse(settings.api),
            "anonymous": parse(settings.anonymous),
            "webhook": parse(settings.webhook),
        }
        self._limiter = FixedWindowRateLimiter(storage or MemoryStorage())
        self._refused = Counter(
            "flowtape_gateway_rate_limited_total", "Requests refused with 429, by limit", ["limit"], registry=registry
        )
        self._errors = Counter(
            "flowtape_gateway_rate_limit_errors_total",
            "Requests let through because the rate-limit counters could not be reached",
            registry=registry,
        )

    async def hit(self, scope: Scope, identity: str) -> None:
        """Count one call of ``identity`` against the ``scope`` limit; raise 429 once it is spent."""
        item = self._items[scope]
        try:
            if await self._limiter.hit(item, scope, identity):
                return
            reset = (await self._limiter.get_window_stats(item, scope, identity)).reset_time
        except (StorageError, SQLAlchemyError, OSError) as exc:
            self._errors.inc()
            log.warning("rate-limit counters unreachable, letting the call through: %s", type(exc).__name__)
            return
        self._refused.labels(scope).inc()
        raise refusal(str(item), scope, retry_after(reset, time.time()))
