"""The unguessable tokens of resume URLs (``POST /hooks/resume/<token>``) that waits for a call wait on.

A token is the execution's id (so the gateway can route the call to the execution's partition without a
lookup) followed by an HMAC-SHA256 of the execution, node and run under a key derived from
``FLOWTAPE_SECRET_KEY``. Nothing is stored: neither the log, nor a database, nor a backup holds a usable
token, yet the engine can show the URL of a waiting node at any time and check a call against it. Rotating the
secret key invalidates the URLs of runs waiting at the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID

_PURPOSE = b"flowtape resume urls v1"
_MAC_BYTES = 24
RESUME_PATH = "/hooks/resume/"


def execution_of(token: str) -> str | None:
    """The execution a token names, or None when it is not shaped like a token (which is then unknown)."""
    if len(token) < 33:
        return None
    try:
        return str(UUID(hex=token[:32]))
    except ValueError:
        return None


class ResumeTokens:
    """Derives and checks resume tokens; ``public_url`` (``FLOWTAPE_PUBLIC_URL``) makes the URLs absolute."""

    def __init__(self, secret_key: str, public_url: str | None = None) -> None:
        self._key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()
        self._base = (public_url or "").rstrip("/")

    def token(self, execution_id: str, node_id: str, run: int) -> str:
        mac = hmac.new(self._key, f"{execution_id}\n{node_id}\n{run}".encode(), hashlib.sha256).digest()
        return UUID(execution_id).hex + base64.urlsafe_b64encode(mac[:_MAC_BYTES]).decode().rstrip("=")

    def url(self, execution_id: str, node_id: str, run: int) -> str:
        return f"{self._base}{RESUME_PATH}{self.token(execution_id, node_id, run)}"

    def matches(self, token: str, execution_id: str, node_id: str, run: int) -> bool:
        return hmac.compare_digest(token.encode(), self.token(execution_id, node_id, run).encode())
