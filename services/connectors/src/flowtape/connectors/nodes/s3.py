"""The ``s3`` node: put, get, list and delete objects on S3 or any S3-compatible storage (an ``aws`` credential;
its ``endpoint_url`` names a MinIO, R2, Ceph ... server). Requests are signed with botocore's SigV4 and sent
through the SSRF guard like every other call; object content travels in items as text, base64, or binary data
(a ``{"$binary": ...}`` reference, :mod:`flowtape.common.binary`: the bytes stay out of the log)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import xml.etree.ElementTree as ElementTree
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, model_validator

from flowtape.common.binary import mime_type
from flowtape.common.credentials import AwsCredential
from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Credential, Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls, ApiResponse

MAX_OBJECT_BYTES = 10 * 1024 * 1024
_BUCKET = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"


class S3Params(NodeParams):
    credential: str = Field(min_length=1, description="an aws credential's id or name")
    operation: Literal["put", "get", "list", "delete"]
    bucket: str = Field(pattern=_BUCKET)
    key: str | None = Field(default=None, min_length=1, max_length=1024, description="the object's key")
    content: str | None = Field(default=None, description="put: the object's content (text, or base64)")
    binary: dict[str, Any] | None = Field(
        default=None,
        description='put: binary data from an earlier node as the content (e.g. "{{ item.screenshot }}")',
    )
    encoding: Literal["text", "base64", "binary"] = Field(
        default="text", description="how content is given / returned; get with binary: as binary data on the item"
    )
    content_type: str | None = Field(
        default=None, max_length=255, description="put: the object's type (default: the binary data's, or octet-stream)"
    )
    prefix: str = Field(default="", max_length=1024, description="list: only keys that start with this")
    max_keys: int = Field(default=1000, ge=1, le=1000, description="list: at most this many objects")

    @model_validator(mode="after")
    def _needs(self) -> S3Params:
        if self.operation in ("put", "get", "delete") and not self.key:
            raise ValueError(f"{self.operation} needs 'key'")
        if self.operation == "put" and (self.content is None) == (self.binary is None):
            raise ValueError("put needs 'content' or 'binary' (one of them)")
        return self


def _endpoint(data: AwsCredential) -> str:
    if data.endpoint_url is not None:
        return str(data.endpoint_url).rstrip("/")
    return f"https://s3.{data.region}.amazonaws.com"


def _error(what: str, answer: ApiResponse) -> NodeError:
    code = message = ""
    try:
        root = ElementTree.fromstring(answer.content)
        code, message = root.findtext("Code") or "", root.findtext("Message") or ""
    except ElementTree.ParseError:
        pass
    return NodeError(f"S3 {what} failed: HTTP {answer.status}" + (f": {code}: {message}" if code else ""))


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class S3Node(NodeType[S3Params]):
    """put → ``{"bucket", "key", "etag", "size"}``; get → the same with ``content`` and ``content_type``; list →
    one item per object ``{"key", "size", "etag", "last_modified"}``; delete → ``{"bucket", "key", "deleted"}``."""

    type = "s3"
    category = "storage"
    description = "Put, get, list or delete objects on S3 or S3-compatible storage (MinIO, R2, Ceph ...)."
    Params = S3Params
    #: what a bucket holds is the storage's state
    deterministic = False
    examples = (
        NodeExample(
            title="Store a daily CSV report (credential 'reports-storage'; bucket 'acme-reports')",
            params={
                "credential": "reports-storage",
                "operation": "put",
                "bucket": "acme-reports",
                "key": "daily/{{ item.date }}.csv",
                "content": "{{ item.csv }}",
                "content_type": "text/csv",
            },
            input=[{"date": "2026-11-30", "csv": "sku,sold\nMUG-02,12\nTEE-01,7\n"}],
            output={
                "main": [
                    {
                        "bucket": "acme-reports",
                        "key": "daily/2026-11-30.csv",
                        "etag": "1fae28e1d5e0b02e1a4e59b746972b94",
                        "size": 28,
                    }
                ]
            },
        ),
        NodeExample(
            title="Read a report back as text (the bucket holds daily/2026-11-29.csv)",
            params={
                "credential": "reports-storage",
                "operation": "get",
                "bucket": "acme-reports",
                "key": "daily/{{ item.date }}.csv",
            },
            input=[{"date": "2026-11-29"}],
            output={
                "main": [
                    {
                        "bucket": "acme-reports",
                        "key": "daily/2026-11-29.csv",
                        "content": "sku,sold\nMUG-02,9\nTEE-01,4\n",
                        "content_type": "text/csv",
                        "size": 27,
                        "etag": "f29286c453759f51d43903e187aaf0b7",
                    }
                ]
            },
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def signed(
        self,
        ctx: NodeContext,
        credential: Credential,
        what: str,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        # botocore (9 MB) loads with the first S3 call, not with every connectors process
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        data = credential.data
        assert isinstance(data, AwsCredential)
        url = _endpoint(data) + path
        if query:
            url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(query.items()))
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        keys = Credentials(
            data.access_key_id,
            data.secret_access_key.get_secret_value(),
            data.session_token.get_secret_value() if data.session_token else None,
        )
        S3SigV4Auth(keys, "s3", data.region).add_auth(request)
        return await self._calls.call(
            f"S3 {what}",
            method,
            url,
            ctx=ctx,
            credential=credential,
            headers=dict(request.headers.items()),
            content=body or None,
            accept=lambda status: True,
        )

    async def run_item(self, ctx: NodeContext, params: S3Params, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "aws")
        bucket = params.bucket
        path = f"/{bucket}/" + (quote(params.key, safe="/~") if params.key else "")
        where = f"{bucket}/{params.key}" if params.key else bucket
        if params.operation == "put":
            content_type = params.content_type
            if params.binary is not None:
                info, body = await ctx.binaries.get(params.binary, "put: binary")
                content_type = content_type or info.mime_type
            else:
                assert params.content is not None
                try:
                    body = (
                        base64.b64decode(params.content, validate=True)
                        if params.encoding == "base64"
                        else params.content.encode()
                    )
                except (binascii.Error, ValueError):
                    raise NodeError("put: content is not valid base64") from None
            if len(body) > MAX_OBJECT_BYTES:
                raise NodeError(f"put: the object is larger than {MAX_OBJECT_BYTES >> 20} MiB")
            answer = await self.signed(
                ctx,
                credential,
                f"put {where}",
                "PUT",
                path,
                body=body,
                headers={"Content-Type": content_type or "application/octet-stream"},
            )
            if answer.status != 200:
                raise _error(f"put {where}", answer)
            out = {
                "bucket": bucket,
                "key": params.key,
                "etag": answer.headers.get("etag", "").strip('"'),
                "size": len(body),
            }
            return NodeResult.on([out])
        if params.operation == "get":
            answer = await self.signed(ctx, credential, f"get {where}", "GET", path)
            if answer.status != 200:
                raise _error(f"get {where}", answer)
            raw = answer.content
            content: Any
            if params.encoding == "binary":
                assert params.key is not None
                stored = await ctx.binaries.put(
                    raw,
                    mime_type=mime_type(answer.headers.get("content-type")),
                    file_name=params.key.rsplit("/", 1)[-1],
                )
                content = stored.reference()
            elif params.encoding == "base64":
                content = base64.b64encode(raw).decode()
            else:
                try:
                    content = raw.decode()
                except UnicodeDecodeError:
                    raise NodeError(f"get {where}: the object is not UTF-8 text; use encoding 'base64'") from None
            return NodeResult.on(
                [
                    {
                        "bucket": bucket,
                        "key": params.key,
                        "content": content,
                        "content_type": answer.headers.get("content-type"),
                        "size": len(raw),
                        "etag": answer.headers.get("etag", "").strip('"'),
                    }
                ]
            )
        if params.operation == "delete":
            answer = await self.signed(ctx, credential, f"delete {where}", "DELETE", path)
            if answer.status not in (200, 204):
                raise _error(f"delete {where}", answer)
            return NodeResult.on([{"bucket": bucket, "key": params.key, "deleted": True}])
        query = {"list-type": "2", "max-keys": str(params.max_keys)}
        if params.prefix:
            query["prefix"] = params.prefix
        answer = await self.signed(ctx, credential, f"list {bucket}", "GET", f"/{bucket}", query=query)
        if answer.status != 200:
            raise _error(f"list {bucket}", answer)
        return NodeResult.on(_listed(answer.content))


def _listed(xml: bytes) -> list[Item]:
    objects: list[Item] = []
    for element in ElementTree.fromstring(xml):
        if _strip(element.tag) != "Contents":
            continue
        fields: dict[str, Any] = {_strip(child.tag): child.text for child in element}
        objects.append(
            {
                "key": fields.get("Key"),
                "size": int(fields.get("Size") or 0),
                "etag": (fields.get("ETag") or "").strip('"'),
                "last_modified": fields.get("LastModified"),
            }
        )
    return objects


async def list_buckets(calls: ApiCalls, credential: Credential) -> int:
    """How many buckets the keys see (``ListBuckets``): the credential test of an ``aws`` credential."""
    node = S3Node(calls)
    ctx = NodeContext(execution_id="credential-test", workflow_id="", workflow_version=0, node_id="test")
    answer = await node.signed(ctx, credential, "ListBuckets", "GET", "/")
    if answer.status != 200:
        raise _error("ListBuckets", answer)
    root = ElementTree.fromstring(answer.content)
    return sum(1 for element in root.iter() if _strip(element.tag) == "Bucket")
