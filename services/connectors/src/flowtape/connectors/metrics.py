"""The connectors' Prometheus metrics: node runs by type and outcome, how long they take, and whether code
nodes can run in the isolation the operator chose."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.code_isolation = Gauge(
            "flowtape_code_isolation_usable",
            "1 when code nodes can run in the configured isolation mode, 0 when they refuse to run",
            ["mode"],
            registry=registry,
        )
