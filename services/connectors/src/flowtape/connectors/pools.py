"""Connection pools per credential: PostgreSQL (asyncpg), MySQL/MariaDB (aiomysql) and Redis.

A pool is keyed by the credential's id *and* a digest of its data, so a replaced credential gets a fresh pool
from the next task on (the old one is closed). Every pool connects to the address the SSRF guard checked
(:func:`flowtape.connectors.outbound.connect_address`); with ``tls: verify`` it connects by name, since the
certificate check then pins the server. Connection failures become NodeErrors that name host and port,
never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from flowtape.common.credentials import CredentialData, MysqlCredential, PostgresCredential, RedisCredential
from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import EgressRefused, NodeError
from flowtape.common.nodes.sdk import Credential
from flowtape.connectors.outbound import connect_address
from flowtape.connectors.tls import client_context

if TYPE_CHECKING:  # the MySQL and Redis clients (30 MB together) are imported by the first pool that needs one
    import aiomysql
    import redis.asyncio as aioredis

log = logging.getLogger("flowtape.connectors.pools")
POOL_SIZE = 10
CONNECT_TIMEOUT = 10.0


def _digest(data: CredentialData) -> str:
    return hashlib.sha256(json.dumps(data.reveal(), sort_keys=True).encode()).hexdigest()


def connect_failed(what: str, host: str, port: int, exc: BaseException) -> NodeError:
    if isinstance(exc, NodeError):
        return exc
    reason = str(exc) or type(exc).__name__
    return NodeError(
        f"could not connect to {what} at {host}:{port}: {reason}. Check the credential's host, port, user and "
        "password, and that the server accepts connections from the connectors service"
    )


class _Keyed:
    """Pools by credential; building one happens once however many tasks ask at the same moment."""

    def __init__(self) -> None:
        self._pools: dict[str, tuple[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _get(self, credential: Credential, build: Callable[[], Awaitable[Any]]) -> Any:
        digest = _digest(credential.data)
        known = self._pools.get(credential.id)
        if known is not None and known[0] == digest:
            return known[1]
        async with self._locks.setdefault(credential.id, asyncio.Lock()):
            known = self._pools.get(credential.id)
            if known is not None and known[0] == digest:
                return known[1]
            pool = await build()
            self._pools[credential.id] = (digest, pool)
        if known is not None:
            await self._close_one(known[1])
        return pool

    async def _close_one(self, pool: Any) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        for _, pool in self._pools.values():
            try:
                await self._close_one(pool)
            except Exception as exc:
                log.warning("closing a pool failed: %s", exc)
        self._pools.clear()


class PostgresPools(_Keyed):
    def __init__(self, egress: EgressPolicy) -> None:
        super().__init__()
        self._egress = egress

    async def pool(self, credential: Credential) -> asyncpg.Pool:
        data = credential.data
        assert isinstance(data, PostgresCredential)

        async def build() -> asyncpg.Pool:
            host = await connect_address(self._egress, data.host, data.port, verified_tls=data.tls == "verify")
            try:
                pool = await asyncpg.create_pool(
                    host=host,
                    port=data.port,
                    user=data.username,
                    password=data.password.get_secret_value() or None,
                    database=data.database,
                    ssl=client_context(data.tls) or False,
                    min_size=0,
                    max_size=POOL_SIZE,
                    timeout=CONNECT_TIMEOUT,
                    statement_cache_size=0,
                    max_inactive_connection_lifetime=60,
                )
                # create_pool with min_size=0 connects lazily: try one now, so a bad credential fails here
                async with pool.acquire() as conn:
                    await conn.execute("SELECT 1")
            except (EgressRefused, NodeError):
                raise
            except Exception as exc:
                raise connect_failed("PostgreSQL", data.host, data.port, exc) from None
            return pool

        pool: asyncpg.Pool = await self._get(credential, build)
        return pool

    async def _close_one(self, pool: Any) -> None:
        await pool.close()


class MysqlPools(_Keyed):
    def __init__(self, egress: EgressPolicy) -> None:
        super().__init__()
        self._egress = egress

    async def pool(self, credential: Credential) -> aiomysql.Pool:
        data = credential.data
        assert isinstance(data, MysqlCredential)

        async def build() -> aiomysql.Pool:
            import aiomysql

            host = await connect_address(self._egress, data.host, data.port, verified_tls=data.tls == "verify")
            try:
                return await aiomysql.create_pool(
                    minsize=1,
                    maxsize=POOL_SIZE,
                    host=host,
                    port=data.port,
                    user=data.username,
                    password=data.password.get_secret_value(),
                    db=data.database,
                    ssl=client_context(data.tls),
                    autocommit=False,
                    connect_timeout=CONNECT_TIMEOUT,
                    charset="utf8mb4",
                    pool_recycle=3600,
                )
            except Exception as exc:
                raise connect_failed("MySQL", data.host, data.port, exc) from None

        pool: aiomysql.Pool = await self._get(credential, build)
        return pool

    async def _close_one(self, pool: Any) -> None:
        pool.close()
        await pool.wait_closed()


class RedisPools(_Keyed):
    def __init__(self, egress: EgressPolicy) -> None:
        super().__init__()
        self._egress = egress

    async def client(self, credential: Credential) -> aioredis.Redis:
        data = credential.data
        assert isinstance(data, RedisCredential)

        async def build() -> aioredis.Redis:
            import redis.asyncio as aioredis

            host = await connect_address(self._egress, data.host, data.port, verified_tls=data.tls == "verify")
            client = aioredis.Redis(
                host=host,
                port=data.port,
                db=data.database,
                username=data.username,
                password=data.password.get_secret_value() if data.password else None,
                ssl=data.tls != "disable",
                ssl_cert_reqs="required" if data.tls == "verify" else "none",
                ssl_check_hostname=data.tls == "verify",
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=30,
                max_connections=POOL_SIZE * 5,
            )
            try:
                await client.ping()
            except Exception as exc:
                await client.aclose()
                raise connect_failed("Redis", data.host, data.port, exc) from None
            return client

        client: aioredis.Redis = await self._get(credential, build)
        return client

    async def _close_one(self, pool: Any) -> None:
        await pool.aclose()
