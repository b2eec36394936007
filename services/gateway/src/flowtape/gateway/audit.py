"""Recording what callers changed through the gateway (e.g. every write to a workflow) in auth's audit trail.

The entry is published after the owning service confirmed the write, to a durable queue with publisher
confirms; auth stores it idempotently. If the broker refuses it, the write has already happened, so the
request still succeeds and the entry is logged in full (it holds no secret) for an operator to replay.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from flowtape.common.bus import Bus
from flowtape.common.messages.auth import RecordAudit
from flowtape.gateway.domain.principals import Principal

log = logging.getLogger("flowtape.gateway.audit")


class AuditTrail:
    def __init__(self, bus: Bus, registry: CollectorRegistry | None = None) -> None:
        self._bus = bus
        self._failures = Counter(
            "flowtape_gateway_audit_publish_failures_total",
            "Audit entries the broker did not accept",
            registry=registry,
        )

    async def record(
        self,
        who: Principal,
        action: str,
        *,
        target_type: str,
        target_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        entry = RecordAudit(
            actor=who.actor(), action=action, target_type=target_type, target_id=target_id, details=details or {}
        )
        try:
            await self._bus.publish(entry)
        except Exception as exc:
            self._failures.inc()
            log.error("audit entry not recorded (%s): %s", exc, entry.model_dump_json())
