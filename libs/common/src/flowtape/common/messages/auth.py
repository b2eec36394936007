"""Messages the auth service owns: sign-in, users, API keys, signing keys and the audit trail.

No password and no API key ever travels in one of these. A password crosses the bus *sealed*: a compact JWE
(``ECDH-ES`` + ``A256GCM``) to the encryption key auth publishes with its signing keys, whose plaintext is
``{"secret": ..., "iat": <unix time>}``; auth refuses a seal older than a couple of minutes, so a message kept
in a dead-letter queue or a broker's disk opens nothing later. An API key crosses only as its id and SHA-256
hash: the gateway makes and hashes keys, auth stores and compares hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.limits import StoredText
from flowtape.common.messages.base import Message

#: the ``iss`` and ``aud`` of every access token auth signs
TOKEN_ISSUER = "flowtape"
TOKEN_AUDIENCE = "flowtape-api"
TOKEN_ALGORITHM = "ES256"
SEALING_ALGORITHM = "ECDH-ES"
SEALING_ENCRYPTION = "A256GCM"

Role = Literal["viewer", "operator", "editor", "admin"]
#: ascending: each role may do everything the ones before it may
ROLES: tuple[Role, ...] = ("viewer", "operator", "editor", "admin")


def allows(held: Role, needed: Role) -> bool:
    """Whether a holder of ``held`` may do what needs ``needed``."""
    return ROLES.index(held) >= ROLES.index(needed)


def lower(a: Role, b: Role) -> Role:
    return a if ROLES.index(a) <= ROLES.index(b) else b


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Actor(_Frozen):
    """Who did something: a signed-in user, a user's API key, an operator at the CLI, or nobody yet."""

    kind: Literal["user", "api_key", "cli", "system", "anonymous"]
    user_id: str | None = None
    email: str | None = None
    key_id: str | None = None
    client_address: str | None = None


# ---- replies (the ``data`` of a Reply) ----


class UserView(_Frozen):
    id: str
    email: str
    role: Role
    disabled: bool = False
    #: whether the user proved they read this address (a verification or reset link was followed)
    email_verified: bool = False
    created_at: datetime
    updated_at: datetime


class UserPage(_Frozen):
    items: list[UserView]
    next_cursor: str | None = None


class TokenGranted(_Frozen):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    #: the sign-in session the token belongs to (its ``sid`` claim): revoking it voids the token
    session_id: str | None = None


class SessionView(_Frozen):
    """One sign-in: when, how and from where; active until it expires, is revoked or the password is reset."""

    id: str
    user_id: str
    method: str
    client_address: str | None = None
    user_agent: str | None = None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    #: ``revoked`` (by the user or an admin), ``password_reset``, ``signed_out``
    end_reason: str | None = None
    active: bool


class SessionPage(_Frozen):
    items: list[SessionView]
    next_cursor: str | None = None


class InvitationView(_Frozen):
    """An invitation to join with a role; pending until accepted, revoked or expired."""

    id: str
    email: str
    role: Role
    #: the project the role is in (None: the default project)
    project_id: str | None = None
    invited_by: str | None = None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    #: the account the invitation became
    user_id: str | None = None


class InvitationPage(_Frozen):
    items: list[InvitationView]
    next_cursor: str | None = None


class MailAccepted(_Frozen):
    """The same answer whether or not the address has an account."""

    accepted: bool = True


class SsoGrantView(_Frozen):
    """Members of provider group ``group`` get ``role``; platform-wide today (``project_id`` is for projects)."""

    group: str
    role: Role
    project_id: str | None = None


class SsoProviderView(_Frozen):
    """A single sign-on provider as admins see it: never its client secret, only whether one is set."""

    name: str
    kind: Literal["oidc", "github"]
    display_name: str
    enabled: bool
    client_id: str
    has_client_secret: bool
    discovery_url: str | None = None
    #: GitHub only: the web and API base URLs (GitHub Enterprise Server, or a stand-in)
    github_url: str | None = None
    api_url: str | None = None
    scopes: list[str] = Field(default_factory=list)
    group_claim: str = "groups"
    grants: list[SsoGrantView] = Field(default_factory=list)
    #: the role of a new account no grant matched; None: sign-up through this provider is off
    default_role: Role | None = None
    created_at: datetime
    updated_at: datetime


class SsoProviderList(_Frozen):
    items: list[SsoProviderView]


class SsoSignInOption(_Frozen):
    """What the sign-in page shows for an enabled provider."""

    name: str
    display_name: str
    kind: Literal["oidc", "github"]


