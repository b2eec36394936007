"""Outgoing connections of nodes, through the SSRF guard (:mod:`flowtape.common.egress`).

HTTP: :class:`GuardedTransport` is httpx's own transport on a network backend that resolves the host, checks
every address, and opens the TCP connection to a checked address. TLS still runs against the host *name*
(SNI and certificate checks are httpcore's, unchanged), and every redirect hop and every new pooled
connection goes through the same backend. Proxies from the environment are not used (``trust_env=False``):
a proxy would make the guard check the proxy instead of the target.

Other protocols (databases, Redis, SMTP, MQTT, AMQP) take :func:`connect_address`: the checked address to
give the client library instead of the name. When the library verifies a TLS certificate against the name,
the name may be passed instead (a rebinding attacker cannot make an internal server present a valid
certificate for their name), which is what :func:`connect_address` says with ``verified_tls``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import NodeError

DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.resolve(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise NodeError("nodes may not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on :class:`GuardedNetworkBackend`."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        http2: bool = False,
    ) -> None:
        super().__init__(verify=verify, limits=limits, http2=http2, trust_env=False)
        # the base class keeps its pool in ``_pool`` and only ever calls through it: rebuild it on our backend
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedNetworkBackend(policy),
        )


def guarded_client(policy: EgressPolicy, *, limits: httpx.Limits = DEFAULT_LIMITS, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection passes the guard; redirects are followed by the caller.

    Each request is a client span of the current trace and carries it to the remote side (W3C ``traceparent``)."""
    client = httpx.AsyncClient(transport=GuardedTransport(policy, limits=limits), trust_env=False, **kwargs)
    HTTPXClientInstrumentor.instrument_client(client)
    return client


async def connect_address(policy: EgressPolicy, host: str, port: int, *, verified_tls: bool = False) -> str:
    """What to hand a non-HTTP client as its host: the checked address, or with ``verified_tls`` the name
    (once every address it resolves to passed the check)."""
    address = await policy.address(host, port)
    return host if verified_tls else address
