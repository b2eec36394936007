"""The connectors' Prometheus metrics: node runs by type and outcome, and how long they take."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ConnectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.node_runs = Counter(
            "flowtape_node_runs_total",
            "Node tasks run, by node type and outcome",
            ["node_type", "outcome"],
            registry=registry,
        )
        self.node_seconds = Histogram(
            "flowtape_node_run_seconds",
            "Node task duration",
            ["node_type"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300),
            registry=registry,
        )
