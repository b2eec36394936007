"""The gateway's application layer: what its routes and bus handlers call, built once by :mod:`bootstrap`.

The gateway holds no data of its own. Each part is its side of one peer, or a cache of what peers told it, and
lives in the module named for it; :class:`Gateway` gathers them, so a route takes the one part it needs from a
single object on ``app.state`` and the wiring between the parts is written once, in bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowtape.common.errors import Unauthorized
from flowtape.common.messages.auth import Role, UserAccessChanged
from flowtape.gateway.access import KnownProjects, MembershipCache, Owners
from flowtape.gateway.accounts import Accounts, FirstRun
from flowtape.gateway.audit import AuditTrail
from flowtape.gateway.backups import PlatformBackups
from flowtape.gateway.clients import Platform
from flowtape.gateway.domain.access import Access
from flowtape.gateway.domain.principals import Principal
from flowtape.gateway.domain.rate_limits import anonymous_caller, signed_in_caller
from flowtape.gateway.finished import FinishedExecutions
from flowtape.gateway.rate_limits import RateLimits
from flowtape.gateway.security import Guard
from flowtape.gateway.steps import StepTests
from flowtape.gateway.transfers import WorkflowTransfers
from flowtape.gateway.variables import VariablesClient
from flowtape.gateway.vault import VaultClient
from flowtape.gateway.webhooks import WebhookRoutes, Webhooks


@dataclass(frozen=True)
class Gateway:
    #: the engine's workflows and runs, the triggers' registrations, the connectors' node catalog
    platform: Platform
    #: tokens and API keys checked, with auth's keys and revocations as last heard
    guard: Guard
    memberships: MembershipCache
    owners: Owners
    projects: KnownProjects
    #: users, sessions, API keys, single sign-on: auth's side, secrets sealed first
    accounts: Accounts
    first_run: FirstRun
    audit: AuditTrail
    vault: VaultClient
    variables: VariablesClient
    transfers: WorkflowTransfers
    step_tests: StepTests
    backups: PlatformBackups
    webhook_routes: WebhookRoutes
    webhooks: Webhooks
    finished: FinishedExecutions
    rate_limits: RateLimits

    async def authenticate(self, bearer: str | None, api_key: str | None, client_address: str | None) -> Principal:
        """The caller, or 401; or 429 once the caller (or, with wrong credentials, its address) is over its rate
        limit. A request without any credentials was counted before its body was read."""
        try:
            principal = await self.guard.authenticate(bearer, api_key, client_address)
        except Unauthorized:
            if bearer is not None or api_key is not None:
                await self.rate_limits.hit("anonymous", anonymous_caller(client_address))
            raise
        await self.rate_limits.hit("api", signed_in_caller(principal))
        return principal

    async def access(self, principal: Principal) -> Access:
        return await self.memberships.access(principal)

    async def target(self, reach: Access, project_id: str | None, needed: Role) -> str:
        """The project a new thing goes into (:meth:`Access.target`), which must exist: one the caller is a
        member of does; any other (a platform admin's reach) is asked of auth once."""
        chosen = reach.target(project_id, needed)
        if chosen not in reach.projects:
            await self.projects.require(chosen)
        return chosen

    async def on_user_changed(self, event: UserAccessChanged) -> None:
        """A user disabled, or given another role: its tokens are void and its memberships asked again."""
        await self.guard.on_user_changed(event)
        await self.memberships.on_user_changed(event)
