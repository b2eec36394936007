"""Single sign-on rules that hold whatever the transport: providers and their presets, the one-use login
request (``state``, ``nonce``, PKCE verifier), checking an OpenID Connect ID token, and provider groups → role.

Pure: time, keys and randomness arrive as arguments, so every refusal (a wrong ``state``, a wrong ``nonce``, an
expired or foreign ID token) is testable without a provider. The HTTP side (discovery, code exchange, GitHub's
user API) lives in the application around it. A group mapping names a role, platform-wide (the default project's,
or platform admin) or, with ``GroupGrant.project_id``, in that project.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from flowtape.common.errors import InvalidInput, Unauthorized
from flowtape.common.messages.auth import ROLES, Role

ProviderKind = Literal["oidc", "github"]

#: discovery URLs of the presets; Microsoft's names the tenant (``common``, ``organizations`` or a tenant id)
PRESETS: dict[str, str] = {
    "google": "https://accounts.google.com/.well-known/openid-configuration",
    "microsoft": "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration",
}
GITHUB_AUTHORIZE = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN = "https://github.com/login/oauth/access_token"
GITHUB_API = "https://api.github.com"
#: ID-token signing algorithms accepted (providers publish which they use; none of the symmetric ones)
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@dataclass(frozen=True)
class GroupGrant:
    group: str
    role: Role
    project_id: str | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    kind: ProviderKind
    client_id: str
    discovery_url: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    #: the ID-token claim holding the user's groups (``groups`` for most; Microsoft's too when configured)
    group_claim: str = "groups"
    grants: tuple[GroupGrant, ...] = field(default_factory=tuple)
    #: the role of a new account no grant matched (None: such people cannot sign up through this provider)
    default_role: Role | None = "viewer"
    display_name: str = ""
    enabled: bool = True
    #: GitHub's web and API base URLs (GitHub Enterprise Server: ``https://HOST`` and ``https://HOST/api/v3``)
    github_url: str = "https://github.com"
    api_url: str = GITHUB_API


NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_name(name: str) -> str:
    """Provider names appear in URLs (``/api/v1/auth/sso/{name}/start``) and in the login method."""
    if not NAME.match(name):
        raise InvalidInput(
            "a provider's name is 1-63 lowercase letters, digits and dashes (it appears in URLs)",
            details=[{"field": "name", "message": "invalid"}],
        )
    return name


def preset(name: str, *, tenant: str = "common") -> str:
    """The discovery URL of a preset (``google``, ``microsoft``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name].format(tenant=tenant)


@dataclass(frozen=True)
class LoginRequest:
    """What a sign-in started with, kept by auth (never by the browser) until the callback, once."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    created_at: datetime

    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_login_request(provider: str, redirect_uri: str, now: datetime) -> LoginRequest:
    return LoginRequest(
        provider=provider,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),
        redirect_uri=redirect_uri,
        created_at=now,
    )


def authorization_url(provider: Provider, authorization_endpoint: str, request: LoginRequest) -> str:
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": request.redirect_uri,
        "scope": " ".join(provider.scopes if provider.kind == "oidc" else ("read:user", "user:email")),
        "state": request.state,
    }
    if provider.kind == "oidc":
        query.update(nonce=request.nonce, code_challenge=request.code_challenge(), code_challenge_method="S256")
    return f"{authorization_endpoint}?{urlencode(query)}"


def check_state(expected: LoginRequest | None, returned: str, now: datetime, max_age: timedelta) -> LoginRequest:
    """The callback's ``state`` must be one auth handed out, unused and recent: otherwise it is a forged or
    replayed callback (login CSRF)."""
    if expected is None or not hmac.compare_digest(expected.state.encode(), returned.encode()):
        raise Unauthorized("the sign-in could not be matched to one this platform started; start again")
    if now - expected.created_at > max_age:
        raise Unauthorized("the sign-in took too long; start again")
    return expected


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    subject: str
    email: str | None
    email_verified: bool
    groups: tuple[str, ...] = ()


def expected_issuer(issuer: str, token: str) -> str:
    """The issuer an ID token must name. Microsoft's multi-tenant discovery (``common``, ``organizations``)
    publishes ``https://login.microsoftonline.com/{tenantid}/v2.0``: the token's own ``tid`` fills it in (the
    signature is still checked against the provider's keys, so a token cannot pick a tenant it was not issued by)."""
    if "{tenantid}" not in issuer:
        return issuer
    try:
        payload = token.split(".")[1]
        tid = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("tid")
    except (IndexError, ValueError, AttributeError):
        tid = None
    if not isinstance(tid, str) or not re.fullmatch(r"[0-9a-fA-F-]{1,64}", tid):
        raise Unauthorized("the identity provider's ID token names no tenant (tid)")
    return issuer.replace("{tenantid}", tid)


def verify_id_token(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: datetime,
    leeway_seconds: int = 60,
    group_claim: str = "groups",
) -> Identity:
    """An ID token's signature (against the provider's JWKS), issuer, audience, expiry and ``nonce``; each
    failure is the same 401 to the caller with a reason in the message."""
    try:
        decoded = jwt.decode(token, keys, algorithms=ID_TOKEN_ALGORITHMS)
    except (JoseError, ValueError, TypeError):
        raise Unauthorized("the identity provider's ID token is not valid (signature)") from None
    claims: dict[str, Any] = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=leeway_seconds,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise Unauthorized("the identity provider's ID token has expired; sign in again") from None
    except JoseError:
        raise Unauthorized("the identity provider's ID token is not valid (claims)") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise Unauthorized("the identity provider's ID token is meant for another client")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"].encode(), nonce.encode()):
        raise Unauthorized("the identity provider's ID token does not answer this sign-in (nonce)")
    email = claims.get("email")
    groups = claims.get(group_claim) or []
    return Identity(
        subject=str(claims["sub"]),
        email=email.strip().lower() if isinstance(email, str) else None,
        email_verified=claims.get("email_verified") is True,
        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
    )


def role_for(groups: tuple[str, ...], grants: tuple[GroupGrant, ...], default: Role | None) -> Role | None:
    """The highest platform-wide role any of the user's groups grants, else ``default``."""
    granted = [g.role for g in grants if g.project_id is None and g.group in groups]
    if not granted:
        return default
    return max(granted, key=ROLES.index)


def project_roles(groups: tuple[str, ...], grants: tuple[GroupGrant, ...]) -> dict[str, Role]:
    """Project id -> the highest role the user's groups grant there (the grants naming a project)."""
    roles: dict[str, Role] = {}
    for g in grants:
        if g.project_id is not None and g.group in groups:
            held = roles.get(g.project_id)
            roles[g.project_id] = g.role if held is None else max(held, g.role, key=ROLES.index)
    return roles