class SsoOptions(_Frozen):
    providers: list[SsoSignInOption]
    require_sso: bool = False


class SsoSettingsView(_Frozen):
    #: local password sign-in refused for everyone but the first admin (break-glass)
    require_sso: bool = False


class SsoStarted(_Frozen):
    authorization_url: str
    state: str


class PrincipalView(_Frozen):
    """Whom an API key stands for, with the role it may act in (the lower of the key's and its owner's)."""

    user_id: str
    email: str
    role: Role
    key_id: str
    #: the one project the key may act in; None for a platform key (an admin's, made without a project)
    project_id: str | None = None


class ProjectView(_Frozen):
    id: str
    name: str
    created_at: datetime
    #: the caller's role in it (None for a platform admin who is no member)
    role: Role | None = None


class ProjectPage(_Frozen):
    items: list[ProjectView]


class ProjectMemberView(_Frozen):
    project_id: str
    user_id: str
    email: str
    role: Role
    created_at: datetime


class ProjectMemberPage(_Frozen):
    items: list[ProjectMemberView]


class Memberships(_Frozen):
    """What the gateway needs to decide a request: the caller's projects and roles."""

    user_id: str
    platform_admin: bool
    #: project id -> role (a platform admin's own memberships too)
    projects: dict[str, Role] = Field(default_factory=dict)
    #: where the caller's new things go: ``default`` when a member there, else the oldest membership
    default_project: str | None = None


class ApiKeyView(_Frozen):
    id: str
    name: str
    role: Role
    owner_id: str
    #: the project the key acts in; None for a platform key
    project_id: str | None = None
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyPage(_Frozen):
    items: list[ApiKeyView]
    next_cursor: str | None = None


class PublicKey(_Frozen):
    """A public JWK (with ``kid``, ``use`` and ``alg``) and the time after which nothing it vouches for is valid."""

    jwk: dict[str, Any]
    not_after: datetime | None = None


class PublicKeySet(_Frozen):
    keys: list[PublicKey]
    #: the ``kid`` of the key a password must be sealed to
    encryption_kid: str


class AccessState(_Frozen):
    """Each user's token generation: a token that names an older one was revoked (disabled, role changed);
    and the sessions ended before their tokens expire (a token whose ``sid`` is listed is void)."""

    generations: dict[str, int]
    revoked_sessions: list[str] = Field(default_factory=list)


class AuditEntry(_Frozen):
    id: int
    at: datetime
    actor: Actor
    action: str
    target_type: str | None = None
    target_id: str | None = None
    outcome: Literal["ok", "failed", "denied"] = "ok"
    details: dict[str, Any] = Field(default_factory=dict)


class AuditPage(_Frozen):
    items: list[AuditEntry]
    next_cursor: str | None = None


# ---- requests (auth.requests) ----


class SetUp(Message):
    """Create the first admin; refused with Conflict once any user exists."""

    type_name = "auth.SetUp.v1"
    kind = "command"
    email: StoredText
    sealed_password: str
    client_address: str | None = None


class Login(Message):
    type_name = "auth.Login.v1"
    kind = "command"
    email: StoredText
    sealed_password: str
    client_address: str | None = None
    user_agent: StoredText | None = None


class CreateUser(Message):
    type_name = "auth.CreateUser.v1"
    kind = "command"
    email: StoredText
    sealed_password: str
    role: Role
    actor: Actor


class GetUser(Message):
    type_name = "auth.GetUser.v1"
    kind = "query"
    user_id: str


class ListUsers(Message):
    type_name = "auth.ListUsers.v1"
    kind = "query"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class UpdateUser(Message):
    """Change a user's role and/or disable or re-enable them; either revokes the user's tokens."""

    type_name = "auth.UpdateUser.v1"
    kind = "command"
    user_id: str
    role: Role | None = None
    disabled: bool | None = None
    actor: Actor


class CreateApiKey(Message):
    """Store a key the gateway generated: only its id and SHA-256 hash travel."""

    type_name = "auth.CreateApiKey.v1"
    kind = "command"
    key_id: str
    key_hash: str
    name: StoredText
    role: Role | None = None
    expires_at: datetime | None = None
    #: the key's project (its role there is at most its maker's); None only for an admin's platform key
    project_id: str | None = None
    actor: Actor


class ListApiKeys(Message):
    type_name = "auth.ListApiKeys.v1"
    kind = "query"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None
    #: only the keys of these projects (a project admin's); None: every key, platform keys too
    project_ids: list[str] | None = None


