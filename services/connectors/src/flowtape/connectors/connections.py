"""What every node that reaches the outside world shares: the SSRF guard, one guarded HTTP client, and the
connection pools per credential. The composition root builds one :class:`Connections` and closes it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from flowtape.common.egress import PUBLIC_ONLY, EgressPolicy
from flowtape.connectors.browsers import DEFAULT_EXECUTABLE, BrowserIsolation, Browsers
from flowtape.connectors.oauth2 import OAuth2Tokens
from flowtape.connectors.outbound import guarded_client
from flowtape.connectors.pools import MysqlPools, PostgresPools, RedisPools
from flowtape.connectors.rate_limits import LocalLimits, RateLimits

log = logging.getLogger("flowtape.connectors.connections")


class Connections:
    def __init__(
        self,
        egress: EgressPolicy = PUBLIC_ONLY,
        http: httpx.AsyncClient | None = None,
        *,
        data_dir: Path = Path(".flowtape"),
        limits: RateLimits | None = None,
        tokens: OAuth2Tokens | None = None,
        browser_executable: Path = DEFAULT_EXECUTABLE,
        browser_max_seconds: float = 120.0,
        browser_concurrency: int = 4,
        browser_isolation: BrowserIsolation = "namespaces",
    ) -> None:
        """``http`` must be built on :func:`guarded_client` (the default is); it is closed with the rest.
        Without ``limits``, rate limits are held in this process; without ``tokens``, OAuth2 tokens too."""
        self.egress = egress
        self.limits = limits or RateLimits(LocalLimits())
        self.http = http or guarded_client(egress)
        self.data_dir = data_dir
        self.postgres = PostgresPools(egress)
        self.mysql = MysqlPools(egress)
        self.redis = RedisPools(egress)
        self.tokens = tokens or OAuth2Tokens.in_memory(self)
        #: one Chromium for this worker, launched on the first browser task (``browser`` nodes)
        self.browsers = Browsers(
            egress, executable=browser_executable, max_contexts=browser_concurrency, isolation=browser_isolation
        )
        self.browser_max_seconds = browser_max_seconds
        self._closers: list[Callable[[], Awaitable[object]]] = []

    def on_close(self, closer: Callable[[], Awaitable[object]]) -> None:
        """Close this with the rest (a node's own long-lived connection)."""
        self._closers.append(closer)

    async def close(self) -> None:
        for pools in (self.postgres, self.mysql, self.redis):
            await pools.close()
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception as exc:
                log.warning("closing a connection failed: %s", exc)
        await self.browsers.close()
        await self.http.aclose()
