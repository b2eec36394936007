"""Objects in an S3-compatible bucket, signed with botocore's SigV4 over httpx (no boto3 session or threads).

The operator configures these stores (the connectors' binary data, the engine's retention archive), not a
workflow: their requests do not pass the SSRF guard (the bucket may well live on the internal network). Errors
name the store and the settings that configure it, never the keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx


@dataclass(frozen=True)
class S3Location:
    bucket: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    endpoint_url: str | None = None
    region: str = "us-east-1"
    prefix: str = ""


class S3Objects:
    """``<prefix><key>`` objects of one bucket; ``store`` and ``settings`` say whose they are in error messages."""

    def __init__(self, location: S3Location, *, store: str, settings: str) -> None:
        self._location = location
        self._store = store
        self._settings = settings
        self._base = (location.endpoint_url or f"https://s3.{location.region}.amazonaws.com").rstrip("/")
        self._http = httpx.Client(timeout=60, trust_env=False)

    def send(self, method: str, key: str, body: bytes = b"") -> httpx.Response:
        # botocore (9 MB of a service's memory) is imported only by a process that talks to a bucket
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        url = f"{self._base}/{self._location.bucket}/{quote(self._location.prefix + key, safe='/~')}"
        request = AWSRequest(method=method, url=url, data=body, headers={})
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        keys = Credentials(self._location.access_key_id, self._location.secret_access_key)
        S3SigV4Auth(keys, "s3", self._location.region).add_auth(request)
        try:
            return self._http.request(method, url, headers=dict(request.headers.items()), content=body or None)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"{self._store}'s S3 endpoint {self._base} is unreachable: {exc}") from None

    def failed(self, what: str, response: httpx.Response) -> RuntimeError:
        return RuntimeError(
            f"{self._store}'s S3 bucket {self._location.bucket!r} refused {what}: HTTP {response.status_code} "
            f"{response.text[:200]}; check {self._settings}"
        )

    def put(self, key: str, data: bytes) -> None:
        response = self.send("PUT", key, data)
        if response.status_code >= 300:
            raise self.failed(f"storing {key}", response)

    def delete(self, key: str) -> None:
        response = self.send("DELETE", key)
        if response.status_code >= 300 and response.status_code != 404:
            raise self.failed(f"deleting {key}", response)

    def close(self) -> None:
        self._http.close()
