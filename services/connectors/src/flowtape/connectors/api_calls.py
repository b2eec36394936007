"""Calls to SaaS APIs on behalf of nodes (Slack, Discord, Telegram, GitHub, OpenAI-compatible, Zoho, S3).

One place does what every such call needs: the shared guarded HTTP client (so the SSRF guard applies), the
credential's authentication, the credential's or host's rate limit, a 429 turned into
:class:`RemoteRateLimited` with its ``Retry-After``, an OAuth2 token refreshed once and the call repeated
on a 401, and a failure that says which API call failed, with its status and the start of its answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from flowtape.common.credentials import CredentialData, HttpBasicCredential, HttpBearerCredential, HttpHeaderCredential
from flowtape.common.errors import NodeError, RemoteRateLimited
from flowtape.common.nodes.sdk import Credential, NodeContext
from flowtape.connectors.connections import Connections
from flowtape.connectors.domain.retry_after import retry_after_seconds

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
ERROR_EXCERPT = 300


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: httpx.Headers
    body: Any
    text: str
    content: bytes = b""


def _body(response: httpx.Response, content: bytes) -> tuple[Any, str]:
    text = content.decode(response.charset_encoding or "utf-8", errors="replace")
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(text) if text.strip() else None, text
        except ValueError:
            return text, text
    return text, text


class ApiCalls:
    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def call(
        self,
        what: str,
        method: str,
        url: str,
        *,
        ctx: NodeContext | None = None,
        credential: Credential | None = None,
        headers: Mapping[str, str] | None = None,
        auth_header: Callable[[str], dict[str, str]] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        accept: Callable[[int], bool] | None = None,
    ) -> ApiResponse:
        """``what`` names the call in errors ("Slack chat.postMessage"). With an ``oauth2`` credential the bearer
        token is added (``auth_header`` shapes it when the API wants another scheme)."""
        sent = dict(headers or {})
        token: str | None = None
        if credential is not None and credential.type == "oauth2":
            token = await self._access_token(ctx, credential)
            sent.update(auth_header(token) if auth_header else {"Authorization": f"Bearer {token}"})
        response, body, text, raw = await self._send(
            what, method, url, credential, sent, json_body, content, params, timeout
        )
        if response.status_code == 401 and token is not None and credential is not None:
            token = await self._access_token(ctx, credential, rejected=token)
            sent.update(auth_header(token) if auth_header else {"Authorization": f"Bearer {token}"})
            response, body, text, raw = await self._send(
                what, method, url, credential, sent, json_body, content, params, timeout
            )
        if response.status_code == 429:
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
            raise RemoteRateLimited(
                f"{what}: HTTP 429, the API asks to slow down"
                + (f" (retry after {wait:g} s)" if wait is not None else ""),
                details={"status": 429},
                retry_after=wait,
            )
        if not (accept(response.status_code) if accept else response.is_success):
            excerpt = text.strip()[:ERROR_EXCERPT]
            raise NodeError(
                f"{what} failed: HTTP {response.status_code}" + (f": {excerpt}" if excerpt else ""),
                details={"status": response.status_code, "body": excerpt},
            )
        return ApiResponse(response.status_code, response.headers, body, text, raw)

    async def _access_token(self, ctx: NodeContext | None, credential: Credential, rejected: str | None = None) -> str:
        token = await self._connections.tokens.access_token(credential, rejected=rejected)
        remember = getattr(ctx.credentials if ctx is not None else None, "remember", None)
        if remember is not None:
            remember([token])  # the task's redactor: a token an API echoes never reaches the log
        return token

    async def _send(
        self,
        what: str,
        method: str,
        url: str,
        credential: Credential | None,
        headers: dict[str, str],
        json_body: Any,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        timeout: float,
    ) -> tuple[httpx.Response, Any, str, bytes]:
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", **headers}
        async with self._connections.limits.slot(url, credential):
            try:
                request = self._connections.http.build_request(
                    method, url, headers=headers, content=content, params=params, timeout=timeout
                )
                response = await self._connections.http.send(request, stream=True)
                try:
                    chunks = bytearray()
                    async for chunk in response.aiter_bytes():
                        chunks += chunk
                        if len(chunks) > MAX_RESPONSE_BYTES:
                            raise NodeError(f"{what}: the answer is larger than {MAX_RESPONSE_BYTES >> 20} MiB")
                finally:
                    await response.aclose()
            except httpx.TimeoutException:
                raise NodeError(f"{what}: no answer within {timeout:g} s from {httpx.URL(url).host}") from None
            except httpx.HTTPError as exc:
                raise NodeError(f"{what}: could not reach {httpx.URL(url).host}: {type(exc).__name__}: {exc}") from None
        body, text = _body(response, bytes(chunks))
        return response, body, text, bytes(chunks)


def http_auth_headers(data: CredentialData) -> dict[str, str]:
    """The header an ``http_header``, ``http_basic`` or ``http_bearer`` credential sends (empty for others)."""
    if isinstance(data, HttpHeaderCredential):
        return {data.name: data.value.get_secret_value()}
    if isinstance(data, HttpBasicCredential):
        return {"Authorization": data.authorization()}
    if isinstance(data, HttpBearerCredential):
        return {"Authorization": f"Bearer {data.token.get_secret_value()}"}
    return {}


def joined(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")
