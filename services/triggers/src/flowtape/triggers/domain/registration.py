"""What an active workflow registers: the one trigger node of its definition, read into typed parameters.

A workflow has exactly one trigger node (the engine validates that), so a registration is keyed by
workflow. ``manual_trigger`` workflows register nothing: they only run when asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from flowtape.common.errors import InvalidWorkflow
from flowtape.common.nodes.builtin import (
    ExecutionTriggerParams,
    MessageTriggerParams,
    ScheduleParams,
    WebhookParams,
)
from flowtape.common.nodes.mqtt import MqttTriggerParams
from flowtape.common.nodes.sdk import NodeParams
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.triggers.domain.schedule import Schedule

Kind = Literal["webhook", "schedule", "execution", "message", "mqtt"]

PARAMS: dict[str, tuple[Kind, type[NodeParams]]] = {
    "webhook": ("webhook", WebhookParams),
    "schedule": ("schedule", ScheduleParams),
    "execution_trigger": ("execution", ExecutionTriggerParams),
    "message_trigger": ("message", MessageTriggerParams),
    "mqtt_trigger": ("mqtt", MqttTriggerParams),
}


@dataclass(frozen=True)
class Registration:
    workflow_id: str
    version: int
    kind: Kind
    node_id: str
    params: dict[str, Any]
    respond_nodes: tuple[str, ...] = ()
    registered_at: datetime | None = None
    last_tick_at: datetime | None = None
    last_fired_at: datetime | None = None
    #: the workflow's project: its trigger opens that project's credentials, and watches that project's runs
    project_id: str = DEFAULT_PROJECT

    @property
    def webhook(self) -> WebhookParams:
        return WebhookParams.model_validate(self.params)

    @property
    def schedule(self) -> Schedule:
        return Schedule.of(ScheduleParams.model_validate(self.params))

    @property
    def execution(self) -> ExecutionTriggerParams:
        return ExecutionTriggerParams.model_validate(self.params)

    @property
    def message(self) -> MessageTriggerParams:
        return MessageTriggerParams.model_validate(self.params)

    @property
    def mqtt(self) -> MqttTriggerParams:
        return MqttTriggerParams.model_validate(self.params)

    @property
    def route_key(self) -> str | None:
        """``"<METHOD> <path>"`` for a webhook: unique among registrations."""
        if self.kind != "webhook":
            return None
        return route_key(self.webhook.method, self.webhook.path)

    def same_trigger(self, other: Registration) -> bool:
        """Same kind and parameters: a new version that keeps its schedule keeps its schedule's history."""
        return self.kind == other.kind and json.dumps(self.params, sort_keys=True) == json.dumps(
            other.params, sort_keys=True
        )


def route_key(method: str, path: str) -> str:
    return f"{method.upper()} {path.strip('/')}"


def registration_of(
    workflow_id: str, version: int, definition: Mapping[str, Any], project_id: str = DEFAULT_PROJECT
) -> Registration | None:
    """The registration a workflow version's trigger node asks for, or None (manual runs only)."""
    nodes = definition.get("nodes") or []
    trigger = next((node for node in nodes if node.get("type") in PARAMS), None)
    if trigger is None:
        return None
    kind, model = PARAMS[trigger["type"]]
    try:
        params = model.model_validate(trigger.get("params") or {})
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise InvalidWorkflow(
            f"invalid workflow: node {trigger['id']!r}: {where}: {problem['msg']}",
            details=[{"node": trigger["id"], "message": problem["msg"]}],
        ) from None
    respond = tuple(node["id"] for node in nodes if node.get("type") == "respond")
    return Registration(
        workflow_id=workflow_id,
        version=version,
        kind=kind,
        node_id=str(trigger["id"]),
        params=params.model_dump(mode="json"),
        respond_nodes=respond,
        project_id=project_id,
    )
