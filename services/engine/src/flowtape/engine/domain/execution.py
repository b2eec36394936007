"""The execution aggregate: an append-only log of what happened in one run, and the state it implies.

Every fact needed to rebuild a run (its exact workflow version, trigger items, each node's input, output,
error and attempt) is in an event, so the state below is only ever derived by applying them. Event classes
are stored by name: never edit one in place; add a ``class_version`` and an upcaster instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

Items = list[dict[str, Any]]
NodeStatus = Literal["pending", "scheduled", "running", "waiting", "retrying", "succeeded", "failed", "skipped"]
SETTLED: frozenset[str] = frozenset({"succeeded", "failed", "skipped"})
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class NodeRun:
    status: NodeStatus = "pending"
    attempts: int = 0
    input: Items | None = None
    ports: dict[str, Items] = field(default_factory=dict)
    error: str | None = None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    resume_at: datetime | None = None
    retry_at: datetime | None = None
    #: sent to the connectors (not evaluated inline by the engine)
    dispatched: bool = False
    #: copied from the parent execution by a fork, not run again
    copied_from: str | None = None

    @property
    def output(self) -> Items:
        return [item for items in self.ports.values() for item in items]


class Execution(Aggregate):
    @event("ExecutionStarted")
    def __init__(
        self,
        workflow_id: str,
        workflow_version: int,
        trigger: Items,
        trigger_meta: dict[str, Any],
        node_ids: list[str],
        deadline: datetime | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.workflow_version = workflow_version
        self.trigger = trigger
        self.trigger_meta = trigger_meta
        self.status: str = "running"
        self.nodes: dict[str, NodeRun] = {node_id: NodeRun() for node_id in node_ids}
        self.finish_order: list[str] = []
        self.output: Items = []
        self.error: str | None = None
        self.failed_node: str | None = None
        self.finished_at: datetime | None = None
        self.parent: dict[str, str] | None = None
        self.deadline = deadline
        self.input_overrides: dict[str, Items] = {}

    @classmethod
    def begin(
        cls,
        execution_id: UUID | None,
        *,
        workflow_id: str,
        workflow_version: int,
        trigger: Items,
        trigger_meta: dict[str, Any],
        node_ids: list[str],
        deadline: datetime | None,
    ) -> Execution:
        """A new run, with the id its caller chose when there is one (the ``ExecutionStarted`` is the same)."""
        started: dict[str, Any] = {
            "workflow_id": workflow_id,
            "workflow_version": workflow_version,
            "trigger": trigger,
            "trigger_meta": trigger_meta,
            "node_ids": node_ids,
            "deadline": deadline,
        }
        if execution_id is None:
            return cls(**started)
        created: Execution = cls._create(cls.ExecutionStarted, id=execution_id, **started)  # type: ignore[attr-defined]
        return created

    @property
    def started_at(self) -> datetime:
        return self.created_on

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @event("ExecutionForked")
    def fork_from(self, parent_id: str, node_id: str, input_override: Items | None) -> None:
        """A re-run of ``parent_id`` from ``node_id``: nodes that do not depend on it are copied, not re-run."""
        self.parent = {"execution_id": parent_id, "node": node_id}
        if input_override is not None:
            self.input_overrides[node_id] = input_override

    @event("NodeCopied")
    def copy_node(self, node_id: str, status: str, input: Items | None, ports: dict[str, Items]) -> None:
        run = self.nodes[node_id]
        run.status = "succeeded" if status == "succeeded" else "skipped"
        run.attempts = 0
        run.input = input
        run.ports = ports
        run.copied_from = self.parent["execution_id"] if self.parent else None
        if run.status == "succeeded":
            run.started_at = run.finished_at = self.modified_on
            self.finish_order.append(node_id)

    @event("NodeScheduled")
    def schedule_node(self, node_id: str, attempt: int, input: Items, dispatch: bool = False) -> None:
        run = self.nodes[node_id]
        run.status = "scheduled"
        run.attempts = attempt
        run.input = input
        run.error = None
        run.retry_at = None
        run.dispatched = dispatch
        run.scheduled_at = self.modified_on
        run.started_at = None

    @event("NodeEvaluated")
    def evaluate_node(
        self, node_id: str, input_from: list[list[str]] | None, input: Items | None, ports: dict[str, Items]
    ) -> None:
        """A node the engine ran inline, in one event: its input is ``input``, or when that is None the items
        the ``[node, port]`` pairs of ``input_from`` held (the trigger's items when there are none), so the
        log does not hold each chain's items twice."""
        run = self.nodes[node_id]
        run.input = input if input is not None else self._input_from(input_from or [])
        run.status = "succeeded"
        run.attempts = 1
        run.ports = ports
        run.error = None
        run.dispatched = False
        run.scheduled_at = run.started_at = run.finished_at = self.modified_on
        self._finished_node(node_id)

    def _input_from(self, sources: list[list[str]]) -> Items:
        if not sources:
            return list(self.trigger)
        items: Items = []
        for source, port in sources:
            feeding = self.nodes[source]
            if feeding.status == "succeeded":
                items.extend(feeding.ports.get(port, []))
        return items

    @event("NodeStarted")
    def start_node(self, node_id: str, attempt: int, started_at: datetime) -> None:
        run = self.nodes[node_id]
        run.status = "running"
        run.started_at = started_at

    @event("NodeSucceeded")
    def succeed_node(self, node_id: str, attempt: int, ports: dict[str, Items]) -> None:
        run = self.nodes[node_id]
        run.status = "succeeded"
        run.ports = ports
        run.started_at = run.started_at or run.scheduled_at
        run.finished_at = self.modified_on
        run.resume_at = None
        self._finished_node(node_id)

    @event("NodeFailed")
    def fail_node(self, node_id: str, attempt: int, error: str, code: str) -> None:
        run = self.nodes[node_id]
        run.status = "failed"
        run.error = error
        run.started_at = run.started_at or run.scheduled_at
        run.finished_at = self.modified_on
        self._finished_node(node_id)

    def _finished_node(self, node_id: str) -> None:
        if node_id in self.finish_order:
            self.finish_order.remove(node_id)
        self.finish_order.append(node_id)

    @event("NodeRetryScheduled")
    def schedule_retry(self, node_id: str, attempt: int, retry_at: datetime) -> None:
        """``attempt`` failed and will be tried again (as ``attempt + 1``) at ``retry_at``."""
        run = self.nodes[node_id]
        run.status = "retrying"
        run.retry_at = retry_at

    @event("NodesSkipped")
    def skip_nodes(self, node_ids: list[str]) -> None:
        for node_id in node_ids:
            self.nodes[node_id].status = "skipped"

    @event("ExecutionPaused")
    def pause(self, node_id: str, resume_at: datetime) -> None:
        run = self.nodes[node_id]
        run.status = "waiting"
        run.started_at = self.modified_on
        run.resume_at = resume_at
        self.status = "waiting"

    @event("ExecutionResumed")
    def resume(self, node_id: str) -> None:
        self.status = "running"

    @event("ExecutionSucceeded")
    def succeed(self, output: Items) -> None:
        self.status = "succeeded"
        self.output = output
        self.finished_at = self.modified_on

    @event("ExecutionFailed")
    def fail(self, error: str, node_id: str | None) -> None:
        self.status = "failed"
        self.error = error
        self.failed_node = node_id
        self.finished_at = self.modified_on

    @event("ExecutionCancelled")
    def cancel(self, reason: str) -> None:
        self.status = "cancelled"
        self.error = reason
        self.finished_at = self.modified_on

    def waiting_nodes(self) -> list[str]:
        return [node_id for node_id, run in self.nodes.items() if run.status == "waiting"]

    def in_flight(self) -> list[str]:
        """Nodes handed to the connectors whose outcome is not recorded yet."""
        return [
            node_id for node_id, run in self.nodes.items() if run.status in ("scheduled", "running") and run.dispatched
        ]

    def retrying(self) -> list[str]:
        return [node_id for node_id, run in self.nodes.items() if run.status == "retrying"]

    def first_failed(self) -> str | None:
        for node_id in self.finish_order:
            if self.nodes[node_id].status == "failed":
                return node_id
        return None
