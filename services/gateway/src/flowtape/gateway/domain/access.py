"""What a caller may see and do, project by project (issue 16): decided here, once per request.

A caller's reach is an :class:`Access`: a role on every project (a platform admin, or a platform API key), and a
role per project it is a member of (a project API key: the one project). Everything a project owns is refused
as 404 to a caller who is no member, exactly like an id that does not exist, so nobody learns what other teams
have; a member whose role is too low gets 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from flowtape.common.errors import Forbidden, NotFound
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import ROLES, Role, allows
from flowtape.common.projects import DEFAULT_PROJECT, well_formed
from flowtape.gateway.domain.principals import Principal

#: the things a project owns whose project the gateway looks up by id
Owned = Literal["workflow", "execution", "bulk_replay", "credential"]

NOUNS: dict[Owned, str] = {
    "workflow": "workflow",
    "execution": "execution",
    "bulk_replay": "bulk replay",
    "credential": "credential",
}


def missing_message(kind: str, thing_id: str) -> str:
    """One wording for a thing that does not exist and one the caller may not see."""
    return f"{kind} {thing_id!r} does not exist"


def _highest(roles: list[Role]) -> Role | None:
    return max(roles, key=ROLES.index) if roles else None


@dataclass(frozen=True)
class Access:
    principal: Principal
    #: the role held on every project: ``admin`` for a platform admin, a platform key's role; None for members
    everywhere: Role | None = None
    projects: Mapping[str, Role] = field(default_factory=dict)
    default_project: str | None = None

    @classmethod
    def of(cls, principal: Principal, memberships: msg.Memberships | None = None) -> Access:
        """A caller's reach: an API key's from the key itself (its one project, or every one for a platform key);
        a token's from its user's ``memberships``, which must then be given."""
        if principal.via == "api_key":
            if principal.project_id is None:  # a platform key
                return cls(principal, everywhere=principal.role)
            return cls(principal, projects={principal.project_id: principal.role}, default_project=principal.project_id)
        if memberships is None:
            raise ValueError("a token's access needs its user's memberships")
        return cls(
            principal,
            everywhere="admin" if memberships.platform_admin else None,
            projects=dict(memberships.projects),
            default_project=memberships.default_project,
        )

    def actor(self) -> msg.Actor:
        return self.principal.actor()

    @property
    def platform_admin(self) -> bool:
        return self.everywhere == "admin"

    def role_in(self, project_id: str) -> Role | None:
        return _highest([r for r in (self.everywhere, self.projects.get(project_id)) if r is not None])

    def highest(self) -> Role | None:
        """The most this caller may do anywhere: what a route's coarse role check compares."""
        return _highest([r for r in (self.everywhere, *self.projects.values()) if r is not None])

    def require_somewhere(self, needed: Role) -> None:
        """403 unless the caller holds ``needed`` in some project: a route's coarse check, which says nothing of
        the project it then acts in."""
        held = self.highest()
        if held is None or not allows(held, needed):
            raise Forbidden(f"this needs the {needed} role or higher; you have {held or 'no role in any project'}")

    def require_platform_admin(self) -> None:
        if not self.platform_admin:
            raise Forbidden("this needs a platform admin")

    def require_project_admin(self) -> None:
        """A platform admin or the admin of some project (the route then checks the project it acts in)."""
        if self.highest() != "admin":
            raise Forbidden("this needs the admin role in a project")

    def visible(self, project_id: str | None = None) -> list[str] | None:
        """The projects a list shows: one (``project_id``, 404 when not the caller's) or all of the caller's
        (None: every project, for a platform admin or a platform key)."""
        if project_id is not None:
            self.check(project_id, "viewer")
            return [project_id]
        return self.projects_with("viewer")

    def projects_with(self, needed: Role) -> list[str] | None:
        """The projects where the caller holds ``needed`` (None: every project)."""
        if self.everywhere is not None and allows(self.everywhere, needed):
            return None
        return sorted(p for p, role in self.projects.items() if allows(role, needed))

    def check(self, project_id: str, needed: Role, missing: str | None = None) -> None:
        """404 when the caller may not see ``project_id``'s things (``missing`` says what was not found, in
        the words the owner uses for one that does not exist), 403 when it sees them with too low a role. An id
        no project could have is not found, even for a platform admin, so it never reaches another service's
        database (a NUL in a PostgreSQL string is an error there)."""
        held = self.role_in(project_id) if well_formed(project_id) else None
        if held is None:
            raise NotFound(missing or missing_message("project", project_id))
        if ROLES.index(held) < ROLES.index(needed):
            raise Forbidden(f"this needs the {needed} role in the project or higher; you have {held}")

    def target(self, project_id: str | None, needed: Role) -> str:
        """The project a new thing goes into: ``project_id``, or the caller's default; checked for ``needed``."""
        chosen = project_id or self.default_project or (DEFAULT_PROJECT if self.everywhere is not None else None)
        if chosen is None:
            raise Forbidden("you are a member of no project: ask an admin to add you to one")
        self.check(chosen, needed)
        return chosen

    def check_owned(self, kind: Owned, thing_id: str, project_id: str, needed: Role) -> None:
        """:meth:`check` for a thing of ``project_id``: a 404 names the thing, as if it did not exist."""
        self.check(project_id, needed, missing_message(NOUNS[kind], thing_id))