class RevokeApiKey(Message):
    type_name = "auth.RevokeApiKey.v1"
    kind = "command"
    key_id: str
    actor: Actor
    #: the projects whose keys the caller may revoke: another key is NotFound, as if it did not exist
    project_ids: list[str] | None = None


class VerifyApiKey(Message):
    """Answered with a :class:`PrincipalView`, or Unauthorized for an unknown, revoked or expired key."""

    type_name = "auth.VerifyApiKey.v1"
    kind = "query"
    key_id: str
    key_hash: str


class GetPublicKeys(Message):
    type_name = "auth.GetPublicKeys.v1"
    kind = "query"


class GetAccessState(Message):
    type_name = "auth.GetAccessState.v1"
    kind = "query"


class RotateKeys(Message):
    """Start signing (and sealing) with new keys; the old public keys stay published until their tokens expire."""

    type_name = "auth.RotateKeys.v1"
    kind = "command"
    actor: Actor


class ListAudit(Message):
    type_name = "auth.ListAudit.v1"
    kind = "query"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None
    action: str | None = None
    actor_id: str | None = None


class ListSessions(Message):
    """A user's sign-ins, newest first; ``active_only`` leaves out those that ended or expired."""

    type_name = "auth.ListSessions.v1"
    kind = "query"

    user_id: str
    active_only: bool = False
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class RevokeSession(Message):
    """End a session; with ``owner_id`` only a session of that user (else NotFound, so ids do not leak)."""

    type_name = "auth.RevokeSession.v1"
    kind = "command"

    session_id: str
    owner_id: str | None = None
    actor: Actor
    reason: Literal["revoked", "signed_out"] = "revoked"


class RequestPasswordReset(Message):
    """Mail a reset link if the address has an account; answered with :class:`MailAccepted` either way."""

    type_name = "auth.RequestPasswordReset.v1"
    kind = "command"

    email: StoredText
    client_address: str | None = None


class ResetPassword(Message):
    """Set a new password with a reset link's token (single use); ends every session of the account."""

    type_name = "auth.ResetPassword.v1"
    kind = "command"

    token: StoredText
    sealed_password: str
    client_address: str | None = None


class RequestEmailVerification(Message):
    type_name = "auth.RequestEmailVerification.v1"
    kind = "command"

    user_id: str
    client_address: str | None = None


class VerifyEmail(Message):
    type_name = "auth.VerifyEmail.v1"
    kind = "command"

    token: StoredText
    client_address: str | None = None


class Invite(Message):
    """Mail ``email`` a single-use link to join with ``role``; Conflict when the address has an account."""

    type_name = "auth.Invite.v1"
    kind = "command"

    email: StoredText
    role: Role
    #: the project whose ``role`` the invitee gets on acceptance (None: the default project)
    project_id: str | None = None
    actor: Actor


class ListInvitations(Message):
    type_name = "auth.ListInvitations.v1"
    kind = "query"

    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class RevokeInvitation(Message):
    type_name = "auth.RevokeInvitation.v1"
    kind = "command"

    invitation_id: str
    actor: Actor


class AcceptInvitation(Message):
    """Create the invited account with its password (the address counts as verified: the link was mailed)."""

    type_name = "auth.AcceptInvitation.v1"
    kind = "command"

    token: StoredText
    sealed_password: str
    client_address: str | None = None


