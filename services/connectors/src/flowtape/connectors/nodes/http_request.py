"""The ``http_request`` node: one HTTP call per input item, its response as the output item.

The node never builds its own connection pool for long: the service injects one shared
``httpx.AsyncClient`` on the SSRF guard's transport (:mod:`flowtape.connectors.outbound`), so every
connection, redirects included, goes to a checked address. Every failure a workflow author can fix (a
non-2xx status, a timeout, an unreachable host, an oversized body, an address the guard refuses) is a
:class:`NodeError` whose message says what to check; a 429 is a :class:`RemoteRateLimited` carrying the
``Retry-After`` hint, which the engine turns into a later attempt.

``credential`` names a stored credential (id or name) of type ``http_header``, ``http_basic`` or
``http_bearer``; it is looked up when the request is sent and its header wins over one of the same name in
``headers``. The workflow holds only the reference.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from flowtape.common.binary import mime_type
from flowtape.common.credentials import (
    CredentialData,
    HttpBasicCredential,
    HttpBearerCredential,
    HttpHeaderCredential,
)
from flowtape.common.egress import PUBLIC_ONLY, EgressPolicy
from flowtape.common.errors import NodeError, RemoteRateLimited
from flowtape.common.nodes.sdk import Credential, Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.domain.retry_after import retry_after_seconds
from flowtape.connectors.outbound import guarded_client
from flowtape.connectors.rate_limits import LocalLimits, RateLimits

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_ERROR_BODY_CHARS = 200
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HTTP_CREDENTIAL_TYPES = ("http_header", "http_basic", "http_bearer")


class HttpRequestParams(NodeParams):
    """``json`` and ``body`` are mutually exclusive; an explicit ``"json": null`` sends JSON ``null``."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str = Field(description="Absolute http:// or https:// URL")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # Named json_body because BaseModel has a (deprecated) ``json`` method; clients only see "json".
    json_body: Any = Field(default=None, alias="json", description="Sent as a JSON request body")
    body: str | None = Field(default=None, description="Sent as the raw request body")
    timeout: float = Field(default=30, gt=0, le=3600, description="Seconds for the whole request")
    ignore_status: bool = Field(default=False, description="Do not fail the node on a non-2xx status")
    send_idempotency_key: bool = Field(
        default=False, description="Send an Idempotency-Key header, stable across retries of one attempt"
    )
    response_format: Literal["auto", "json", "text", "binary"] = Field(
        default="auto",
        description="auto: JSON when the answer says so, binary data for images, audio, video, PDF, archives and "
        'octet streams (a {"$binary": ...} reference), text otherwise',
    )
    credential: str | None = Field(
        default=None,
        min_length=1,
        description="A stored credential's id or name (http_header, http_basic or http_bearer) to authenticate with",
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a valid URL: {exc}") from exc
        if url.scheme not in ("http", "https"):
            raise ValueError("must be an absolute http:// or https:// URL")
        if not url.host:
            raise ValueError("must name a host")
        return value

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if not value.isascii() or "\r" in value or "\n" in value:
                raise ValueError(f"header {name}: the value must be ASCII text without line breaks")
        return headers

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        if "json_body" in self.model_fields_set and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self

    @property
    def has_json_body(self) -> bool:
        return "json_body" in self.model_fields_set


class HttpRequestNode(NodeType[HttpRequestParams]):
    """Sends an HTTP request per input item; outputs ``{"status", "headers" (lower-cased), "body"}``."""

    type = "http_request"
    category = "network"
    description = (
        "Send an HTTP request for each item and output its status, headers and body. "
        "A non-2xx status fails the node unless ignore_status is set."
    )
    Params = HttpRequestParams
    #: a response is the outside world's answer, not a function of the parameters
    deterministic = False
    examples = (
        NodeExample(
            title="POST JSON to an API (base_url stands for the API's address)",
            params={"method": "POST", "url": "{{ item.base_url }}/orders", "json": {"sku": "{{ item.sku }}"}},
            input=[{"base_url": "https://api.example.com", "sku": "A-1"}],
            output={
                "main": [
                    {
                        "status": 200,
                        "headers": {"content-type": "application/json", "content-length": "54"},
                        "body": {"method": "POST", "path": "/orders", "echo": {"sku": "A-1"}},
                    }
                ]
            },
        ),
    )

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        egress: EgressPolicy = PUBLIC_ONLY,
        limits: RateLimits | None = None,
    ) -> None:
        """``client`` is shared and owned by the caller (built on the SSRF guard's transport); without one each
        request opens a short-lived one on the guard with ``egress`` (public addresses only by default)."""
        self._client = client
        self._egress = egress
        #: the credential's and the host's rate limits (held across replicas by the service's permits)
        self._limits = limits or RateLimits(LocalLimits())
        self._max_response_bytes = max_response_bytes

    async def run_item(self, ctx: NodeContext, params: HttpRequestParams, item: Item) -> NodeResult:
        if self._client is not None:
            return NodeResult.on([await self._send(self._client, ctx, params)])
        async with guarded_client(self._egress) as client:
            return NodeResult.on([await self._send(client, ctx, params)])

    async def _send(self, client: httpx.AsyncClient, ctx: NodeContext, params: HttpRequestParams) -> Item:
        target = f"{params.method} {params.url}"
        headers = _request_headers(ctx, params)
        secret_header: str | None = None
        credential: Credential | None = None
        if params.credential is not None:
            credential = await ctx.credential(params.credential, *HTTP_CREDENTIAL_TYPES)
            headers = _authenticated(headers, credential.data)
            secret_header = _credential_header(credential.data)
        request = client.build_request(
            params.method,
            params.url,
            params=params.query or None,
            headers=headers,
            timeout=httpx.Timeout(params.timeout),
            **_request_body(params),
        )
        try:
            # httpx timeouts are per network operation; this bounds the whole exchange, body included.
            async with self._limits.slot(params.url, credential), asyncio.timeout(params.timeout):
                response = await _send_following(client, request, secret_header)
                try:
                    content = await self._read_capped(response, target)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise NodeError(
                f"{target} timed out after {params.timeout:g} s: check that the server is up and "
                "answering, or raise the node's timeout parameter"
            ) from exc
        except httpx.TimeoutException as exc:
            raise NodeError(
                f"{target} timed out after {params.timeout:g} s ({type(exc).__name__}): check that the "
                "server is up and answering, or raise the node's timeout parameter"
            ) from exc
        except httpx.ConnectError as exc:
            raise NodeError(
                f"could not connect for {target}: {exc or type(exc).__name__}. Check the URL's host and "
                "port, DNS, and that the server accepts connections from the connectors service"
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise NodeError(f"{target} redirected too many times: check the URL") from exc
        except httpx.HTTPError as exc:
            raise NodeError(
                f"{target} failed: {type(exc).__name__}: {exc}. Check the URL and that the server "
                "speaks HTTP on that port"
            ) from exc

        text = _decode(content, response)
        if not response.is_success and not params.ignore_status:
            excerpt = text.strip()[:_ERROR_BODY_CHARS]
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
                raise RemoteRateLimited(
                    f"HTTP 429 from {target}: the API asks to slow down"
                    + (f" (retry after {wait:g} s)" if wait is not None else ""),
                    details={"status": 429, "body": excerpt},
                    retry_after=wait,
                )
            raise NodeError(
                f"HTTP {response.status_code} from {target}" + (f": {excerpt}" if excerpt else ""),
                details={"status": response.status_code, "body": excerpt},
            )
        body: Any
        if params.response_format == "binary" or (params.response_format == "auto" and _is_binary(response)):
            stored = await ctx.binaries.put(
                content,
                mime_type=mime_type(response.headers.get("content-type")),
                file_name=_file_name(response),
            )
            body = stored.reference()
        else:
            body = _body(text, response, params.response_format, target)
        return {"status": response.status_code, "headers": dict(response.headers), "body": body}

    async def _read_capped(self, response: httpx.Response, target: str) -> bytes:
        limit = self._max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise NodeError(_too_large(target, limit))
        chunks = bytearray()
        async for chunk in response.aiter_bytes():
            chunks += chunk
            if len(chunks) > limit:
                raise NodeError(_too_large(target, limit))
        return bytes(chunks)


def _request_headers(ctx: NodeContext, params: HttpRequestParams) -> dict[str, str]:
    headers = dict(params.headers)
    if params.send_idempotency_key:
        for name in [name for name in headers if name.lower() == "idempotency-key"]:
            del headers[name]
        headers["Idempotency-Key"] = ctx.idempotency_key
    if not any(name.lower() == "content-type" for name in headers):
        if params.has_json_body:
            headers["Content-Type"] = "application/json"
        elif params.body is not None:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    return headers


MAX_REDIRECTS = 20


async def _send_following(
    client: httpx.AsyncClient, request: httpx.Request, secret_header: str | None
) -> httpx.Response:
    """Follow redirects, dropping the credential's header once a redirect leaves the original origin.

    httpx drops ``Authorization`` across origins by itself, but not a custom header such as ``X-Api-Key``.
    """
    origin = request.url.copy_with(path="/", query=None, fragment=None)
    response = await client.send(request, stream=True, follow_redirects=False)
    for _ in range(MAX_REDIRECTS):
        following = response.next_request
        if not response.is_redirect or following is None:
            return response
        await response.aclose()
        if secret_header and following.url.copy_with(path="/", query=None, fragment=None) != origin:
            following.headers.pop(secret_header, None)
        response = await client.send(following, stream=True, follow_redirects=False)
    await response.aclose()
    raise httpx.TooManyRedirects("too many redirects", request=request)


def _credential_header(credential: CredentialData) -> str:
    return credential.name if isinstance(credential, HttpHeaderCredential) else "Authorization"


def _authenticated(headers: dict[str, str], credential: CredentialData) -> dict[str, str]:
    if isinstance(credential, HttpHeaderCredential):
        name, value = credential.name, credential.value.get_secret_value()
    elif isinstance(credential, HttpBasicCredential):
        name, value = "Authorization", credential.authorization()
    elif isinstance(credential, HttpBearerCredential):
        name, value = "Authorization", f"Bearer {credential.token.get_secret_value()}"
    else:  # ctx.credential checked the type already
        raise NodeError(f"http_request cannot use a {credential.type_name} credential")
    kept = {key: item for key, item in headers.items() if key.lower() != name.lower()}
    return {**kept, name: value}


def _request_body(params: HttpRequestParams) -> dict[str, Any]:
    if params.has_json_body:
        # json.dumps here, not httpx's json=, so an explicit null is sent rather than dropped.
        return {"content": json.dumps(params.json_body, ensure_ascii=False).encode()}
    if params.body is not None:
        return {"content": params.body.encode()}
    return {}


def _too_large(target: str, limit: int) -> str:
    return (
        f"the response to {target} is larger than the {limit // (1024 * 1024)} MiB limit: "
        "ask the API for less (pagination, filters)"
    )


def _decode(content: bytes, response: httpx.Response) -> str:
    encoding = response.charset_encoding or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    return content.decode(encoding, errors="replace")


_BINARY_TYPES = ("image/", "audio/", "video/", "font/")
_BINARY_APPLICATIONS = {
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _is_binary(response: httpx.Response) -> bool:
    media = mime_type(response.headers.get("content-type"))
    if not response.headers.get("content-type"):
        return False
    return (media.startswith(_BINARY_TYPES) and media != "image/svg+xml") or media in _BINARY_APPLICATIONS


def _file_name(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            return value.strip('"')[:200] or None
    last = response.url.path.rsplit("/", 1)[-1]
    return last[:200] or None


def _is_json(response: httpx.Response) -> bool:
    media_type = str(response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _body(text: str, response: httpx.Response, response_format: str, target: str) -> Any:
    if response_format == "text":
        return text
    if response_format == "auto" and not _is_json(response):
        return text
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        if response_format == "auto":
            return text
        raise NodeError(
            f"the response to {target} is not valid JSON ({exc}); use response_format 'text' or 'auto'"
        ) from exc
