"""Memberships and owners as the peers last told them: what :class:`~flowtape.gateway.domain.access.Access` is
decided on.

Memberships come from auth and are cached per user until auth announces a change (``MembershipsChanged``, on
every replica) or ``ttl`` passes, the backstop when a broadcast is lost. Which project a workflow, a run, a bulk
replay or a credential belongs to never changes, so :class:`Owners` keeps those answers for good.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.errors import NotFound
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import Role
from flowtape.common.messages.connectors import CredentialView, GetCredential
from flowtape.common.messages.engine import GetProjectOf
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.views import ProjectOf
from flowtape.gateway.domain.access import NOUNS, Access, Owned, missing_message
from flowtape.gateway.domain.principals import Principal

_MAX_CACHED = 10_000


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
        found = await self._bus.ask(msg.GetMemberships(user_id=user_id), timeout=5, into=msg.Memberships)
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
            return Access.of(principal)
        return Access.of(principal, await self.of(principal.user_id))


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
            raise NotFound(missing_message(NOUNS[kind], thing_id)) from None
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
        access.check_owned(kind, thing_id, project, needed)
        return project


class KnownProjects:
    """Projects auth has confirmed exist. A member's projects exist; a platform admin reaches every id, so a
    new thing it puts into a project it is not a member of waits for auth's yes first, and an id no project has is
    a 404 rather than a thing in a project nobody can see. Projects are never deleted, so a yes is kept."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._known: set[str] = {DEFAULT_PROJECT}

    async def require(self, project_id: str) -> None:
        if project_id in self._known:
            return
        try:
            await self._bus.ask(msg.GetProject(project_id=project_id))
        except NotFound:
            raise NotFound(missing_message("project", project_id)) from None
        if len(self._known) >= _MAX_CACHED:
            self._known = {DEFAULT_PROJECT}
        self._known.add(project_id)
