"""What other services see of an execution: the integration messages a saved decision implies.

The log's events belong to the aggregate; these are built from its state after the save, never before.
"""

from __future__ import annotations

import json
from uuid import UUID

from flowtape.common.limits import json_size
from flowtape.common.messages.base import Message
from flowtape.common.messages.connectors import CancelNodeTasks, RunNodeTask
from flowtape.common.messages.engine import Caller, CallWorkflow, ChildExecutionFinished, ExecutionFinished
from flowtape.common.resume_tokens import ResumeTokens
from flowtape.engine.domain.decider import EXECUTE_WORKFLOW, resume_urls
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.run_variables import recorded_variables, secret_variables
from flowtape.engine.views import execution_view, project_of


def dispatched(execution: Execution, graph: WorkflowGraph, node_id: str, tokens: ResumeTokens | None = None) -> Message:
    """What a dispatched node's current attempt is sent as: a call of another workflow, or a node task."""
    if graph.nodes[node_id].type == EXECUTE_WORKFLOW:
        return workflow_call(execution, node_id)
    return node_task(execution, graph, node_id, tokens)


def node_task(
    execution: Execution, graph: WorkflowGraph, node_id: str, tokens: ResumeTokens | None = None
) -> RunNodeTask:
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
    links = resume_urls(execution, graph, tokens.url if tokens else None) if "resume_urls" in referenced else {}
    return RunNodeTask(
        execution_id=str(execution.id),
        workflow_id=execution.workflow_id,
        workflow_version=execution.workflow_version,
        node_id=node_id,
        node_type=spec.type,
        node_version=spec.version,
        params=spec.params,
        items=run.input or [],
        attempt=run.attempts,
        run=run.runs,
        trigger=execution.trigger,
        node_outputs=outputs,
        timeout_seconds=spec.timeout_seconds,
        request=execution.trigger_meta.get("request"),
        workflow_settings=graph.definition.settings,
        resume_urls=links,
        variables=recorded_variables(execution.trigger_meta),
        secret_variables=secret_variables(execution.trigger_meta),
        project_id=project_of(execution),
    )


def workflow_call(execution: Execution, node_id: str) -> CallWorkflow:
    """The start of the child execution an execute_workflow node's current attempt recorded."""
    run = execution.nodes[node_id]
    call = next(call for call in reversed(execution.calls) if call["execution_id"] == run.child)
    return CallWorkflow(
        execution_id=UUID(call["execution_id"]),
        workflow_id=call["workflow_id"],
        version=call.get("version"),
        input=run.input or [],
        caller=Caller(
            execution_id=str(execution.id),
            node_id=node_id,
            workflow_id=execution.workflow_id,
            depth=execution.call_depth + 1,
            project_id=project_of(execution),
        ),
    )


#: the largest execution view a finish notice carries (as JSON, roughly); bigger runs are asked for
NOTICE_VIEW_BYTES = 256 * 1024


def finished_notice(execution: Execution, *, with_view: bool = True) -> ExecutionFinished:
    """``with_view`` False: nobody waits on the notice for the run (its start's reply answers the caller)."""
    view = None
    if with_view:
        view = execution_view(execution, children=[])  # a run that just finished has no forks yet
        if json_size(view.model_dump(), NOTICE_VIEW_BYTES) > NOTICE_VIEW_BYTES:
            view = None
    return ExecutionFinished(
        workflow_id=execution.workflow_id,
        execution_id=str(execution.id),
        workflow_version=execution.workflow_version,
        status=execution.status,
        project_id=project_of(execution),
        error=execution.error,
        execution=view,
        answered=not with_view,
    )


def child_notice(execution: Execution) -> ChildExecutionFinished | None:
    """For a run an execute_workflow node started: its outcome, for the caller's partition."""
    caller = execution.caller
    if caller is None:
        return None
    return ChildExecutionFinished(
        execution_id=str(caller["execution_id"]),
        node_id=str(caller["node_id"]),
        child_execution_id=str(execution.id),
        status=execution.status,
        output=execution.output if execution.status == "succeeded" else [],
        error=execution.error,
        started_at=execution.started_at,
    )


def finish_notices(execution: Execution, *, with_view: bool = True) -> list[Message]:
    """Everything a finished execution tells others: that it finished, and its outcome to a caller."""
    notices: list[Message] = [finished_notice(execution, with_view=with_view)]
    child = child_notice(execution)
    if child is not None:
        notices.append(child)
    return notices


def cancel_tasks(execution: Execution) -> CancelNodeTasks:
    return CancelNodeTasks(execution_id=str(execution.id))
