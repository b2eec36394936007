"""Operators' questions every service replica answers: ``flowtape admin status`` asks, each replica says."""

from __future__ import annotations

from flowtape.common.messages.base import Message


class StatusAsked(Message):
    """Operator → every replica of every service (a broadcast): answer on ``reply_queue``."""

    type_name = "ops.StatusAsked.v1"

    reply_queue: str


class ReplicaStatus(Message):
    """One replica → the asking operator: who it is and whether it is ready (its ``/readyz`` checks)."""

    type_name = "ops.ReplicaStatus.v1"

    service: str
    replica: str
    version: str
    ready: bool
    checks: dict[str, bool]
    #: an engine replica: the partitions it decides
    partitions: list[int] | None = None
