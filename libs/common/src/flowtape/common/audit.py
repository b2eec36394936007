"""Audit entries written by the service that makes a change, from the actor its command carries.

The gateway passes the caller (:class:`~flowtape.common.messages.auth.Actor`) with every workflow and credential
command; the owning service, once its write has committed, sends the entry to auth's durable audit queue
(publisher confirms) *before* it answers. So a gateway dying between its answer and anything else loses
nothing, and a caller that was told "done" knows the broker holds the entry. The entry's id is derived from
the command's and its effect, so a redelivered command records nothing twice (auth stores entries
idempotently). If the broker refuses, the entry is retried in the background until it takes it, and logged
in full (entries hold no secret).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from flowtape.common import views
from flowtape.common.bus import Bus
from flowtape.common.messages.auth import Actor, RecordAudit
from flowtape.common.messages.base import Message

log = logging.getLogger("flowtape.audit")

_ENTRY_IDS = uuid.UUID("5b0f3c9e-7a0e-4d1e-9a57-3f0b8c1d2e4f")


class AuditRecorder:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._retrying: set[asyncio.Task[None]] = set()

    async def record(
        self,
        cause: Message,
        actor: Actor | None,
        action: str,
        *,
        target_type: str,
        target_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Send the entry for ``cause`` (a command that changed something); nothing when no actor came with it."""
        if actor is None:
            return
        entry = RecordAudit(
            **cause.caused(),
            message_id=uuid.uuid5(_ENTRY_IDS, _effect(cause, action, target_id, details)).hex,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
        try:
            await self._bus.publish(entry)
        except Exception as exc:
            log.error("audit entry not yet recorded (%s), retrying: %s", exc, entry.model_dump_json())
            task = asyncio.create_task(self._retry(entry))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)

    async def _retry(self, entry: RecordAudit) -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                await self._bus.publish(entry)
                log.info("audit entry %s recorded after a retry", entry.message_id)
                return
            except Exception:
                delay = min(delay * 2, 30.0)


def _effect(cause: Message, action: str, target_id: str | None, details: dict[str, Any] | None) -> str:
    """The same command with the same effect is one entry; a redelivered command that made another change (a
    second version, a second workflow) is another."""
    return f"{cause.message_id}|{action}|{target_id}|{json.dumps(details or {}, sort_keys=True, default=str)}"


def workflow_audit(workflow: views.Workflow) -> dict[str, Any]:
    """What the audit trail keeps of a workflow write: which workflow, its name and the version it made."""
    return {
        "target_type": "workflow",
        "target_id": workflow.id,
        "details": {"name": workflow.name, "version": workflow.version},
    }
