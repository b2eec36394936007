"""The triggers service's composition root: its store, its handlers and its schedule runner."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from flowtape.common.backup_tables import DataSource, ServiceBackup, TableBackup
from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, ping
from flowtape.common.hosting import BaseRuntime
from flowtape.common.ops import Check
from flowtape.common.settings import Settings
from flowtape.triggers import bus as handlers
from flowtape.triggers.application import Clock, Triggers
from flowtape.triggers.metrics import TriggerMetrics
from flowtape.triggers.mqtt import MqttSubscriptions
from flowtape.triggers.scheduler import ScheduleRunner
from flowtape.triggers.store import SCHEMA, TriggerStore


def _now() -> datetime:
    return datetime.now(UTC)


class TriggersRuntime(BaseRuntime):
    name = "triggers"

    def __init__(
        self, settings: Settings, bus: Bus, registry: CollectorRegistry | None = None, clock: Clock = _now
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._clock = clock
        self._metrics = TriggerMetrics(registry)
        self._replica = uuid.uuid4().hex[:12]
        self._url = settings.database_url_for("triggers")

    async def open(self) -> None:
        self._db = async_engine(self._url, SCHEMA, pool_size=5)
        self.store = TriggerStore(self._db)
        await self.store.create()
        self.triggers = Triggers(self.store, self._bus, self._clock, self._metrics)
        self.runner = ScheduleRunner(self.triggers, self._bus, self._clock)
        self.mqtt = MqttSubscriptions(self._bus, self._settings.egress, self.triggers.on_mqtt_message, self._replica)
        self.triggers.watch(self.mqtt.sync)
        self.backup = ServiceBackup(
            "triggers",
            TableBackup("triggers", [DataSource(self._db, SCHEMA)]),
            {"registrations": ("trigger registrations", 0)},
            after_restore=self.triggers.restored,
        )

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(bus, self.triggers, self._replica, self.backup.handlers())

    async def started(self) -> None:
        await self.triggers.reload()
        self.runner.start()

    async def close(self) -> None:
        if hasattr(self, "runner"):
            await self.runner.stop()
        if hasattr(self, "mqtt"):
            await self.mqtt.close()
        if hasattr(self, "_db"):
            await self._db.dispose()

    def checks(self) -> Mapping[str, Check]:
        return {"database": lambda: ping(self._db)}


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> TriggersRuntime:
    return TriggersRuntime(settings, bus, registry)