class SsoProviderFields(BaseModel):
    """The settings of a provider a create or an update carries (an update: only those it names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    display_name: StoredText | None = None
    enabled: bool | None = None
    #: ``google`` or ``microsoft``: fills in the discovery URL (Microsoft's with ``tenant``, default ``common``)
    preset: Literal["google", "microsoft"] | None = None
    tenant: StoredText | None = None
    client_id: StoredText | None = None
    discovery_url: StoredText | None = None
    github_url: StoredText | None = None
    api_url: StoredText | None = None
    scopes: list[StoredText] | None = None
    group_claim: StoredText | None = None
    grants: list[SsoGrantView] | None = None
    default_role: Role | None = None
    #: whether ``default_role`` was given (None there means "no sign-up")
    default_role_set: bool = False


class CreateSsoProvider(Message):
    """Add a provider; the client secret crosses sealed, like a password."""

    type_name = "auth.CreateSsoProvider.v1"
    kind = "command"

    name: StoredText
    provider_kind: Literal["oidc", "github"]
    fields: SsoProviderFields
    sealed_client_secret: str | None = None
    actor: Actor


class UpdateSsoProvider(Message):
    type_name = "auth.UpdateSsoProvider.v1"
    kind = "command"

    name: StoredText
    fields: SsoProviderFields
    sealed_client_secret: str | None = None
    actor: Actor


class DeleteSsoProvider(Message):
    type_name = "auth.DeleteSsoProvider.v1"
    kind = "command"

    name: StoredText
    actor: Actor


class ListSsoProviders(Message):
    type_name = "auth.ListSsoProviders.v1"
    kind = "query"


class GetSsoOptions(Message):
    """The enabled providers for the sign-in page (public)."""

    type_name = "auth.GetSsoOptions.v1"
    kind = "query"


class SetSsoSettings(Message):
    type_name = "auth.SetSsoSettings.v1"
    kind = "command"

    require_sso: bool
    actor: Actor


class StartSsoSignIn(Message):
    """Begin a sign-in: auth keeps state, nonce and PKCE verifier (one use) and answers :class:`SsoStarted`."""

    type_name = "auth.StartSsoSignIn.v1"
    kind = "command"

    provider: StoredText
    redirect_uri: StoredText


class CompleteSsoSignIn(Message):
    """The provider's redirect came back: exchange the code, check the ID token, answer :class:`TokenGranted`."""

    type_name = "auth.CompleteSsoSignIn.v1"
    kind = "command"

    provider: StoredText
    state: StoredText
    code: StoredText | None = None
    error: StoredText | None = None
    error_description: StoredText | None = None
    client_address: str | None = None
    user_agent: StoredText | None = None


# ---- projects ----


class CreateProject(Message):
    """A new project (Conflict when the name is taken); answers :class:`ProjectView`."""

    type_name = "auth.CreateProject.v1"
    kind = "command"

    name: StoredText = Field(min_length=1, max_length=100)
    actor: Actor


class ListProjects(Message):
    """The projects ``user_id`` is a member of, or every project when None (a platform admin)."""

    type_name = "auth.ListProjects.v1"
    kind = "query"

    user_id: str | None = None


class GetProject(Message):
    type_name = "auth.GetProject.v1"
    kind = "query"

    project_id: str


class AddProjectMember(Message):
    """Make the user with ``email`` a member with ``role`` (an existing member gets the new role)."""

    type_name = "auth.AddProjectMember.v1"
    kind = "command"

    project_id: str
    email: StoredText
    role: Role
    actor: Actor


class RemoveProjectMember(Message):
    type_name = "auth.RemoveProjectMember.v1"
    kind = "command"

    project_id: str
    user_id: str
    actor: Actor


class ListProjectMembers(Message):
    type_name = "auth.ListProjectMembers.v1"
    kind = "query"

    project_id: str


class GetMemberships(Message):
    """Answered with :class:`Memberships`; the gateway caches it until :class:`MembershipsChanged`."""

    type_name = "auth.GetMemberships.v1"
    kind = "query"

    user_id: str


# ---- commands (auth.audit) ----


class RecordAudit(Message):
    """Append an entry to the audit trail (the gateway sends one per write it passed on, e.g. to a workflow).

    Idempotent by ``message_id``: a redelivery records nothing twice.
    """

    type_name = "auth.RecordAudit.v1"
    kind = "command"
    actor: Actor
    action: StoredText
    target_type: StoredText | None = None
    target_id: StoredText | None = None
    outcome: Literal["ok", "failed", "denied"] = "ok"
    details: dict[str, Any] = Field(default_factory=dict)


# ---- events (broadcast to every gateway replica) ----


class PublicKeysPublished(Message):
    """Auth's current public keys: on start and after each rotation."""

    type_name = "auth.PublicKeysPublished.v1"
    keys: PublicKeySet


class UserAccessChanged(Message):
    """A user was disabled, re-enabled or given another role: tokens of an older generation are void."""

    type_name = "auth.UserAccessChanged.v1"
    user_id: str
    generation: int
    role: Role
    disabled: bool


class SessionsRevoked(Message):
    """Sessions ended before their tokens expired: every gateway refuses tokens naming them from now on."""

    type_name = "auth.SessionsRevoked.v1"

    user_id: str
    session_ids: list[str]
    #: when the last of their tokens expires: a gateway may forget the ids after that
    until: datetime


class ApiKeyRevoked(Message):
    type_name = "auth.ApiKeyRevoked.v1"
    key_id: str
    owner_id: str


class MembershipsChanged(Message):
    """A user's projects or roles changed: every gateway drops what it cached for them."""

    type_name = "auth.MembershipsChanged.v1"
    user_id: str
