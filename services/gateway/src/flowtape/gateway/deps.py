"""Dependencies of the HTTP routes, as ``Annotated`` aliases: each hands a route one part of the
:class:`~flowtape.gateway.application.Gateway` on ``app.state``, or the caller and its reach.

Every route outside the public ones takes one of ``Viewer``, ``Operator``, ``Editor`` or ``Admin`` (the least
role it needs; roles are ordered, see :mod:`flowtape.common.messages.auth`), or, when it names a thing a project
owns, the role it needs on that thing: ``WorkflowEditor``, ``ExecutionOperator``, ``CredentialViewer``... (404
for a thing of a project the caller is no member of, see :mod:`flowtape.gateway.domain.access`). ``Admin`` is a
platform admin; ``Viewer`` to ``Editor`` hold when the caller has that role in some project, and the route then
asks :class:`~flowtape.gateway.domain.access.Access` about the project it acts in. ``CurrentUser`` is any signed-in
caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, params
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from flowtape.common.messages.auth import Role
from flowtape.gateway.access import Owners
from flowtape.gateway.accounts import Accounts, FirstRun
from flowtape.gateway.application import Gateway
from flowtape.gateway.audit import AuditTrail
from flowtape.gateway.backups import PlatformBackups
from flowtape.gateway.clients import Platform
from flowtape.gateway.domain.access import Access, Owned
from flowtape.gateway.domain.principals import Principal
from flowtape.gateway.steps import StepTests
from flowtape.gateway.transfers import WorkflowTransfers
from flowtape.gateway.variables import VariablesClient
from flowtape.gateway.vault import VaultClient
from flowtape.gateway.webhooks import Webhooks


async def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]


async def _platform(gateway: GatewayDep) -> Platform:
    return gateway.platform


async def _accounts(gateway: GatewayDep) -> Accounts:
    return gateway.accounts


async def _first_run(gateway: GatewayDep) -> FirstRun:
    return gateway.first_run


async def _audit(gateway: GatewayDep) -> AuditTrail:
    return gateway.audit


async def _vault(gateway: GatewayDep) -> VaultClient:
    return gateway.vault


async def _owners(gateway: GatewayDep) -> Owners:
    return gateway.owners


async def _transfers(gateway: GatewayDep) -> WorkflowTransfers:
    return gateway.transfers


async def _variables(gateway: GatewayDep) -> VariablesClient:
    return gateway.variables


async def _step_tests(gateway: GatewayDep) -> StepTests:
    return gateway.step_tests


async def _backups(gateway: GatewayDep) -> PlatformBackups:
    return gateway.backups


async def _webhooks(gateway: GatewayDep) -> Webhooks:
    return gateway.webhooks


PlatformDep = Annotated[Platform, Depends(_platform)]
AccountsDep = Annotated[Accounts, Depends(_accounts)]
FirstRunDep = Annotated[FirstRun, Depends(_first_run)]
AuditDep = Annotated[AuditTrail, Depends(_audit)]
VaultDep = Annotated[VaultClient, Depends(_vault)]
OwnersDep = Annotated[Owners, Depends(_owners)]
TransfersDep = Annotated[WorkflowTransfers, Depends(_transfers)]
VariablesDep = Annotated[VariablesClient, Depends(_variables)]
StepTestsDep = Annotated[StepTests, Depends(_step_tests)]
BackupsDep = Annotated[PlatformBackups, Depends(_backups)]
WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]

_bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth/login, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def client_address(request: Request) -> str | None:
    """The caller's address (behind a proxy, uvicorn takes it from X-Forwarded-For of trusted proxies)."""
    return request.client.host if request.client else None


async def authenticated(
    request: Request,
    gateway: GatewayDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, or 401 (or 429, see :meth:`Gateway.authenticate`). FastAPI runs it once per request however
    many dependencies ask for it."""
    return await gateway.authenticate(bearer.credentials if bearer else None, api_key, client_address(request))


async def access(gateway: GatewayDep, principal: Annotated[Principal, Depends(authenticated)]) -> Access:
    return await gateway.access(principal)


AccessDep = Annotated[Access, Depends(access)]


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


#: the dependencies of every router that is not public (``APIRouter(..., dependencies=SIGNED_IN)``): a route that
#: forgets to name its role still refuses anonymous callers (the role defaults to any signed-in user)
SIGNED_IN: list[params.Depends] = [Depends(authenticated)]


def secured(*routers: APIRouter) -> tuple[APIRouter, ...]:
    """``routers``, each checked to require a signed-in caller on every route, to be included side by side.

    Not one router holding them all: FastAPI walks every level of included routers again for each request, and
    that nesting cost a run request ~300 µs of matching (80 µs flat)."""
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and not any(d.dependency is authenticated for d in route.dependencies):
                raise RuntimeError(f"{route.path} must require a signed-in caller: declare its router with SIGNED_IN")
    return routers
