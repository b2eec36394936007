"""Large event bodies, kept beside the log: the log row holds a reference, the body lives in a blob store.

A run whose trigger or node output is megabytes big would otherwise write that much into the events table
on every decision, under the table lock every writer shares. Instead, :class:`OffloadingMapper` stores the
encoded body of any event above a threshold in a content-addressed store (its key is the SHA-256 of the body,
so a retried save writes nothing twice) and records ``BLOB_MARKER + key`` in the row; reading the event fetches
the body back. The domain sees the same events either way, so time travel and replay stay exact.

Stores (:mod:`flowtape.common.blobs`): a table in the engine's own PostgreSQL schema, or files beside the SQLite
log (embedded mode).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from flowtape.common.blobs import BlobMissing, BlobStore, FileBlobs, PostgresBlobs

__all__ = [
    "BLOB_MARKER",
    "DEFAULT_OFFLOAD_BYTES",
    "BlobMissing",
    "BlobStore",
    "FileBlobs",
    "OffloadingMapper",
    "PostgresBlobs",
]

#: an event body at least this big (encoded) goes to the blob store
DEFAULT_OFFLOAD_BYTES = 64 * 1024
#: prefix of a stored event state that is a reference (no JSON or zlib stream starts with a NUL byte)
BLOB_MARKER = b"\x00flowtape-blob:"
#: how many offloaded bodies' sizes a mapper remembers (for the read model's stored bytes, see stored_size)
_SIZES_KEPT = 4096


class OffloadingMapper(Mapper[Any]):
    """eventsourcing's mapper, with bodies of ``offload_bytes`` or more moved to ``blobs``."""

    def __init__(self, transcoder: Transcoder, blobs: BlobStore, offload_bytes: int = DEFAULT_OFFLOAD_BYTES) -> None:
        super().__init__(transcoder=transcoder)
        self._blobs = blobs
        self._offload_bytes = offload_bytes
        self._sizes: OrderedDict[bytes, int] = OrderedDict()

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if len(stored.state) < self._offload_bytes:
            return stored
        key = hashlib.sha256(stored.state).hexdigest()
        self._blobs.put(key, stored.state)
        reference = BLOB_MARKER + key.encode("ascii")
        self._remember(reference, len(stored.state))
        return replace(stored, state=reference)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.state.startswith(BLOB_MARKER):
            reference = stored_event.state
            stored_event = replace(stored_event, state=self._blobs.get(reference[len(BLOB_MARKER) :].decode("ascii")))
            self._remember(reference, len(stored_event.state))
        return super().to_domain_event(stored_event)

    def stored_size(self, state: bytes) -> int:
        """The bytes an event's row stands for: its state, or the body it refers to. A body this mapper has
        neither written nor read lately (rare: the read model applies events right after they are saved or
        read) counts as the offload threshold, the least it can be."""
        if not state.startswith(BLOB_MARKER):
            return len(state)
        return self._sizes.get(state, self._offload_bytes)

    def _remember(self, reference: bytes, size: int) -> None:
        self._sizes[reference] = size
        self._sizes.move_to_end(reference)
        while len(self._sizes) > _SIZES_KEPT:
            self._sizes.popitem(last=False)
