"""The triggers service's verbs: register a workflow's trigger, resolve a webhook, fire what is due.

Registrations live in the store; each replica also keeps a snapshot of them (reloaded when any replica
announces a change, and every few seconds) to decide, without a query, which schedules are due and which
finished executions or routed messages start a workflow. Every start goes through a claimed fire key, so a
tick, an execution or a message starts a workflow once, whichever replica sees it and however often.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from flowtape.common import telemetry
from flowtape.common.bus import Bus
from flowtape.common.bus.memory import topic_matches
from flowtape.common.errors import Conflict, FlowtapeError, NotFound
from flowtape.common.messages.base import JsonItems, RoutedMessage
from flowtape.common.messages.engine import ExecutionFinished, StartExecution, SyncWorkflowTriggers
from flowtape.common.messages.triggers import TriggersChanged, WebhookRoute
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.topology import (
    EVENTS,
    EVERY_EXECUTION_FINISHED,
    EXECUTION_FINISHED,
    TRIGGERS_EXECUTIONS_QUEUE,
    TRIGGERS_MESSAGES_QUEUE,
)
from flowtape.triggers.domain.registration import Registration, registration_of, route_key
from flowtape.triggers.metrics import TriggerMetrics
from flowtape.triggers.store import TriggerStore

log = logging.getLogger("flowtape.triggers")

Clock = Callable[[], datetime]
#: a claimed fire whose message is still unpublished after this long is relayed by whichever replica looks
RELAY_AFTER = timedelta(seconds=30)
#: longer than any activation takes between our registration and the engine's record of it
IN_FLIGHT = timedelta(seconds=60)
#: fires are kept this long (fire keys dedupe redeliveries and late replicas), then pruned
FIRE_RETENTION = timedelta(days=7)
_FIRE_NAMESPACE = uuid.UUID("5f0c4a2e-8a55-4c3e-9d8e-2f1c6b7a9e10")


def iso(value: datetime | None) -> str | None:
    """UTC, always with microseconds: fire keys and listings compare as text in time order."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def items_of(payload: Any) -> JsonItems:
    """API.md's rule for a trigger payload: an object is the item, a list of objects the items, anything
    else ``{"body": <text>}``."""
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list) and all(isinstance(item, dict) for item in payload):
        return list(payload)
    return [{"body": payload if isinstance(payload, str) else json.dumps(payload)}]


def _parse_payload(text: str) -> tuple[Any, str | None, str | None]:
    """(payload, Flowtape type, Flowtape message id): a Flowtape message is unwrapped to its body."""
    try:
        value = json.loads(text)
    except ValueError:
        return text, None, None
    if isinstance(value, dict) and isinstance(value.get("type"), str) and isinstance(value.get("body"), dict):
        body = value["body"]
        return body, value["type"], body.get("message_id")
    return value, None, None


