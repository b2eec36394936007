"""Bus subscriptions of the gateway: broadcasts every replica hears on a queue of its own, each handled by one call
on the :class:`~flowtape.gateway.application.Gateway`. What the gateway hears only updates what it keeps in
memory: runs it waits for, webhook routes, and auth's keys, revocations and memberships.
"""

from __future__ import annotations

from flowtape.common.bus import Bus
from flowtape.common.messages.auth import (
    ApiKeyRevoked,
    MembershipsChanged,
    PublicKeysPublished,
    SessionsRevoked,
    UserAccessChanged,
)
from flowtape.common.messages.engine import ExecutionFinished
from flowtape.common.messages.triggers import TriggersChanged
from flowtape.common.topology import (
    auth_events_broadcast,
    execution_finished_broadcast,
    triggers_changed_broadcast,
)
from flowtape.gateway.application import Gateway


def subscribe(bus: Bus, gateway: Gateway, replica: str) -> None:
    bus.subscribe(execution_finished_broadcast(replica), {ExecutionFinished: gateway.finished.on_finished}, prefetch=64)
    bus.subscribe(
        triggers_changed_broadcast("gateway", replica),
        {TriggersChanged: gateway.webhook_routes.on_changed},
        prefetch=1,
    )
    bus.subscribe(
        auth_events_broadcast("gateway", replica),
        {
            PublicKeysPublished: gateway.guard.on_keys_published,
            UserAccessChanged: gateway.on_user_changed,
            MembershipsChanged: gateway.memberships.on_changed,
            ApiKeyRevoked: gateway.guard.on_api_key_revoked,
            SessionsRevoked: gateway.guard.on_sessions_revoked,
        },
        prefetch=1,
    )
