"""``POST /api/v1/credentials/{id}/test``: try a credential for real and say whether it works.

Each type has a check that does the cheapest thing proving the credential: connect and ``SELECT 1``, Redis
``PING``, an SMTP login, an AMQP or MQTT connection, a signed S3 ``ListBuckets``, an OAuth2 token, a GET of
the credential's ``test_url``. Every connection goes through the SSRF guard like a node's. The answer's
message is redacted with the credential's secrets, so an error that quotes one gives nothing away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiosmtplib
import httpx

from flowtape.common.credentials import (
    AmqpCredential,
    MqttCredential,
    MysqlCredential,
    OAuth2Credential,
    PostgresCredential,
    RedisCredential,
    SmtpCredential,
    WebhookUrlCredential,
)
from flowtape.common.errors import FlowtapeError
from flowtape.common.messages.connectors import CredentialCheck
from flowtape.common.nodes.sdk import Credential
from flowtape.connectors.api_calls import ApiCalls, http_auth_headers
from flowtape.connectors.connections import Connections
from flowtape.connectors.domain.redaction import Redactor
from flowtape.connectors.nodes.email import smtp_login
from flowtape.connectors.nodes.mqtt import mqtt_client
from flowtape.connectors.nodes.rabbitmq import amqp_connection
from flowtape.connectors.nodes.s3 import list_buckets
from flowtape.connectors.vault import Vault

CHECK_TIMEOUT_SECONDS = 20.0
Check = Callable[[Connections, Credential], Awaitable[str]]


class NotTestable(Exception):
    """The credential has nothing the connectors could try; the message says what would make it testable."""


class CheckFailed(Exception):
    """The check ran and the credential did not work; the message says what the remote side answered."""


async def _get(connections: Connections, url: str, headers: dict[str, str]) -> httpx.Response:
    try:
        return await connections.http.get(url, headers=headers, timeout=CHECK_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"could not reach {url}: {type(exc).__name__}: {exc}") from None


async def _http(connections: Connections, credential: Credential) -> str:
    url = getattr(credential.data, "test_url", None)
    if url is None:
        raise NotTestable("give the credential a test_url (a cheap GET endpoint of its API) to test it")
    response = await _get(connections, str(url), http_auth_headers(credential.data))
    if not response.is_success:
        raise CheckFailed(f"GET {url} answered HTTP {response.status_code}: {response.text.strip()[:200]}")
    return f"GET {url} answered HTTP {response.status_code}"


async def _webhook_url(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, WebhookUrlCredential)
    url = credential.data.url.get_secret_value()
    response = await _get(connections, url, {})
    if response.status_code in (401, 403, 404, 410):
        raise CheckFailed(f"the webhook URL answered HTTP {response.status_code}: it is wrong or was revoked")
    return f"the webhook URL answers (HTTP {response.status_code})"


async def _postgres(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, PostgresCredential)
    pool = await connections.postgres.pool(credential)
    async with pool.acquire() as conn:
        version = await conn.fetchval("SHOW server_version")
    data = credential.data
    return f"connected to {data.host}:{data.port}/{data.database} as {data.username} (PostgreSQL {version})"


async def _mysql(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, MysqlCredential)
    pool = await connections.mysql.pool(credential)
    async with pool.acquire() as conn, conn.cursor() as cursor:
        await cursor.execute("SELECT VERSION()")
        (version,) = await cursor.fetchone()
    data = credential.data
    return f"connected to {data.host}:{data.port}/{data.database} as {data.username} (server {version})"


async def _redis(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, RedisCredential)
    client = await connections.redis.client(credential)
    await client.ping()
    return f"connected to {credential.data.host}:{credential.data.port} and got PONG"


async def _amqp(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, AmqpCredential)
    data = credential.data
    connection = await amqp_connection(connections, data)
    await connection.close()
    return f"connected to {data.host}:{data.port} (virtual host {data.virtual_host!r}) as {data.username}"


async def _mqtt(connections: Connections, credential: Credential) -> str:
    import aiomqtt  # loaded on first use, as by the mqtt node

    assert isinstance(credential.data, MqttCredential)
    data = credential.data
    try:
        async with await mqtt_client(connections.egress, data):
            pass
    except aiomqtt.MqttError as exc:
        raise CheckFailed(f"could not connect to the MQTT broker at {data.host}:{data.port}: {exc}") from None
    return f"connected to the MQTT broker at {data.host}:{data.port}"


async def _oauth2(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, OAuth2Credential)
    token = await connections.tokens.access_token(credential)
    url = credential.data.test_url
    if url is None:
        return f"got an access token from {credential.data.token_url}"
    response = await _get(connections, str(url), {"Authorization": f"Bearer {token}"})
    if not response.is_success:
        raise CheckFailed(f"GET {url} with the access token answered HTTP {response.status_code}")
    return f"got an access token; GET {url} answered HTTP {response.status_code}"


async def _smtp(connections: Connections, credential: Credential) -> str:
    assert isinstance(credential.data, SmtpCredential)
    try:
        return await smtp_login(connections, credential.data)
    except aiosmtplib.SMTPException as exc:
        raise CheckFailed(f"the SMTP server {credential.data.host}:{credential.data.port} said: {exc}") from None


async def _aws(connections: Connections, credential: Credential) -> str:
    buckets = await list_buckets(ApiCalls(connections), credential)
    return f"signed in to S3 and listed {buckets} bucket(s)"


CHECKS: dict[str, Check] = {
    "http_header": _http,
    "http_basic": _http,
    "http_bearer": _http,
    "webhook_url": _webhook_url,
    "postgres": _postgres,
    "mysql": _mysql,
    "redis": _redis,
    "amqp": _amqp,
    "mqtt": _mqtt,
    "oauth2": _oauth2,
    "smtp": _smtp,
    "aws": _aws,
}


def register_check(type_name: str, check: Check) -> None:
    """Node modules add the check of the credential type they own (SMTP, AMQP, MQTT, AWS, OAuth2)."""
    CHECKS[type_name] = check


class CredentialChecks:
    """The connectors' verb behind ``CheckCredential``."""

    def __init__(self, vault: Vault, connections: Connections) -> None:
        self._vault = vault
        self._connections = connections

    async def check(self, credential_id: str) -> CredentialCheck:
        return await check_credential(self._connections, await self._vault.open(credential_id))


async def check_credential(connections: Connections, credential: Credential) -> CredentialCheck:
    redactor = Redactor(credential.data.secret_values())
    redactor.add(await connections.tokens.secrets_of(credential.id))
    check = CHECKS.get(credential.type)
    if check is None:
        return CredentialCheck(
            ok=False, testable=False, message=f"a {credential.type} credential has nothing the connectors can try"
        )
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            message = await check(connections, credential)
    except NotTestable as exc:
        return CredentialCheck(ok=False, testable=False, message=redactor.text(str(exc)))
    except CheckFailed as exc:
        return CredentialCheck(ok=False, message=redactor.text(str(exc)))
    except TimeoutError:
        return CredentialCheck(ok=False, message=f"no answer within {CHECK_TIMEOUT_SECONDS:g} s")
    except FlowtapeError as exc:
        return CredentialCheck(ok=False, message=redactor.text(exc.message))
    except Exception as exc:
        return CredentialCheck(ok=False, message=redactor.text(f"{type(exc).__name__}: {exc}"))
    return CredentialCheck(ok=True, message=redactor.text(message))
