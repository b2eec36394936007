"""Auth's verbs about projects: create and list them, add and remove members, answer a user's memberships.

Which caller may call them is the gateway's decision; these only execute, audit in the same transaction, and
broadcast :class:`MembershipsChanged` after the commit so that every gateway drops what it cached for the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from flowtape.auth.domain import projects as rules
from flowtape.auth.domain.users import normalize_email
from flowtape.auth.store import AuthStore, MemberRecord, ProjectRecord
from flowtape.common.errors import InvalidInput, NotFound
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import Actor, Role

if TYPE_CHECKING:
    from flowtape.auth.application import AuthService

#: one answer whichever is missing: a project admin must not learn who has an account by adding addresses
_NO_PROJECT_OR_USER = "no such project, or no account with that email"


def _project_view(project: ProjectRecord, role: Role | None) -> msg.ProjectView:
    return msg.ProjectView(id=project.id, name=project.name, created_at=project.created_at, role=role)


def _member_view(member: MemberRecord, email: str) -> msg.ProjectMemberView:
    return msg.ProjectMemberView(
        project_id=member.project_id,
        user_id=member.user_id,
        email=email,
        role=member.role,
        created_at=member.created_at,
    )


class Projects:
    def __init__(self, *, store: AuthStore, auth: AuthService, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._auth = auth
        self._clock = clock

    async def create_project(self, name: str, actor: Actor) -> msg.ProjectView:
        """A new project; its creator (when a user) becomes its admin."""
        now = self._clock()
        project = ProjectRecord(uuid.uuid4().hex, rules.check_name(name), now, actor.user_id)
        async with self._store.transaction() as tx:
            await tx.insert_project(project)  # Conflict when the name is taken
            creator = await tx.user_by_id(actor.user_id) if actor.user_id else None
            if creator is not None:
                await tx.put_member(project.id, creator.id, "admin", now)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="project.created",
                target_type="project",
                target_id=project.id,
                details={"name": project.name},
            )
        if creator is not None:
            await self._auth.broadcast(msg.MembershipsChanged(user_id=creator.id))
        return _project_view(project, "admin" if creator is not None else None)

    async def get_project(self, project_id: str) -> msg.ProjectView:
        async with self._store.reading() as tx:
            project = await tx.project(project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        return _project_view(project, None)

    async def list_projects(self, user_id: str | None) -> msg.ProjectPage:
        """Every project (None), or ``user_id``'s with their role in each: all of them for a platform admin."""
        async with self._store.reading() as tx:
            if user_id is None:
                return msg.ProjectPage(items=[_project_view(p, None) for p in await tx.list_projects()])
            user = await tx.user_by_id(user_id)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            roles = {m.project_id: m.role for m in await tx.memberships(user_id)}
            found = await tx.list_projects(None if rules.is_platform_admin(user.role) else user_id)
        return msg.ProjectPage(items=[_project_view(p, roles.get(p.id)) for p in found])

    async def add_member(self, project_id: str, email: str, role: Role, actor: Actor) -> msg.ProjectMemberView:
        """Make the account with ``email`` a member with ``role``; a member already gets the new role."""
        try:
            address = normalize_email(email)
        except InvalidInput:
            raise NotFound(_NO_PROJECT_OR_USER) from None
        now = self._clock()
        async with self._store.transaction() as tx:
            project = await tx.project(project_id)
            user = await tx.user_by_email(address)
            if project is None or user is None:
                raise NotFound(_NO_PROJECT_OR_USER)
            before = await tx.put_member(project.id, user.id, role, now)
            if before is None or before.role != role:
                await tx.append_audit(
                    at=now,
                    actor=actor,
                    action="project.member_added",
                    target_type="project",
                    target_id=project.id,
                    details={
                        "user_id": user.id,
                        "email": user.email,
                        "role": role,
                        "from": before.role if before else None,
                    },
                )
            member = await tx.member(project.id, user.id)
        assert member is not None
        if before is None or before.role != role:
            await self._auth.broadcast(msg.MembershipsChanged(user_id=user.id))
        return _member_view(member, user.email)

    async def remove_member(self, project_id: str, user_id: str, actor: Actor) -> msg.ProjectMemberView:
        """Take the user out of the project (their API keys there stop working); NotFound for a non-member."""
        now = self._clock()
        async with self._store.transaction() as tx:
            member = await tx.member(project_id, user_id)
            user = await tx.user_by_id(user_id) if member is not None else None
            if member is None or user is None:
                raise NotFound(f"user {user_id} is no member of project {project_id}")
            await tx.remove_member(project_id, user_id)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="project.member_removed",
                target_type="project",
                target_id=project_id,
                details={"user_id": user_id, "email": user.email, "role": member.role},
            )
        await self._auth.broadcast(msg.MembershipsChanged(user_id=user_id))
        return _member_view(member, user.email)

    async def list_members(self, project_id: str) -> msg.ProjectMemberPage:
        async with self._store.reading() as tx:
            if await tx.project(project_id) is None:
                raise NotFound(f"project {project_id} does not exist")
            found = await tx.members(project_id)
        return msg.ProjectMemberPage(items=[_member_view(m, email) for m, email in found])

    async def memberships(self, user_id: str) -> msg.Memberships:
        async with self._store.reading() as tx:
            user = await tx.user_by_id(user_id)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            roles = {m.project_id: m.role for m in await tx.memberships(user_id)}
        return msg.Memberships(
            user_id=user_id,
            platform_admin=rules.is_platform_admin(user.role),
            projects=roles,
            default_project=rules.default_project(roles),
        )
