"""Taking the secrets of the credentials a node used out of what it produced, before anything is recorded.

Every string in the output items (keys too, at any depth) and the error message is searched for each secret
value and for the forms it commonly takes on the way back (URL-encoded, JSON-escaped; HTTP Basic's base64
pair comes from the credential type). A secret shorter than :data:`MIN_EMBEDDED_LENGTH` is replaced only
where it is a whole string: cutting two letters out of every word would destroy the output and hide nothing.

Truncation cuts secrets in half (``http_request`` quotes the first 200 characters of an error body), so a
string that *ends* with the beginning of a secret, or *starts* with its end, loses that part too (at least
:data:`MIN_EMBEDDED_LENGTH` characters of it; a shorter piece gives nothing away).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

REDACTED = "[redacted]"
MIN_EMBEDDED_LENGTH = 4


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), json.dumps(secret, ensure_ascii=False)[1:-1]}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._whole: set[str] = set()
        self._embedded: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            for form in _forms(secret):
                if not form:
                    continue
                self._whole.add(form)
                if len(form) >= MIN_EMBEDDED_LENGTH:
                    self._embedded.add(form)
        # longest first, so a secret containing another is replaced whole
        ordered = sorted(self._embedded, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return bool(self._whole)

    def text(self, value: str) -> str:
        if value in self._whole:
            return REDACTED
        if self._pattern is None:
            return value
        value = self._pattern.sub(REDACTED, value)
        for secret in self._embedded:
            value = _cut_head(_cut_tail(value, secret), secret)
        return value

    def value(self, value: Any) -> Any:
        """``value`` with every secret replaced, in strings at any depth (a copy; the original is untouched)."""
        if not self:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def _cut_tail(value: str, secret: str) -> str:
    """``value`` without the longest beginning of ``secret`` it ends with (a secret truncated there)."""
    at = value.find(secret[0], max(0, len(value) - len(secret) + 1))
    while at != -1:
        if len(value) - at >= MIN_EMBEDDED_LENGTH and secret.startswith(value[at:]):
            return value[:at] + REDACTED
        at = value.find(secret[0], at + 1)
    return value


def _cut_head(value: str, secret: str) -> str:
    """``value`` without the longest end of ``secret`` it starts with (a secret cut off before it)."""
    end = value.rfind(secret[-1], 0, len(secret) - 1)
    while end != -1:
        if end + 1 >= MIN_EMBEDDED_LENGTH and secret.endswith(value[: end + 1]):
            return REDACTED + value[end + 1 :]
        end = value.rfind(secret[-1], 0, end)
    return value
