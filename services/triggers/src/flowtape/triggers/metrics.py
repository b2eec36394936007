"""The triggers service's Prometheus metrics: registrations, fires started and fires another replica won."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class TriggerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registrations = Gauge(
            "flowtape_trigger_registrations", "Trigger registrations of active workflows", registry=registry
        )
        self.fires = Counter(
            "flowtape_trigger_fires_total",
            "Executions started by triggers, by trigger kind",
            ["kind"],
            registry=registry,
        )
        self.fires_lost = Counter(
            "flowtape_trigger_fires_lost_total",
            "Fire keys another replica (or an earlier delivery) had already claimed, by trigger kind",
            ["kind"],
            registry=registry,
        )
        self.schedule_lag = Histogram(
            "flowtape_schedule_lag_seconds",
            "How late a schedule tick started its execution: fire time minus due time",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.conflicts = Counter(
            "flowtape_trigger_conflicts_total",
            "Registrations refused because a webhook route was taken",
            registry=registry,
        )
