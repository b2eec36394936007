"""API keys (``ftk_<id>_<secret>``): made and recognised here, so only their SHA-256 ever leaves the gateway."""

from __future__ import annotations

import hashlib
import re
import secrets

API_KEY_PREFIX = "ftk_"
_API_KEY = re.compile(r"^ftk_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")


def hash_api_key(key: str) -> str:
    """A fast hash is right here: the key has 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: ``(key_id, key, sha256 of key)``. The key itself is shown once and kept nowhere."""
    key_id = secrets.token_hex(8)
    key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, key, hash_api_key(key)


def parse_api_key(value: str) -> tuple[str, str] | None:
    """``(key_id, hash)`` of something shaped like one of our keys, else None."""
    match = _API_KEY.match(value)
    return (match.group(1), hash_api_key(value)) if match else None
