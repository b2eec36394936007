"""What other services see of an execution: the integration messages a saved decision implies.

The log's events belong to the aggregate; these are built from its state after the save, never before.
"""

from __future__ import annotations

import json

from flowtape.common.limits import json_size
from flowtape.common.messages.connectors import CancelNodeTasks, RunNodeTask
from flowtape.common.messages.engine import ExecutionFinished
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.views import execution_view


def node_task(execution: Execution, graph: WorkflowGraph, node_id: str) -> RunNodeTask:
    """The task for a dispatched node's current attempt (the same attempt, so the same idempotency key, when sent
    again); it carries the outputs of the earlier nodes its parameters mention."""
    spec = graph.nodes[node_id]
    run = execution.nodes[node_id]
    referenced = json.dumps(spec.params)
    outputs = {
        other: other_run.output
        for other, other_run in execution.nodes.items()
        if other_run.status == "succeeded" and (f'"{other}' in referenced or f"'{other}" in referenced)
    }
    return RunNodeTask(
        execution_id=str(execution.id),
        workflow_id=execution.workflow_id,
        workflow_version=execution.workflow_version,
        node_id=node_id,
        node_type=spec.type,
        params=spec.params,
        items=run.input or [],
        attempt=run.attempts,
        trigger=execution.trigger,
        node_outputs=outputs,
        timeout_seconds=spec.timeout_seconds,
        request=execution.trigger_meta.get("request"),
        workflow_settings=graph.definition.settings,
    )


#: the largest execution view a finish notice carries (as JSON, roughly); bigger runs are asked for
NOTICE_VIEW_BYTES = 256 * 1024


def finished_notice(execution: Execution) -> ExecutionFinished:
    view = execution_view(execution, children=[])  # a run that just finished has no forks yet
    small = json_size(view, NOTICE_VIEW_BYTES) <= NOTICE_VIEW_BYTES
    return ExecutionFinished(
        workflow_id=execution.workflow_id,
        execution_id=str(execution.id),
        workflow_version=execution.workflow_version,
        status=execution.status,
        error=execution.error,
        execution=view if small else None,
    )


def cancel_tasks(execution: Execution) -> CancelNodeTasks:
    return CancelNodeTasks(execution_id=str(execution.id))
