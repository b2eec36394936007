"""``/api/v1/auth``: first-run set-up, sign-in, password reset and email verification links (public); who am I,
the caller's sessions and login history, and key rotation (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from flowtape.common.errors import Forbidden
from flowtape.common.limits import StoredText
from flowtape.common.messages.auth import (
    InvitationPage,
    InvitationView,
    MailAccepted,
    PublicKeySet,
    Role,
    SessionPage,
    TokenGranted,
    UserView,
)
from flowtape.gateway.deps import (
    SIGNED_IN,
    AccessDep,
    AccountsDep,
    Admin,
    CurrentUser,
    GatewayDep,
    ProjectAdmin,
    client_address,
)
from flowtape.gateway.domain.access import Access

#: no authentication: these are how a caller gets credentials in the first place
public_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
router = APIRouter(prefix="/api/v1/auth", tags=["auth"], dependencies=SIGNED_IN)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=3, max_length=320)
    password: SecretStr = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    id: str
    email: str
    role: Role
    via: str
    key_id: str | None = None
    session_id: str | None = None
    platform_admin: bool = Field(default=False, description="sees and manages every project")
    projects: dict[str, Role] = Field(default_factory=dict, description="the caller's projects and its role in each")
    default_project: str | None = Field(default=None, description="where the caller's new things go by default")


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=1, max_length=320)


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: StoredText = Field(min_length=1, max_length=200)
    password: SecretStr = Field(min_length=1, max_length=1024)


class LinkToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: StoredText = Field(min_length=1, max_length=200)


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


@public_router.post("/setup", status_code=201, response_model=UserView)
async def set_up(body: Credentials, request: Request, accounts: AccountsDep) -> Any:
    """Create the first admin. 409 once any user exists."""
    return await accounts.set_up(body.email, body.password.get_secret_value(), client_address(request))


@public_router.post("/login", response_model=TokenGranted)
async def login(body: Credentials, request: Request, accounts: AccountsDep) -> Any:
    """An access token. Failed attempts are limited per account and per address (429 with Retry-After)."""
    return await accounts.login(
        body.email, body.password.get_secret_value(), client_address(request), user_agent(request)
    )


@public_router.post("/password-reset", status_code=202, response_model=MailAccepted)
async def request_password_reset(body: ResetRequest, request: Request, accounts: AccountsDep) -> Any:
    """Mail a single-use reset link to the address if it has an account. The answer is the same either way."""
    return await accounts.request_password_reset(body.email, client_address(request))


@public_router.post("/password-reset/confirm", response_model=UserView)
async def reset_password(body: NewPassword, request: Request, accounts: AccountsDep) -> Any:
    """Set a new password with the link's token; every session of the account ends. 400 for a used, expired
    or unknown token."""
    return await accounts.reset_password(body.token, body.password.get_secret_value(), client_address(request))


@public_router.post("/email-verification/confirm", response_model=UserView)
async def verify_email(body: LinkToken, request: Request, accounts: AccountsDep) -> Any:
    """Confirm an address with the mailed link's token (single use)."""
    return await accounts.verify_email(body.token, client_address(request))


@public_router.post("/invitations/accept", status_code=201, response_model=UserView)
async def accept_invitation(body: NewPassword, request: Request, accounts: AccountsDep) -> Any:
    """Create the invited account with the password chosen here (then sign in as usual). 400 for a used,
    expired, revoked or unknown token; 409 when the address has an account meanwhile."""
    return await accounts.accept_invitation(body.token, body.password.get_secret_value(), client_address(request))


class NewInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=3, max_length=320)
    role: Role
    project_id: str | None = Field(default=None, max_length=64, description="the project of the role (default: yours)")


@router.post("/invitations", status_code=201, response_model=InvitationView)
async def invite(
    body: NewInvitation, who: ProjectAdmin, reach: AccessDep, accounts: AccountsDep, gateway: GatewayDep
) -> Any:
    """Mail a single-use link with which the invitee sets a password (or signs in with SSO) and joins the
    project with ``role``: platform admins, and the admins of that project."""
    project = await gateway.target(reach, body.project_id, "admin")
    return await accounts.invite(body.email, body.role, who, project)


@router.get("/invitations", response_model=InvitationPage)
async def list_invitations(
    who: Admin, accounts: AccountsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None
) -> Any:
    return await accounts.list_invitations(limit, cursor)


@router.delete("/invitations/{invitation_id}", response_model=InvitationView)
async def revoke_invitation(invitation_id: str, who: Admin, accounts: AccountsDep) -> Any:
    """Void a pending invitation's link."""
    return await accounts.revoke_invitation(invitation_id, who)


@router.get("/me", response_model=Me)
async def me(who: CurrentUser, reach: AccessDep) -> Any:
    return {
        "id": who.user_id,
        "email": who.email,
        "role": who.role,
        "via": who.via,
        "key_id": who.key_id,
        "session_id": who.session_id,
        "platform_admin": reach.platform_admin,
        "projects": dict(reach.projects),
        "default_project": reach.default_project,
    }


@router.post("/email-verification", status_code=202, response_model=MailAccepted)
async def request_email_verification(who: CurrentUser, accounts: AccountsDep) -> Any:
    """Mail the caller a link that confirms their address."""
    return await accounts.request_email_verification(who)


def _whose(reach: Access, user_id: str | None) -> str:
    who = reach.principal
    if user_id is None or user_id == who.user_id:
        return who.user_id
    if not reach.platform_admin:
        raise Forbidden("only admins see other people's sessions")
    return user_id


Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/sessions", response_model=SessionPage)
async def list_sessions(
    reach: AccessDep,
    accounts: AccountsDep,
    user_id: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Any:
    """The active sign-in sessions of the caller (an admin: of ``user_id``), newest first."""
    return await accounts.list_sessions(_whose(reach, user_id), True, limit, cursor)


@router.get("/logins", response_model=SessionPage)
async def login_history(
    reach: AccessDep,
    accounts: AccountsDep,
    user_id: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Any:
    """Every sign-in of the caller (an admin: of ``user_id``), ended ones too: time, method, address, agent."""
    return await accounts.list_sessions(_whose(reach, user_id), False, limit, cursor)


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response)
async def revoke_session(session_id: str, who: CurrentUser, reach: AccessDep, accounts: AccountsDep) -> Response:
    """End a session at once on every gateway (within seconds): its tokens are refused from then on. Your own
    sessions, or anyone's for an admin; someone else's is 404 to everyone else."""
    await accounts.revoke_session(session_id, who, any_owner=reach.platform_admin)
    return Response(status_code=204)


@router.post("/keys/rotate", response_model=PublicKeySet)
async def rotate_keys(who: Admin, accounts: AccountsDep) -> Any:
    """Sign new tokens with a new key; tokens signed before stay valid until they expire."""
    return await accounts.rotate_keys(who)