class Triggers:
    def __init__(self, store: TriggerStore, bus: Bus, clock: Clock, metrics: TriggerMetrics | None = None) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._metrics = metrics or TriggerMetrics()
        self._snapshot: dict[str, Registration] = {}
        #: per schedule, the latest tick this replica has decided (fired, lost to another replica, or skipped)
        self._cursors: dict[str, tuple[datetime | None, datetime]] = {}
        self._bindings: set[tuple[str, str]] = set()
        #: whether the finished-executions queue is bound (None: not known yet, as after a start)
        self._watching_executions: bool | None = None
        self._reloading = asyncio.Lock()
        self.changed = asyncio.Event()
        self._watchers: list[Callable[[list[Registration]], Awaitable[object]]] = []

    def watch(self, watcher: Callable[[list[Registration]], Awaitable[object]]) -> None:
        """Call ``watcher`` with every fresh snapshot (the MQTT subscriptions follow it)."""
        self._watchers.append(watcher)

    # -- registrations -----------------------------------------------------------------------------------

    async def sync(self, command: SyncWorkflowTriggers) -> dict[str, Any]:
        """Register (or, with no definition, remove) a workflow's trigger; Conflict on a taken webhook route."""
        if command.definition is None:
            removed = await self._store.remove(command.workflow_id)
            await self._changed(command.workflow_id)
            return {"workflow_id": command.workflow_id, "registered": None, "removed": removed is not None}
        registration = registration_of(
            command.workflow_id, command.version or 1, command.definition, command.project_id
        )
        if registration is None:
            await self._store.remove(command.workflow_id)
            await self._changed(command.workflow_id)
            return {"workflow_id": command.workflow_id, "registered": None}
        try:
            stored = await self._store.put(registration, self._clock())
        except Conflict:
            self._metrics.conflicts.inc()
            raise
        await self._changed(command.workflow_id)
        return {"workflow_id": command.workflow_id, "registered": self._view(stored, self._clock())}

    async def reconcile(self, active: Iterable[dict[str, Any]], since: datetime) -> None:
        """Make the registrations match the engine's active workflows (on start: changes may have been missed).

        Recent registrations are left alone: they may belong to activations in flight, which the engine
        records only after we registered them, so its list may not show them yet.
        """
        listed: set[str] = set()
        for entry in active:
            workflow_id = str(entry["workflow_id"])
            listed.add(workflow_id)
            current = await self._store.get(workflow_id)
            if current is not None and current.version >= int(entry["version"]):
                continue
            try:
                project_id = str(entry.get("project_id") or DEFAULT_PROJECT)
                registration = registration_of(workflow_id, int(entry["version"]), entry["definition"], project_id)
                if registration is None:
                    await self._store.remove(workflow_id)
                else:
                    await self._store.put(registration, self._clock())
            except FlowtapeError as exc:
                log.warning("could not register the trigger of active workflow %s: %s", workflow_id, exc.message)
        for registration in await self._store.all():
            registered = registration.registered_at or since
            if registration.workflow_id not in listed and registered < since - IN_FLIGHT:
                await self._store.remove(registration.workflow_id)
        await self._changed("*")

    async def _changed(self, workflow_id: str) -> None:
        await self.reload()
        await self._bus.publish(TriggersChanged(workflow_id=workflow_id))

    async def restored(self) -> None:
        """The registrations were restored from a backup: schedule them, and tell the gateways."""
        await self.reload()
        for workflow_id in list(self._snapshot):
            await self._bus.publish(TriggersChanged(workflow_id=workflow_id))

    async def reload(self) -> None:
        """Refresh this replica's snapshot and its message-trigger bindings from the store."""
        async with self._reloading:
            await self._reload()

    async def _reload(self) -> None:
        registrations = await self._store.all()
        self._snapshot = {registration.workflow_id: registration for registration in registrations}
        for workflow_id in list(self._cursors):
            if workflow_id not in self._snapshot or self._snapshot[workflow_id].kind != "schedule":
                del self._cursors[workflow_id]
        wanted: set[tuple[str, str]] = {
            (str(registration.message.exchange), registration.message.routing_key)
            for registration in registrations
            if registration.kind == "message"
        }
        for exchange, pattern in wanted - self._bindings:
            await self._bus.bind(TRIGGERS_MESSAGES_QUEUE, exchange, pattern)
        for exchange, pattern in self._bindings - wanted:
            await self._bus.unbind(TRIGGERS_MESSAGES_QUEUE, exchange, pattern)
        self._bindings = wanted
        await self._watch_executions(any(registration.kind == "execution" for registration in registrations))
        for watcher in self._watchers:
            await watcher(registrations)
        self._metrics.registrations.set(len(registrations))
        self.changed.set()

    async def _watch_executions(self, wanted: bool) -> None:
        """Hear finished executions only while an execution trigger exists: without one, every run's finish
        would cost a quorum-queue write and a decode here for nothing. A run that finishes before a new
        trigger's binding is in place is not seen by it, as if it had finished before the trigger was made."""
        if wanted == self._watching_executions:
            return
        if wanted:
            await self._bus.bind(TRIGGERS_EXECUTIONS_QUEUE, EVENTS, EVERY_EXECUTION_FINISHED)
        else:
            await self._bus.unbind(TRIGGERS_EXECUTIONS_QUEUE, EVENTS, EVERY_EXECUTION_FINISHED)
            # the binding earlier versions declared with the queue itself
            await self._bus.unbind(TRIGGERS_EXECUTIONS_QUEUE, EVENTS, EXECUTION_FINISHED.routing_key)
        self._watching_executions = wanted

    def _view(self, registration: Registration, now: datetime) -> dict[str, Any]:
        view: dict[str, Any] = {
            "workflow_id": registration.workflow_id,
            "project_id": registration.project_id,
            "version": registration.version,
            "kind": registration.kind,
            "node": registration.node_id,
            "last_fired_at": iso(registration.last_fired_at),
            "next_fire_at": None,
        }
        if registration.kind == "webhook":
            view.update(path=registration.webhook.path, method=registration.webhook.method)
        elif registration.kind == "schedule":
            params = registration.params
            view.update({key: params[key] for key in ("cron", "interval", "timezone", "catch_up") if params.get(key)})
            view["next_fire_at"] = iso(registration.schedule.next_after(now))
        elif registration.kind == "execution":
            view.update(workflow_ids=registration.execution.workflow_ids, statuses=registration.execution.statuses)
        elif registration.kind == "mqtt":
            view.update(topic=registration.mqtt.topic)
        else:
            view.update(exchange=registration.message.exchange, routing_key=registration.message.routing_key)
        return view

    async def list_registrations(self, project_ids: list[str] | None = None) -> dict[str, Any]:
        """Every registration (only ``project_ids``' when given), as the gateway lists triggers."""
        now = self._clock()
        return {"items": [self._view(registration, now) for registration in await self._store.all(project_ids)]}

    async def resolve_webhook(self, method: str, path: str) -> dict[str, Any]:
        registration = await self._store.by_route(route_key(method, path))
        if registration is None:
            raise NotFound(f"no active workflow serves {method.upper()} /hooks/{path.strip('/')}")
        hook = registration.webhook
        return WebhookRoute(
            workflow_id=registration.workflow_id,
            version=registration.version,
            method=hook.method,
            path=hook.path,
            respond=hook.respond,
            secret=hook.secret,
            timeout_seconds=hook.timeout_seconds,
            respond_nodes=list(registration.respond_nodes),
        ).model_dump(mode="json")

    # -- firing ------------------------------------------------------------------------------------------

    async def _fire(
        self,
        registration: Registration,
        fire_key: str,
        items: JsonItems,
        trigger: dict[str, Any],
        *,
        tick: datetime | None = None,
        cause: Any = None,
    ) -> bool:
        """Claim the fire key and, if this replica won it, start the execution. True when it started one."""
        envelope = cause.caused() if cause is not None else {}
        message = StartExecution(
            **envelope,
            message_id=uuid.uuid5(_FIRE_NAMESPACE, f"{registration.workflow_id}|{fire_key}").hex,
            workflow_id=registration.workflow_id,
            input=items,
            trigger=trigger,
            # the engine starts one execution per key: a relayed or redelivered fire starts nothing new
            idempotency_key=f"trigger:{registration.workflow_id}:{fire_key}"[:300],
        )
        now = self._clock()
        if not await self._store.claim(registration.workflow_id, fire_key, message.encode().decode(), now, tick):
            self._metrics.fires_lost.labels(registration.kind).inc()
            return False
        # a tick's run starts its trace here (a webhook's starts at the gateway's request, a message's at its sender)
        attributes = {"flowtape.workflow.id": registration.workflow_id, "flowtape.trigger.kind": registration.kind}
        with telemetry.tracer().start_as_current_span(f"trigger fire {registration.kind}", attributes=attributes):
            await self._bus.publish(message)
        await self._store.published(registration.workflow_id, fire_key, self._clock())
        self._metrics.fires.labels(registration.kind).inc()
        if tick is not None:
            self._metrics.schedule_lag.observe(max(0.0, (now - tick).total_seconds()))
        return True

    def _cursor(self, registration: Registration) -> datetime:
        anchor = registration.registered_at
        known = self._cursors.get(registration.workflow_id)
        floor = max(t for t in (registration.registered_at, registration.last_tick_at) if t is not None)
        if known is not None and known[0] == anchor:
            return max(known[1], floor)
        return floor

    async def fire_due(self, now: datetime) -> int:
        """Fire every schedule tick due at ``now`` (by the catch-up policies); returns how many this replica
        started. Safe to call from every replica at once: each tick is started once."""
        started = 0
        for registration in list(self._snapshot.values()):
            if registration.kind != "schedule":
                continue
            schedule = registration.schedule
            for tick in schedule.due(self._cursor(registration), now):
                item = {"scheduled_at": iso(tick), "fired_at": iso(now)}
                trigger = {"schedule": {"scheduled_at": iso(tick), "node": registration.node_id}}
                if await self._fire(registration, f"tick:{iso(tick)}", [item], trigger, tick=tick):
                    started += 1
            # a tick is decided once due() has been asked past it, fired or not
            self._cursors[registration.workflow_id] = (registration.registered_at, max(self._cursor(registration), now))
        return started

    def next_wakeup(self, now: datetime) -> datetime | None:
        """The earliest next tick of any schedule: when the runner should call :meth:`fire_due` again."""
        ticks = [
            registration.schedule.next_after(max(now, self._cursor(registration)))
            for registration in self._snapshot.values()
            if registration.kind == "schedule"
        ]
        return min(ticks, default=None)

    async def on_execution_finished(self, notice: ExecutionFinished) -> int:
        """Start the workflows of the execution's project whose execution triggers match it (a watcher never
        sees another project's runs, even with no ``workflow_ids`` or with another project's workflow named)."""
        watchers = [r for r in self._snapshot.values() if r.kind == "execution" and r.project_id == notice.project_id]
        if not watchers:
            return 0
        # wildcard watchers ignore the executions of other watchers, so two of them cannot feed each other
        watcher_ids = {r.workflow_id for r in watchers}
        item = {
            "execution_id": notice.execution_id,
            "workflow_id": notice.workflow_id,
            "workflow_version": notice.workflow_version,
            "status": notice.status,
            "error": notice.error,
        }
        started = 0
        for registration in watchers:
            params = registration.execution
            if registration.workflow_id == notice.workflow_id or notice.status not in params.statuses:
                continue
            if params.workflow_ids:
                if notice.workflow_id not in params.workflow_ids:
                    continue
            elif notice.workflow_id in watcher_ids:
                continue
            trigger = {"execution": dict(item)}
            if await self._fire(registration, f"execution:{notice.execution_id}", [dict(item)], trigger, cause=notice):
                started += 1
        return started

    async def on_message(self, routed: RoutedMessage) -> int:
        """Start the workflows whose message triggers listen on the key this message came by."""
        listeners = [
            r
            for r in self._snapshot.values()
            if r.kind == "message"
            and r.message.exchange == routed.exchange
            and topic_matches(r.message.routing_key, routed.routing_key)
        ]
        if not listeners:
            return 0
        payload, type_name, source_id = _parse_payload(routed.payload)
        # without an id of its own a message cannot be told from its redelivery: it gets one start per delivery
        key = f"message:{source_id or routed.source_message_id or routed.message_id}"
        trigger = {"message": {"exchange": routed.exchange, "routing_key": routed.routing_key, "type": type_name}}
        started = 0
        for registration in listeners:
            if await self._fire(registration, key, items_of(payload), trigger):
                started += 1
        return started

    async def on_mqtt_message(self, registration: Registration, message: Any) -> bool:
        """Start the workflow for one MQTT message (an ``aiomqtt.Message``); True when this call started it."""
        from flowtape.triggers.mqtt import message_items, message_key

        params = registration.mqtt
        trigger = {"mqtt": {"topic": str(message.topic), "qos": message.qos, "retain": bool(message.retain)}}
        return await self._fire(registration, message_key(message), message_items(message, params.payload), trigger)

    async def relay(self, now: datetime) -> int:
        """Publish claimed fires whose claimer died before the broker had them; prune old fire keys."""
        from flowtape.common.messages.base import decode

        relayed = 0
        for row in await self._store.unpublished(now - RELAY_AFTER):
            await self._bus.publish(decode(row.message.encode()))
            await self._store.published(row.workflow_id, row.fire_key, self._clock())
            relayed += 1
        if relayed:
            log.warning("relayed %d trigger fires whose publisher had stopped", relayed)
        await self._store.prune(now - FIRE_RETENTION)
        return relayed
