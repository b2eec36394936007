"""Bus handlers of the triggers service: each turns a message into one call on :class:`Triggers`."""

from __future__ import annotations

from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.bus.base import Handlers
from flowtape.common.messages.base import RoutedMessage
from flowtape.common.messages.engine import ExecutionFinished, SyncWorkflowTriggers
from flowtape.common.messages.triggers import ListTriggers, ResolveWebhook, TriggersChanged
from flowtape.common.topology import (
    TRIGGERS_EXECUTIONS_QUEUE,
    TRIGGERS_MESSAGES_QUEUE,
    TRIGGERS_REQUESTS_QUEUE,
    triggers_changed_broadcast,
)
from flowtape.triggers.application import Triggers


def subscribe(bus: Bus, triggers: Triggers, replica: str, backup: Handlers | None = None) -> None:
    """``backup``: the backup-and-restore handlers, answered on the requests queue too."""

    async def sync(m: SyncWorkflowTriggers) -> Any:
        return await triggers.sync(m)

    async def resolve(m: ResolveWebhook) -> Any:
        return await triggers.resolve_webhook(m.method, m.path)

    async def list_triggers(m: ListTriggers) -> Any:
        return await triggers.list_registrations(m.project_ids)

    async def finished(m: ExecutionFinished) -> None:
        await triggers.on_execution_finished(m)

    async def routed(m: RoutedMessage) -> None:
        await triggers.on_message(m)

    async def changed(_: TriggersChanged) -> None:
        await triggers.reload()

    bus.subscribe(
        TRIGGERS_REQUESTS_QUEUE,
        {**(backup or {}), SyncWorkflowTriggers: sync, ResolveWebhook: resolve, ListTriggers: list_triggers},
        prefetch=32,
    )
    bus.subscribe(TRIGGERS_EXECUTIONS_QUEUE, {ExecutionFinished: finished}, prefetch=16)
    bus.subscribe(TRIGGERS_MESSAGES_QUEUE, {RoutedMessage: routed}, prefetch=16)
    bus.subscribe(triggers_changed_broadcast("triggers", replica), {TriggersChanged: changed}, prefetch=1)
