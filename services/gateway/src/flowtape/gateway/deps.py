"""Dependencies of the HTTP routes, as ``Annotated`` aliases.

Every route outside the public ones takes one of ``Viewer``, ``Operator``, ``Editor`` or ``Admin`` (the least
role it needs; roles are ordered, see :mod:`flowtape.common.messages.auth`). ``CurrentUser`` is any signed-in
caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from flowtape.common.errors import Forbidden, Unauthorized
from flowtape.common.messages.auth import Role, allows
from flowtape.gateway.accounts import Accounts
from flowtape.gateway.audit import AuditTrail
from flowtape.gateway.clients import Platform
from flowtape.gateway.rate_limits import RateLimits
from flowtape.gateway.security import Guard, Principal
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
    return WorkflowTransfers(await _platform(request), await _vault(request))


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
            await limits.hit("anonymous", address or "unknown")
        raise
    await limits.hit("api", f"key:{principal.key_id}" if principal.via == "api_key" else f"user:{principal.user_id}")
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not allows(principal.role, role):
            raise Forbidden(f"this needs the {role} role or higher; you have {principal.role}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


CurrentUser = Annotated[Principal, Depends(authenticated)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Editor = Annotated[Principal, Depends(require("editor"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def secured(*routers: APIRouter) -> APIRouter:
    """One router holding ``routers`` with authentication required on every route: a route that forgets to
    name its role still refuses anonymous callers (the role defaults to any signed-in user)."""
    combined = APIRouter()
    for router in routers:
        combined.include_router(router, dependencies=[Depends(authenticated)])
    return combined
