"""How executions and workflows look to clients, derived from aggregates and events.

The shapes are :mod:`flowtape.common.views` (API.md's): the gateway answers with the same models."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from flowtape.common import telemetry, views
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.resume_tokens import ResumeTokens
from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.workflow import Workflow

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def execution_view(
    execution: Execution, children: list[str] | None = None, tokens: ResumeTokens | None = None
) -> views.Execution:
    """API.md's execution shape. Beside it: a node inside a loop shows its latest run with ``runs`` (how many
    so far) and ``iteration`` (the batch), a loop node its ``iteration`` of ``iterations``, an execute_workflow
    node the ``child_execution_id`` it started, and a wait for a call its ``resume_url`` (also its output)
    while it waits; the run shows the ``caller`` that started it and the ``calls`` it made."""
    nodes: dict[str, views.NodeState] = {}
    for node_id, run in execution.nodes.items():
        with_items = [port for port, items in run.ports.items() if items]
        succeeded = run.status == "succeeded"
        output = run.output if succeeded else None
        resume_url = None
        if run.call == "awaited" and run.status == "waiting" and tokens is not None:
            resume_url = tokens.url(str(execution.id), node_id, run.runs)
            output = [{"resume_url": resume_url}]
        looped = run.runs > 1 or run.iteration is not None
        nodes[node_id] = views.NodeState(
            status=run.status,
            attempts=run.attempts,
            input=run.input,
            output=output,
            port=with_items[0] if len(with_items) == 1 else None,
            ports=run.ports if succeeded else None,
            error=run.error,
            started_at=iso(run.started_at),
            finished_at=iso(run.finished_at),
            resume_at=iso(run.resume_at),
            runs=run.runs if looped else None,
            iteration=run.iteration if looped else None,
            iterations=run.loop.iterations if run.loop is not None else None,
            child_execution_id=run.child,
            resume_url=resume_url,
        )
    return views.Execution(
        id=str(execution.id),
        workflow_id=execution.workflow_id,
        project_id=project_of(execution),
        workflow_version=execution.workflow_version,
        status=execution.status,
        started_at=iso(execution.started_at),
        finished_at=iso(execution.finished_at),
        error=execution.error,
        failed_node=execution.failed_node,
        nodes=nodes,
        output=execution.output,
        parent=execution.parent,
        trace_id=telemetry.trace_id_of(execution.trigger_meta.get("trace")),
        caller=_caller(execution),
        calls=[{"execution_id": call["execution_id"], "node": call["node"]} for call in execution.calls],
        events=execution.version,
        children=children,
        variables=execution.trigger_meta.get("variables") or {},
        test=bool(execution.trigger_meta.get("test")),
        debug=_debug(execution),
    )


def _debug(execution: Execution) -> dict[str, Any] | None:
    debug = execution.debug
    if debug is None:
        return None
    paused = execution.breakpoint
    if paused is not None:  # the input it will run on: the operator's edit, else what reached it
        paused = {**paused, "input": execution.input_overrides.get(paused["node"], paused.get("input"))}
    return {**debug, "paused_at": paused, "stepping": execution.stepping}


def _caller(execution: Execution) -> dict[str, Any] | None:
    caller = execution.caller
    if caller is None:
        return None
    return {
        "execution_id": caller.get("execution_id"),
        "node": caller.get("node_id"),
        "workflow_id": caller.get("workflow_id"),
    }


def event_view(event: Any) -> views.ExecutionEvent:
    data = {
        f.name: _jsonable(getattr(event, f.name))
        for f in (fields(event) if is_dataclass(event) else [])
        if f.name not in _ENVELOPE
    }
    if not data:
        data = {k: _jsonable(v) for k, v in vars(event).items() if k not in _ENVELOPE}
    return views.ExecutionEvent(
        seq=event.originator_version, type=type(event).__name__, at=iso(event.timestamp) or "", data=data
    )


def project_in(trigger_meta: dict[str, Any] | None) -> str:
    """A run's project from its start's ``trigger_meta`` (its workflow's, recorded in ``ExecutionStarted``); a run
    from before projects is the default project's."""
    return str((trigger_meta or {}).get("project_id") or DEFAULT_PROJECT)


def project_of(execution: Execution) -> str:
    return project_in(execution.trigger_meta)


def workflow_view(workflow: Workflow, version: int | None = None) -> views.Workflow:
    number = version or workflow.latest_version
    definition = workflow.definition(number)
    return views.Workflow(
        id=str(workflow.id),
        name=definition.get("name", workflow.name),
        project_id=workflow.project_id,
        version=number,
        latest_version=workflow.latest_version,
        active=workflow.active,
        nodes=definition["nodes"],
        edges=definition.get("edges", []),
        settings=definition.get("settings", {}),
        tags=definition.get("tags") or [],
        created_at=iso(workflow.created_on) or "",
        updated_at=iso(workflow.saved_at[number - 1]) or "",
        pinned=workflow.pinned,
    )
