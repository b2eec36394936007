"""The workflow aggregate: every save is a new immutable version; executions name the version they ran."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

#: the project of workflows created before projects existed (``flowtape.common.projects.DEFAULT_PROJECT``;
#: the domain imports nothing of the platform's)
DEFAULT_PROJECT = "default"


class Workflow(Aggregate):
    @event("WorkflowCreated")
    def __init__(self, name: str, definition: dict[str, Any], project_id: str = DEFAULT_PROJECT) -> None:
        """``project_id`` is fixed for good; a ``WorkflowCreated`` from before projects has none and is the default
        project's (the event's missing attribute takes the parameter's default)."""
        self.name = name
        self.project_id = project_id
        self.versions: list[dict[str, Any]] = [definition]
        self.saved_at = [self.created_on]
        self.active = False
        self.deleted = False
        #: outputs pinned in the draft (by node, then port): no part of any version, used only by test runs
        self.pinned: dict[str, dict[str, list[dict[str, Any]]]] = {}

    @classmethod
    def imported(
        cls, workflow_id: UUID, name: str, definition: dict[str, Any], project_id: str = DEFAULT_PROJECT
    ) -> Workflow:
        """A workflow created under an id it had elsewhere (an exported file), so importing it again finds it."""
        event_class = cls.WorkflowCreated  # type: ignore[attr-defined]  # declared by @event("WorkflowCreated")
        created: Workflow = cls._create(
            event_class, id=workflow_id, name=name, definition=definition, project_id=project_id
        )
        return created

    @property
    def latest_version(self) -> int:
        return len(self.versions)

    def definition(self, version: int | None = None) -> dict[str, Any]:
        return self.versions[(version or self.latest_version) - 1]

    @event("WorkflowVersionSaved")
    def save_version(self, name: str, definition: dict[str, Any]) -> None:
        self.name = name
        self.versions.append(definition)
        self.saved_at.append(self.modified_on)

    @event("WorkflowActivated")
    def activate(self, version: int) -> None:
        self.active = True

    @event("WorkflowDeactivated")
    def deactivate(self) -> None:
        self.active = False

    @event("NodeOutputPinned")
    def pin_output(self, node_id: str, port: str, items: list[dict[str, Any]]) -> None:
        self.pinned[node_id] = {port: items}

    @event("NodeOutputUnpinned")
    def unpin_output(self, node_id: str) -> None:
        self.pinned.pop(node_id, None)

    @event("WorkflowDeleted")
    def delete(self) -> None:
        self.deleted = True
        self.active = False
