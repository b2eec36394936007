"""Rules about projects that hold whatever the storage: who is a platform admin, where a user's things go, and
what an API key may do in its project.

``users.role`` admin makes a platform admin, who may act in every project; anyone else acts only where they are a
member, with their role there. Memberships arrive as project id -> role, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flowtape.common.errors import Forbidden, InvalidInput
from flowtape.common.messages.auth import Role, allows, lower
from flowtape.common.projects import DEFAULT_PROJECT


def is_platform_admin(user_role: Role) -> bool:
    return user_role == "admin"


def check_name(name: str) -> str:
    """A project's name as stored: trimmed, never empty."""
    value = name.strip()
    if not value:
        raise InvalidInput("a project needs a name", details=[{"field": "name", "message": "empty"}])
    return value


def default_project(memberships: Mapping[str, Role]) -> str | None:
    """Where a user's new things go: the default project when a member there, else their oldest project."""
    if DEFAULT_PROJECT in memberships:
        return DEFAULT_PROJECT
    return next(iter(memberships), None)


@dataclass(frozen=True)
class KeyScope:
    project_id: str | None
    role: Role


def key_scope(owner_role: Role, memberships: Mapping[str, Role], project_id: str | None, role: Role | None) -> KeyScope:
    """The project and role of a new API key. Only a platform admin makes a platform key (no project); anyone else
    makes one in a project they are a member of (their default one unless named), never above their role there."""
    admin = is_platform_admin(owner_role)
    if project_id is None and not admin:
        project_id = default_project(memberships)
        if project_id is None:
            raise Forbidden("you are a member of no project, so an API key of yours could act nowhere")
    if admin:
        ceiling: Role = "admin"
    elif project_id is not None and project_id in memberships:
        ceiling = memberships[project_id]
    else:
        raise Forbidden(f"you are not a member of project {project_id}: a key can act only where its maker may")
    key_role = role or ceiling
    if not allows(ceiling, key_role):
        where = f" in project {project_id}" if project_id is not None else ""
        raise Forbidden(f"a key cannot have more rights than its owner ({ceiling}{where})")
    return KeyScope(project_id, key_role)


def effective_key_role(
    key_role: Role, project_id: str | None, owner_role: Role, memberships: Mapping[str, Role]
) -> Role | None:
    """What a key may do now: never more than its owner currently may where it acts; None when that is nothing
    (the owner left the key's project, or a platform key's owner is no platform admin any more)."""
    if is_platform_admin(owner_role):
        return key_role
    if project_id is None or project_id not in memberships:
        return None
    return lower(key_role, memberships[project_id])
