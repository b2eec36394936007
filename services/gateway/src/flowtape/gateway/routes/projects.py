"""``/api/v1/projects``: teams' boundaries, and who is in them with which role (issue 16).

Platform admins make projects, see them all and set their quotas; a project's admins manage its members and see
its usage; anyone sees the projects they are in. A project the caller is no member of answers 404, like one that
does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.limits import StoredText
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import ProjectMemberPage, ProjectMemberView, ProjectPage, ProjectView, Role
from flowtape.common.messages.engine import GetProjectUsage, SetProjectQuotas
from flowtape.common.views import ProjectQuotas, ProjectUsage
from flowtape.gateway.deps import SIGNED_IN, AccessDep, Admin, PlatformDep, ProjectAdmin

router = APIRouter(prefix="/api/v1/projects", tags=["projects"], dependencies=SIGNED_IN)


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText = Field(min_length=1, max_length=100)


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=3, max_length=320, description="an existing account's address")
    role: Role = Field(description="the member's role in this project")


@router.post("", status_code=201, response_model=ProjectView)
async def create_project(body: NewProject, platform: PlatformDep, who: Admin) -> Any:
    return await platform.ask(msg.CreateProject(name=body.name, actor=who.actor()))


@router.get("", response_model=ProjectPage)
async def list_projects(platform: PlatformDep, reach: AccessDep) -> Any:
    """The caller's projects with its role in each; every project for a platform admin."""
    if reach.everywhere is not None:
        found = await platform.ask(msg.ListProjects(user_id=None), into=ProjectPage)
        return ProjectPage(items=[p.model_copy(update={"role": reach.role_in(p.id)}) for p in found.items])
    if reach.principal.via == "api_key":  # a project key: its one project, in the key's role
        found = await platform.ask(msg.ListProjects(user_id=reach.principal.user_id), into=ProjectPage)
        return ProjectPage(
            items=[p.model_copy(update={"role": reach.role_in(p.id)}) for p in found.items if p.id in reach.projects]
        )
    return await platform.ask(msg.ListProjects(user_id=reach.principal.user_id))


@router.get("/{project_id}", response_model=ProjectView)
async def get_project(project_id: str, platform: PlatformDep, reach: AccessDep) -> Any:
    reach.check(project_id, "viewer")
    found = await platform.ask(msg.GetProject(project_id=project_id), into=ProjectView)
    return found.model_copy(update={"role": reach.role_in(project_id)})


@router.get("/{project_id}/members", response_model=ProjectMemberPage)
async def list_members(project_id: str, platform: PlatformDep, reach: AccessDep) -> Any:
    reach.check(project_id, "viewer")
    return await platform.ask(msg.ListProjectMembers(project_id=project_id))


@router.post("/{project_id}/members", status_code=201, response_model=ProjectMemberView)
async def add_member(project_id: str, body: NewMember, platform: PlatformDep, _: ProjectAdmin, reach: AccessDep) -> Any:
    """Add someone with an account (or change a member's role): the project's admins and platform admins."""
    reach.check(project_id, "admin")
    return await platform.ask(
        msg.AddProjectMember(project_id=project_id, email=body.email, role=body.role, actor=reach.actor())
    )


@router.delete("/{project_id}/members/{user_id}", response_model=ProjectMemberView)
async def remove_member(project_id: str, user_id: str, platform: PlatformDep, _: ProjectAdmin, reach: AccessDep) -> Any:
    """Their tokens and keys lose the project within seconds on every gateway."""
    reach.check(project_id, "admin")
    return await platform.ask(msg.RemoveProjectMember(project_id=project_id, user_id=user_id, actor=reach.actor()))


@router.put("/{project_id}/quotas", response_model=ProjectUsage)
async def set_quotas(project_id: str, body: ProjectQuotas, platform: PlatformDep, who: Admin, reach: AccessDep) -> Any:
    """Replace the project's quotas (a field left out or null: no limit); every engine replica applies them
    within 5 s. Platform admins only."""
    reach.check(project_id, "admin")
    await platform.ask(msg.GetProject(project_id=project_id))  # 404 for a project that does not exist
    return await platform.ask(SetProjectQuotas(project_id=project_id, quotas=body, actor=who.actor()))


@router.get("/{project_id}/usage", response_model=ProjectUsage)
async def get_usage(project_id: str, platform: PlatformDep, reach: AccessDep) -> Any:
    """The project's quotas beside its usage now: for the project's admins and platform admins."""
    reach.check(project_id, "admin")
    return await platform.ask(GetProjectUsage(project_id=project_id))
