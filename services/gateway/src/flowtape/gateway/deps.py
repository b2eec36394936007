"""Dependencies of the HTTP routes, as ``Annotated`` aliases.

Every route outside the public ones takes one of ``Viewer``, ``Operator``, ``Editor`` or ``Admin`` (the least
role it needs; roles are ordered, see :mod:`flowtape.common.messages.auth`), or, when it names a thing a project
owns, the role it needs on that thing: ``WorkflowEditor``, ``ExecutionOperator``, ``CredentialViewer``... (404
for a thing of a project the caller is no member of, see :mod:`flowtape.gateway.access`). ``Admin`` is a
platform admin; ``Viewer`` to ``Editor`` hold when the caller has that role in some project, and the route then
asks :class:`~flowtape.gateway.access.Access` about the project it acts in. ``CurrentUser`` is any signed-in
caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from flowtape.common.errors import Unauthorized
from flowtape.common.messages.auth import Role
from flowtape.gateway.access import MembershipCache, Owners
from flowtape.gateway.accounts import Accounts
from flowtape.gateway.audit import AuditTrail
from flowtape.gateway.clients import Platform
from flowtape.gateway.domain.access import Access, Owned
from flowtape.gateway.domain.principals import Principal
from flowtape.gateway.domain.rate_limits import anonymous_caller, signed_in_caller
from flowtape.gateway.rate_limits import RateLimits
from flowtape.gateway.security import Guard
from flowtape.gateway.transfers import WorkflowTransfers
from flowtape.gateway.variables import VariablesClient
from flowtape.gateway.vault import VaultClient


async def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(_platform)]


async def _guard(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


async def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


async def _audit(request: Request) -> AuditTrail:
    audit: AuditTrail = request.app.state.audit
    return audit


async def _vault(request: Request) -> VaultClient:
    vault: VaultClient = request.app.state.vault
    return vault


async def _transfers(request: Request) -> WorkflowTransfers:
    return WorkflowTransfers(await _platform(request), await _vault(request), request.app.state.owners)


async def _variables(request: Request) -> VariablesClient:
    return VariablesClient(await _platform(request), await _vault(request))


TransfersDep = Annotated[WorkflowTransfers, Depends(_transfers)]
VariablesDep = Annotated[VariablesClient, Depends(_variables)]
AccountsDep = Annotated[Accounts, Depends(_accounts)]
AuditDep = Annotated[AuditTrail, Depends(_audit)]
VaultDep = Annotated[VaultClient, Depends(_vault)]

_bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth/login, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def client_address(request: Request) -> str | None:
    """The caller's address (behind a proxy, uvicorn takes it from X-Forwarded-For of trusted proxies)."""
    return request.client.host if request.client else None


async def authenticated(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, or 401; or 429 once the caller (or, with wrong credentials, its address) is over its rate
    limit. FastAPI runs it once per request however many dependencies ask for it."""
    limits: RateLimits = request.app.state.rate_limits
    address = client_address(request)
    try:
        principal = await (await _guard(request)).authenticate(bearer.credentials if bearer else None, api_key, address)
    except Unauthorized:
        if bearer is not None or api_key is not None:  # without any, the RateLimiting middleware counted it
            await limits.hit("anonymous", anonymous_caller(address))
        raise
    await limits.hit("api", signed_in_caller(principal))
    return principal


async def access(request: Request, principal: Annotated[Principal, Depends(authenticated)]) -> Access:
    memberships: MembershipCache = request.app.state.memberships
    return await memberships.access(principal)


AccessDep = Annotated[Access, Depends(access)]


async def _owners(request: Request) -> Owners:
    owners: Owners = request.app.state.owners
    return owners


OwnersDep = Annotated[Owners, Depends(_owners)]


def require(role: Role) -> Callable[[Access], Awaitable[Principal]]:
    async def dependency(reach: AccessDep) -> Principal:
        if role == "admin":
            reach.require_platform_admin()
        else:
            reach.require_somewhere(role)
        return reach.principal

    dependency.__name__ = f"require_{role}"
    return dependency


def on(kind: Owned, parameter: str, role: Role) -> Callable[..., Awaitable[Access]]:
    """The caller's access, once it may act with ``role`` on the ``kind`` named by the path's ``parameter``."""

    async def dependency(request: Request, reach: AccessDep, owners: OwnersDep) -> Access:
        reach.require_somewhere(role)  # first what the caller is, which says nothing of the thing
        await owners.check(reach, kind, request.path_params[parameter], role)
        return reach

    dependency.__name__ = f"{kind}_{role}"
    return dependency


CurrentUser = Annotated[Principal, Depends(authenticated)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Editor = Annotated[Principal, Depends(require("editor"))]
Admin = Annotated[Principal, Depends(require("admin"))]


async def _admin_somewhere(reach: AccessDep) -> Principal:
    """A platform admin or the admin of some project (the route then checks the project it acts in)."""
    reach.require_project_admin()
    return reach.principal


ProjectAdmin = Annotated[Principal, Depends(_admin_somewhere)]

WorkflowViewer = Annotated[Access, Depends(on("workflow", "workflow_id", "viewer"))]
WorkflowOperator = Annotated[Access, Depends(on("workflow", "workflow_id", "operator"))]
WorkflowEditor = Annotated[Access, Depends(on("workflow", "workflow_id", "editor"))]
ExecutionViewer = Annotated[Access, Depends(on("execution", "execution_id", "viewer"))]
ExecutionOperator = Annotated[Access, Depends(on("execution", "execution_id", "operator"))]
CredentialViewer = Annotated[Access, Depends(on("credential", "credential_id", "viewer"))]
CredentialEditor = Annotated[Access, Depends(on("credential", "credential_id", "editor"))]
BulkReplayViewer = Annotated[Access, Depends(on("bulk_replay", "job_id", "viewer"))]


def secured(*routers: APIRouter) -> APIRouter:
    """One router holding ``routers`` with authentication required on every route: a route that forgets to
    name its role still refuses anonymous callers (the role defaults to any signed-in user)."""
    combined = APIRouter()
    for router in routers:
        combined.include_router(router, dependencies=[Depends(authenticated)])
    return combined
