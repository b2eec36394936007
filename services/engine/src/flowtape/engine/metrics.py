"""The engine's Prometheus metrics (the bus middleware counts messages; these count domain outcomes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.executions_started = Counter("flowtape_executions_started_total", "Executions started", registry=registry)
        self.executions_finished = Counter(
            "flowtape_executions_finished_total",
            "Executions finished, by final status",
            ["status"],
            registry=registry,
        )
        self.execution_seconds = Histogram(
            "flowtape_execution_duration_seconds",
            "Executions from start to finish, by workflow and final status",
            ["workflow_id", "status"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
            registry=registry,
        )
        self.decision_seconds = Histogram(
            "flowtape_engine_decision_seconds",
            "One decision of a loaded execution: deciding, saving, handing its messages to the outbox; by input",
            ["input"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.node_retries = Counter(
            "flowtape_node_retries_total",
            "Node attempts scheduled again after a failure, by node type",
            ["node_type"],
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "flowtape_engine_outbox_backlog",
            "Messages decided and saved, not yet taken by the broker",
            registry=registry,
        )
        self.dead_letters = Counter(
            "flowtape_dead_letters_total",
            "Messages dead-lettered, by the queue they died on",
            ["queue"],
            registry=registry,
        )
        self.partitions_owned = Gauge(
            "flowtape_engine_partitions_owned", "Partitions of the executions this replica decides", registry=registry
        )
