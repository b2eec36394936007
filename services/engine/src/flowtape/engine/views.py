"""How executions and workflows look to clients (the shapes of API.md), derived from aggregates and events."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

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


def execution_view(execution: Execution, children: list[str] | None = None) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for node_id, run in execution.nodes.items():
        with_items = [port for port, items in run.ports.items() if items]
        nodes[node_id] = {
            "status": run.status,
            "attempts": run.attempts,
            "input": run.input,
            "output": run.output if run.status == "succeeded" else None,
            "port": with_items[0] if len(with_items) == 1 else None,
            "ports": run.ports if run.status == "succeeded" else None,
            "error": run.error,
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
        }
        if run.resume_at is not None:
            nodes[node_id]["resume_at"] = iso(run.resume_at)
    view: dict[str, Any] = {
        "id": str(execution.id),
        "workflow_id": execution.workflow_id,
        "workflow_version": execution.workflow_version,
        "status": execution.status,
        "started_at": iso(execution.started_at),
        "finished_at": iso(execution.finished_at),
        "error": execution.error,
        "failed_node": execution.failed_node,
        "nodes": nodes,
        "output": execution.output,
        "parent": execution.parent,
        "events": execution.version,
    }
    if children is not None:
        view["children"] = children
    return view


def event_view(event: Any) -> dict[str, Any]:
    data = {
        f.name: _jsonable(getattr(event, f.name))
        for f in (fields(event) if is_dataclass(event) else [])
        if f.name not in _ENVELOPE
    }
    if not data:
        data = {k: _jsonable(v) for k, v in vars(event).items() if k not in _ENVELOPE}
    return {
        "seq": event.originator_version,
        "type": type(event).__name__,
        "at": iso(event.timestamp),
        "data": data,
    }


def workflow_view(workflow: Workflow, version: int | None = None) -> dict[str, Any]:
    number = version or workflow.latest_version
    definition = workflow.definition(number)
    return {
        "id": str(workflow.id),
        "name": definition.get("name", workflow.name),
        "version": number,
        "latest_version": workflow.latest_version,
        "active": workflow.active,
        "nodes": definition["nodes"],
        "edges": definition.get("edges", []),
        "settings": definition.get("settings", {}),
        "created_at": iso(workflow.created_on),
        "updated_at": iso(workflow.saved_at[number - 1]),
    }
