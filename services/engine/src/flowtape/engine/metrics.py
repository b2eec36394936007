"""The engine's Prometheus metrics (the bus middleware counts messages; these count domain outcomes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.executions_started = Counter("flowtape_executions_started_total", "Executions started", registry=registry)
        self.executions_finished = Counter(
            "flowtape_executions_finished_total",
            "Executions finished, by final status",
            ["status"],
            registry=registry,
        )
        self.partitions_owned = Gauge(
            "flowtape_engine_partitions_owned", "Partitions of the executions this replica decides", registry=registry
        )
