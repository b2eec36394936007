"""Binary data on items: files, screenshots, attachments, kept outside the event log and referenced by id.

An item field holding binary data holds a *reference*, never the bytes::

    {"$binary": {"id": "bin_…", "mime_type": "image/png", "file_name": "page.png", "size": 48213}}

The bytes live in the connectors' binary store (:mod:`flowtape.connectors.binaries`); the log records only the
reference, so a screenshot costs the log ~120 bytes whatever its size. A node that makes a file stores it with
``ctx.binaries.put(...)`` and puts the reference it gets in its output; a node that takes one (an e-mail
attachment, an S3 upload) accepts a reference wherever it accepts content and reads it with
``ctx.binaries.get(ref)``. A node can read only binary data of its own workflow. Clients download a reference
with ``GET /api/v1/executions/{execution_id}/binary/{id}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.errors import NodeError

#: the key of an item value that is a binary reference
BINARY_KEY = "$binary"
#: the default largest binary data one node may store (``FLOWTAPE_MAX_BINARY_BYTES``)
DEFAULT_MAX_BINARY_BYTES = 32 * 1024 * 1024
BINARY_ID_PATTERN = r"^bin_[A-Za-z0-9_\-]{16,64}$"
_MIME = re.compile(r"^[\w.+\-]+/[\w.+\-]+$")


class BinaryInfo(BaseModel):
    """What a reference says of the data it points to (the value under ``$binary``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(pattern=BINARY_ID_PATTERN)
    mime_type: str = "application/octet-stream"
    file_name: str | None = None
    size: int = Field(ge=0)

    def reference(self) -> dict[str, Any]:
        """The item value that stands for this data."""
        return {BINARY_KEY: self.model_dump(mode="json")}


def is_binary_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {BINARY_KEY} and isinstance(value[BINARY_KEY], Mapping)


def binary_info(value: Any, what: str = "the value") -> BinaryInfo:
    """The reference in ``value`` (an item value ``{"$binary": {...}}``); a NodeError naming ``what`` if not one."""
    if not is_binary_ref(value):
        raise NodeError(f'{what} is not binary data (a {{"$binary": {{"id", ...}}}} reference from an earlier node)')
    try:
        return BinaryInfo.model_validate(value[BINARY_KEY])
    except ValueError as exc:
        raise NodeError(f"{what} is not a valid binary reference: {exc}") from None


def mime_type(value: str | None) -> str:
    """``value`` when it is a plain ``type/subtype`` (parameters dropped), else ``application/octet-stream``."""
    plain = (value or "").split(";", 1)[0].strip().lower()
    return plain if _MIME.match(plain) else "application/octet-stream"


class Binaries(Protocol):
    """The binary store as one node task sees it (``ctx.binaries``): scoped to the task's workflow."""

    async def put(self, data: bytes, *, mime_type: str, file_name: str | None = None) -> BinaryInfo:
        """Store ``data``; a NodeError when it is larger than ``FLOWTAPE_MAX_BINARY_BYTES``."""

    async def get(self, ref: Any, what: str = "the value") -> tuple[BinaryInfo, bytes]:
        """The data a reference points to; a NodeError when ``ref`` is not one or names unknown data."""

    @property
    def max_bytes(self) -> int: ...
