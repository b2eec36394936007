"""Where a variable belongs: a project's own are scoped ``project:<id>``, a workflow's own by the workflow's id
(a UUID, which never starts so); a run sees its project's overridden by its workflow's.

A stored value is sealed with its scope and name as associated data, so a ciphertext copied onto another
variable's row does not open.
"""

from __future__ import annotations

#: the scope platform variables had before projects (they are moved into the default project at start)
PLATFORM = ""
#: a project's scope starts with this
PROJECT_SCOPE_PREFIX = "project:"


def project_scope(project_id: str) -> str:
    return PROJECT_SCOPE_PREFIX + project_id


def scope_of(workflow_id: str | None, project_id: str) -> str:
    """A workflow's own variables when a workflow is named, else the project's."""
    return workflow_id or project_scope(project_id)


def workflow_of(scope: str) -> str | None:
    """The workflow whose own variables ``scope`` holds; None for a project's."""
    return None if scope.startswith(PROJECT_SCOPE_PREFIX) else scope


def associated_data(scope: str, name: str) -> str:
    """What a variable's ciphertext is bound to: its row."""
    return f"variable:{scope}:{name}"
