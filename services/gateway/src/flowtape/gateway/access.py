"""What a caller may see and do, project by project (issue 16): decided here, once per request.

A caller's reach is an :class:`Access`: a role on every project (a platform admin, or a platform API key), and a
role per project it is a member of (a project API key: the one project). Everything a project owns is refused
as 404 to a caller who is no member, exactly like an id that does not exist, so nobody learns what other teams
have; a member whose role is too low gets 403.

Memberships come from auth and are cached per user until auth announces a change (``MembershipsChanged``, on
every replica) or ``ttl`` passes, the backstop when a broadcast is lost. Which project a workflow, a run, a bulk
replay or a credential belongs to never changes, so :class:`Owners` keeps those answers for good.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flowtape.common.bus import Bus
from flowtape.common.errors import Forbidden, NotFound
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import ROLES, Role, allows
from flowtape.common.messages.connectors import CredentialView, GetCredential
from flowtape.common.messages.engine import GetProjectOf
from flowtape.common.projects import DEFAULT_PROJECT, well_formed
from flowtape.common.views import ProjectOf
from flowtape.gateway.security import Principal

_MAX_CACHED = 10_000

Owned = Literal["workflow", "execution", "bulk_replay", "credential"]

_NOUNS: dict[Owned, str] = {
    "workflow": "workflow",
    "execution": "execution",
    "bulk_replay": "bulk replay",
    "credential": "credential",
}


def _missing(kind: str, thing_id: str) -> str:
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
            raise NotFound(missing or _missing("project", project_id))
        if ROLES.index(held) < ROLES.index(needed):
            raise Forbidden(f"this needs the {needed} role in the project or higher; you have {held}")

    def target(self, project_id: str | None, needed: Role) -> str:
        """The project a new thing goes into: ``project_id``, or the caller's default; checked for ``needed``."""
        chosen = project_id or self.default_project or (DEFAULT_PROJECT if self.everywhere is not None else None)
        if chosen is None:
            raise Forbidden("you are a member of no project: ask an admin to add you to one")
        self.check(chosen, needed)
        return chosen


class MembershipCache:
    """Users' memberships as auth last answered them."""

    def __init__(self, bus: Bus, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._bus = bus
        self._ttl = ttl
        self._clock = clock
        self._cached: OrderedDict[str, tuple[msg.Memberships, float]] = OrderedDict()

    async def of(self, user_id: str) -> msg.Memberships:
        cached = self._cached.get(user_id)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        found = msg.Memberships.model_validate(await self._bus.ask(msg.GetMemberships(user_id=user_id), timeout=5))
        self.learn(found)
        return found

    def learn(self, memberships: msg.Memberships) -> None:
        self._cached[memberships.user_id] = (memberships, self._clock() + self._ttl)
        self._cached.move_to_end(memberships.user_id)
        while len(self._cached) > _MAX_CACHED:
            self._cached.popitem(last=False)

    def forget(self, user_id: str) -> None:
        self._cached.pop(user_id, None)

    async def on_changed(self, event: msg.MembershipsChanged) -> None:
        self.forget(event.user_id)

    async def on_user_changed(self, event: msg.UserAccessChanged) -> None:
        self.forget(event.user_id)  # a platform role given or taken

    async def access(self, principal: Principal) -> Access:
        if principal.via == "api_key":
            if principal.project_id is None:  # a platform key
                return Access(principal, everywhere=principal.role)
            return Access(
                principal, projects={principal.project_id: principal.role}, default_project=principal.project_id
            )
        found = await self.of(principal.user_id)
        return Access(
            principal,
            everywhere="admin" if found.platform_admin else None,
            projects=dict(found.projects),
            default_project=found.default_project,
        )


class Owners:
    """Which project a thing belongs to, asked of its owner once and kept (it never moves)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._known: OrderedDict[tuple[Owned, str], str] = OrderedDict()

    async def project_of(self, kind: Owned, thing_id: str) -> str:
        key = (kind, thing_id)
        known = self._known.get(key)
        if known is not None:
            return known
        try:
            if kind == "credential":
                answer: Any = await self._bus.ask(GetCredential(credential_id=thing_id))
                project = CredentialView.model_validate(answer).project_id
            else:
                project = ProjectOf.model_validate(
                    await self._bus.ask(GetProjectOf(kind_of=kind, id=thing_id))
                ).project_id
        except NotFound:
            raise NotFound(_missing(_NOUNS[kind], thing_id)) from None
        self.learn(kind, thing_id, project)
        return project

    async def project_or_none(self, kind: Owned, thing_id: str) -> str | None:
        """For listings of other owners' records that may name a thing deleted since."""
        try:
            return await self.project_of(kind, thing_id)
        except NotFound:
            return None

    def learn(self, kind: Owned, thing_id: str, project_id: str) -> None:
        self._known[(kind, thing_id)] = project_id
        while len(self._known) > _MAX_CACHED:
            self._known.popitem(last=False)

    async def check(self, access: Access, kind: Owned, thing_id: str, needed: Role) -> str:
        """The thing's project, once the caller may act on it with ``needed`` (404 / 403 otherwise)."""
        project = await self.project_of(kind, thing_id)
        access.check(project, needed, _missing(_NOUNS[kind], thing_id))
        return project
