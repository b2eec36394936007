"""Running node tasks: the connectors' one verb, plus publishing what they can run.

A task's outcome is redacted before it leaves :meth:`NodeRunner.run`: every secret of a credential the node
used is replaced in its output items and its error, so neither the completed-task record, the bus nor the
execution log ever holds one.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import StatusCode
from pydantic import ValidationError

from flowtape.common import logs, telemetry
from flowtape.common.errors import FlowtapeError, RemoteRateLimited
from flowtape.common.limits import DEFAULT_LIMITS, Limits
from flowtape.common.messages.connectors import NodeTaskCompleted, RunNodeTask
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.binaries import BinaryStore
from flowtape.connectors.completed import CompletedTasks
from flowtape.connectors.domain.redaction import Redactor
from flowtape.connectors.metrics import ConnectorMetrics
from flowtape.connectors.registry import NodeRegistry
from flowtape.connectors.variables import Variables
from flowtape.connectors.vault import Vault

log = logging.getLogger("flowtape.connectors")

DEFAULT_TIMEOUT_SECONDS = 300.0
CANCELLED_MEMORY = 10_000


class NodeRunner:
    def __init__(
        self,
        registry: NodeRegistry,
        completed: CompletedTasks,
        metrics: ConnectorMetrics | None = None,
        vault: Vault | None = None,
        limits: Limits = DEFAULT_LIMITS,
        binaries: BinaryStore | None = None,
        variables: Variables | None = None,
    ) -> None:
        """Without a ``vault``, nodes that ask for a credential fail saying credentials are not available;
        without ``binaries``, nodes that store or read binary data fail saying so; without ``variables``,
        secret variables read as their placeholder.

        An output beyond ``limits`` fails its node here, so it never crosses the bus.
        """
        self._registry = registry
        self._limits = limits
        self._completed = completed
        self._metrics = metrics or ConnectorMetrics()
        self._vault = vault
        self._binaries = binaries
        self._variables = variables
        self._running: dict[str, set[asyncio.Task[NodeTaskCompleted]]] = {}
        self._in_flight: dict[str, asyncio.Task[NodeTaskCompleted]] = {}
        #: recently cancelled executions (bounded): a task of theirs arriving late is not started
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    def catalog(self) -> list[dict[str, Any]]:
        return self._registry.catalog()

    async def handle(self, task: RunNodeTask) -> NodeTaskCompleted | None:
        """Run a task once per idempotency key; None when its execution was cancelled meanwhile."""
        try:
            known = await self._completed.get(task.idempotency_key)
        except Exception as exc:
            # availability first: without the record the task may run twice, under the same idempotency key
            log.warning("completed-task records unavailable (%s); running %s", exc, task.idempotency_key)
            known = None
        if known is not None:
            log.info("task %s already ran; answering with its recorded outcome", task.idempotency_key)
            return known
        if task.execution_id in self._cancelled:
            return None
        if task.idempotency_key in self._in_flight:
            # the same attempt sent again while it runs here (an engine replica took its partition over and
            # dispatched its in-flight tasks again): the run in progress publishes the one outcome
            log.info("task %s is running already; not starting it twice", task.idempotency_key)
            return None
        running = asyncio.create_task(self.run(task))
        self._in_flight[task.idempotency_key] = running
        try:
            return await self._finish(task, running)
        finally:
            self._in_flight.pop(task.idempotency_key, None)  # from now on the record answers a repeat

    async def _finish(self, task: RunNodeTask, running: asyncio.Task[NodeTaskCompleted]) -> NodeTaskCompleted | None:
        self._running.setdefault(task.execution_id, set()).add(running)
        try:
            completed = await running
        except asyncio.CancelledError:
            if running.cancelled() and task.execution_id in self._cancelled:
                log.info("stopped node %s: its execution was cancelled", task.node_id)
                return None
            raise
        finally:
            tasks = self._running.get(task.execution_id)
            if tasks is not None:
                tasks.discard(running)
                if not tasks:
                    self._running.pop(task.execution_id, None)
        try:
            await self._completed.remember(task.idempotency_key, completed)
        except Exception as exc:
            log.warning("could not record the outcome of %s (%s); publishing it anyway", task.idempotency_key, exc)
        return completed

    def cancel(self, execution_id: str) -> int:
        """Stop the execution's running tasks here; returns how many were stopped."""
        self._cancelled[execution_id] = None
        while len(self._cancelled) > CANCELLED_MEMORY:
            self._cancelled.popitem(last=False)
        tasks = self._running.get(execution_id, set())
        for running in tasks:
            running.cancel()
        return len(tasks)

    async def run(self, task: RunNodeTask) -> NodeTaskCompleted:
        """Run one attempt; any failure of the node becomes a ``failed`` outcome, never a bus retry.

        The attempt is a span of the execution's trace (the task's message carried it here)."""
        attributes = {
            "flowtape.execution.id": task.execution_id,
            "flowtape.node.id": task.node_id,
            "flowtape.node.type": task.node_type,
            "flowtape.node.attempt": task.attempt,
        }
        with telemetry.tracer().start_as_current_span(f"node {task.node_type}", attributes=attributes) as span:
            completed = await self._run(task)
            span.set_attribute("flowtape.node.outcome", completed.outcome)
            log.debug(
                "node %s (%s) of execution %s, attempt %d: %s",
                task.node_id,
                task.node_type,
                task.execution_id,
                task.attempt,
                completed.outcome,
            )
            if completed.outcome != "succeeded":
                span.set_status(StatusCode.ERROR, (completed.error or "")[:200])
            return completed

    async def _run(self, task: RunNodeTask) -> NodeTaskCompleted:
        logs.execution_id.set(task.execution_id)
        started = datetime.now(UTC)
        timeout = task.timeout_seconds or DEFAULT_TIMEOUT_SECONDS
        credentials = self._vault.for_task(task.project_id) if self._vault is not None else None
        redactor = credentials.redactor if credentials is not None else Redactor()
        outcome: dict[str, Any]
        try:
            node = self._registry.get(task.node_type, task.node_version)
            variables = dict(task.variables)
            if task.secret_variables and self._variables is not None:
                secrets = await self._variables.secret_values(task.workflow_id, task.project_id, task.secret_variables)
                redactor.add(secrets.values())
                variables.update(secrets)
            ctx = NodeContext(
                execution_id=task.execution_id,
                workflow_id=task.workflow_id,
                workflow_version=task.workflow_version,
                node_id=task.node_id,
                attempt=task.attempt,
                trigger=task.trigger,
                node_outputs=task.node_outputs,
                timeout_seconds=timeout,
                request=task.request,
                workflow_settings=task.workflow_settings,
                credentials=credentials,
                limits=self._limits,
                run=task.run,
                resume_urls=task.resume_urls,
                variables=variables,
                binary_store=(
                    self._binaries.for_task(task.workflow_id, task.execution_id) if self._binaries is not None else None
                ),
            )
            result = await asyncio.wait_for(execute_node(node, task.params, ctx, task.items), timeout)
            outcome = {"outcome": "succeeded", "ports": redactor.value(result.ports)}
        except TimeoutError:
            outcome = {
                "outcome": "failed",
                "error": f"node timed out after {timeout:g} s (raise timeout_seconds on the node if it needs longer)",
                "error_code": "timeout",
            }
        except FlowtapeError as exc:
            outcome = {"outcome": "failed", "error": redactor.text(exc.message), "error_code": exc.code}
            if isinstance(exc, RemoteRateLimited):
                outcome["retry_after_seconds"] = exc.retry_after if exc.retry_after is not None else 1.0
        except Exception as exc:
            if redactor:
                # the exception's text may quote a secret: log the traceback redacted
                trace = redactor.text("".join(traceback.format_exception(exc)))
                log.error("node %s (%s) crashed\n%s", task.node_id, task.node_type, trace)
            else:
                log.exception("node %s (%s) crashed", task.node_id, task.node_type)
            crash = redactor.text(f"{type(exc).__name__}: {exc}")
            outcome = {"outcome": "failed", "error": crash, "error_code": "node_crashed"}
        envelope = task.caused(
            execution_id=task.execution_id,
            node_id=task.node_id,
            attempt=task.attempt,
            run=task.run,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
        try:
            completed = NodeTaskCompleted(**envelope, **outcome)
            completed.encode()
        except (ValidationError, TypeError, ValueError) as exc:
            completed = NodeTaskCompleted(
                **envelope,
                outcome="failed",
                error=redactor.text(f"the node returned items that are not JSON: {exc}"),
                error_code="invalid_output",
            )
        self._metrics.node_runs.labels(task.node_type, completed.outcome).inc()
        self._metrics.node_seconds.labels(task.node_type).observe(
            (completed.finished_at - completed.started_at).total_seconds()
        )
        return completed
