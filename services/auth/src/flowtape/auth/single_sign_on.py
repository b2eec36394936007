"""Single sign-on's verbs: manage providers, start a sign-in, finish it into a session like a password sign-in.

The rules (state, nonce, ID-token checks, groups → role) are in :mod:`flowtape.auth.domain.sso`; this module
does the talking: OpenID discovery and JWKS, the code exchange (authlib's client on httpx), GitHub's user API.
A pending sign-in lives in auth's database, so the callback may reach any gateway and any auth replica; it is
taken once. Client secrets are encrypted at rest and appear in no answer, log or audit entry.

Accounts link by **verified** email only: the provider must vouch for the address (``email_verified`` in the
ID token, a verified address at GitHub), else an existing account is never handed over, and no account is
made for an address nobody proved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from joserfc.jwk import KeySet

from flowtape.auth.application import AuthService
from flowtape.auth.domain import sso
from flowtape.auth.domain.keys import KeyVault
from flowtape.auth.domain.passwords import NO_PASSWORD
from flowtape.auth.domain.users import normalize_email
from flowtape.auth.store import AuthStore, AuthTx, UserRecord
from flowtape.common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import Actor
from flowtape.common.projects import DEFAULT_PROJECT

log = logging.getLogger("flowtape.auth.sso")

#: a sign-in not finished within this is refused (the user starts again)
PENDING_LIFETIME = timedelta(minutes=10)
#: discovery documents and key sets are fetched again after this (and at once for an unknown ``kid``)
METADATA_TTL_SECONDS = 300.0
HTTP_TIMEOUT_SECONDS = 15.0
REQUIRE_SSO = "require_sso"


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def provider_of(row: dict[str, Any]) -> sso.Provider:
    return sso.Provider(
        name=row["name"],
        kind=row["kind"],
        client_id=row["client_id"],
        discovery_url=row.get("discovery_url"),
        scopes=tuple(row.get("scopes") or ("openid", "email", "profile")),
        group_claim=row.get("group_claim") or "groups",
        grants=tuple(sso.GroupGrant(g["group"], g["role"], g.get("project_id")) for g in row.get("grants") or []),
        default_role=row.get("default_role"),
        display_name=row.get("display_name") or row["name"],
        enabled=row["enabled"],
        github_url=row.get("github_url") or "https://github.com",
        api_url=row.get("api_url") or sso.GITHUB_API,
    )


def provider_view(row: dict[str, Any]) -> msg.SsoProviderView:
    provider = provider_of(row)
    github = provider.kind == "github"
    return msg.SsoProviderView(
        name=provider.name,
        kind=provider.kind,
        display_name=provider.display_name,
        enabled=provider.enabled,
        client_id=provider.client_id,
        has_client_secret=row.get("encrypted_client_secret") is not None,
        discovery_url=provider.discovery_url,
        github_url=provider.github_url if github else None,
        api_url=provider.api_url if github else None,
        scopes=list(provider.scopes) if not github else [],
        group_claim=provider.group_claim,
        grants=[msg.SsoGrantView(group=g.group, role=g.role, project_id=g.project_id) for g in provider.grants],
        default_role=provider.default_role,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("https", "http") or not parsed.host:
        raise InvalidInput(f"{field} must be an http(s) URL", details=[{"field": field, "message": "not a URL"}])
    return str(parsed).rstrip("/")


def _configured(row: dict[str, Any], fields: msg.SsoProviderFields) -> dict[str, Any]:
    """``row`` with ``fields`` applied and checked: an OpenID provider needs a discovery URL (or a preset)."""
    changes = fields.model_dump(exclude_none=True, exclude={"preset", "tenant", "default_role_set", "default_role"})
    if fields.default_role_set:
        changes["default_role"] = fields.default_role
    if "grants" in changes:
        changes["grants"] = [g.model_dump() for g in fields.grants or []]
    for field in ("discovery_url", "github_url", "api_url"):
        if field in changes:
            changes[field] = _url(changes[field], field)
    if fields.preset is not None:
        try:
            changes["discovery_url"] = sso.preset(fields.preset, tenant=fields.tenant or "common")
        except ValueError as exc:
            raise InvalidInput(str(exc), details=[{"field": "preset", "message": "unknown"}]) from None
        changes.setdefault("display_name", fields.preset.capitalize())
    updated = {**row, **changes}
    if not updated.get("client_id"):
        raise InvalidInput("a provider needs the client_id it gave Flowtape", details=[{"field": "client_id"}])
    if updated["kind"] == "oidc" and not updated.get("discovery_url"):
        raise InvalidInput(
            "an OpenID Connect provider needs its discovery_url (or a preset: google, microsoft)",
            details=[{"field": "discovery_url", "message": "missing"}],
        )
    return updated


@dataclass(frozen=True)
class _Metadata:
    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    userinfo_endpoint: str | None = None


class SingleSignOn:
    def __init__(
        self,
        *,
        auth: AuthService,
        store: AuthStore,
        vault: KeyVault,
        transport: httpx.AsyncBaseTransport | None,
        clock: Callable[[], datetime],
        leeway_seconds: int,
    ) -> None:
        self._auth = auth
        self._store = store
        self._vault = vault
        self._transport = transport
        self._clock = clock
        self._leeway = leeway_seconds
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}

    # ---- providers (admins)

    async def list_providers(self) -> msg.SsoProviderList:
        async with self._store.reading() as tx:
            return msg.SsoProviderList(items=[provider_view(r) for r in await tx.sso_providers()])

    async def options(self) -> msg.SsoOptions:
        async with self._store.reading() as tx:
            rows = await tx.sso_providers()
            required = bool(await tx.setting(REQUIRE_SSO, False))
        shown = [provider_of(r) for r in rows if r["enabled"]]
        return msg.SsoOptions(
            providers=[msg.SsoSignInOption(name=p.name, display_name=p.display_name, kind=p.kind) for p in shown],
            require_sso=required,
        )

    async def create_provider(
        self, name: str, kind: str, fields: msg.SsoProviderFields, sealed_secret: str | None, actor: Actor
    ) -> msg.SsoProviderView:
        sso.check_name(name)
        now = self._clock()
        base: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "enabled": True,
            "display_name": "GitHub" if kind == "github" else name,
            "default_role": None,
            "encrypted_client_secret": None,
            "created_at": now,
            "updated_at": now,
        }
        row = _configured(base, fields)
        async with self._store.transaction() as tx:
            if sealed_secret is not None:
                row["encrypted_client_secret"] = self._encrypt(name, await self._auth.unseal(tx, sealed_secret))
            if row["encrypted_client_secret"] is None:
                raise InvalidInput("a provider needs its client_secret", details=[{"field": "client_secret"}])
            await tx.insert_sso_provider(row)
            await self._audit(tx, actor, "sso_provider.created", name, row, now)
        return provider_view(row)

    async def update_provider(
        self, name: str, fields: msg.SsoProviderFields, sealed_secret: str | None, actor: Actor
    ) -> msg.SsoProviderView:
        now = self._clock()
        async with self._store.transaction() as tx:
            found = await tx.sso_provider(name)
            if found is None:
                raise NotFound(f"no single sign-on provider is named {name}")
            row = {**_configured(found, fields), "updated_at": now}
            if sealed_secret is not None:
                row["encrypted_client_secret"] = self._encrypt(name, await self._auth.unseal(tx, sealed_secret))
            await tx.update_sso_provider(row)
            await self._audit(tx, actor, "sso_provider.updated", name, row, now)
        self._metadata.pop(str(found.get("discovery_url")), None)
        return provider_view(row)

    async def delete_provider(self, name: str, actor: Actor) -> msg.SsoProviderView:
        now = self._clock()
        async with self._store.transaction() as tx:
            found = await tx.sso_provider(name)
            if found is None:
                raise NotFound(f"no single sign-on provider is named {name}")
            await tx.delete_sso_provider(name)
            await self._audit(tx, actor, "sso_provider.deleted", name, found, now)
        return provider_view(found)

    async def set_settings(self, require_sso: bool, actor: Actor) -> msg.SsoSettingsView:
        now = self._clock()
        async with self._store.transaction() as tx:
            if require_sso and not any(r["enabled"] for r in await tx.sso_providers()):
                raise Conflict("requiring single sign-on needs an enabled provider first")
            await tx.put_setting(REQUIRE_SSO, require_sso)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="sso.settings_changed",
                target_type="settings",
                target_id=REQUIRE_SSO,
                details={"require_sso": require_sso},
            )
        return msg.SsoSettingsView(require_sso=require_sso)

    async def _audit(
        self, tx: AuthTx, actor: Actor, action: str, name: str, row: dict[str, Any], now: datetime
    ) -> None:
        details = {"kind": row["kind"], "enabled": row["enabled"], "client_id": row.get("client_id")}
        await tx.append_audit(
            at=now, actor=actor, action=action, target_type="sso_provider", target_id=name, details=details
        )

    def _encrypt(self, name: str, secret: str) -> bytes:
        return self._vault.seal(secret.encode(), f"sso:{name}")

    def _client_secret(self, row: dict[str, Any]) -> str:
        return self._vault.open(row["encrypted_client_secret"], f"sso:{row['name']}").decode()

    # ---- the sign-in flow

    async def start(self, name: str, redirect_uri: str) -> msg.SsoStarted:
        now = self._clock()
        row = await self._enabled(name)
        provider = provider_of(row)
        metadata = await self._endpoints(provider)
        request = sso.new_login_request(name, redirect_uri, now)
        data = {"nonce": request.nonce, "verifier": request.code_verifier, "redirect_uri": redirect_uri}
        state_hash = _state_hash(request.state)
        async with self._store.transaction() as tx:
            await tx.prune_sso_pending(now - PENDING_LIFETIME)
            sealed = self._vault.seal(json.dumps(data).encode(), f"sso-pending:{state_hash}")
            await tx.insert_sso_pending(state_hash, name, sealed, now)
        url = sso.authorization_url(provider, metadata.authorization_endpoint, request)
        return msg.SsoStarted(authorization_url=url, state=request.state)

    async def complete(
        self,
        name: str,
        state: str,
        code: str | None,
        error: str | None,
        description: str | None,
        client_address: str | None,
        user_agent: str | None,
    ) -> msg.TokenGranted:
        """A session exactly like a password sign-in's (method ``sso:<name>``), or Unauthorized/Forbidden with
        the reason; a failure is in the audit trail as ``login.failed``."""
        try:
            return await self._complete(name, state, code, error, description, client_address, user_agent)
        except (Unauthorized, Forbidden) as refused:
            await self._auth.record_login_failure(f"sso:{name}", refused.message, client_address)
            raise

    async def _complete(
        self,
        name: str,
        state: str,
        code: str | None,
        error: str | None,
        description: str | None,
        client_address: str | None,
        user_agent: str | None,
    ) -> msg.TokenGranted:
        now = self._clock()
        state_hash = _state_hash(state)
        async with self._store.transaction() as tx:
            taken = await tx.take_sso_pending(state_hash)
        pending: sso.LoginRequest | None = None
        if taken is not None and taken[0] == name:
            data = json.loads(self._vault.open(taken[1], f"sso-pending:{state_hash}"))
            pending = sso.LoginRequest(name, state, data["nonce"], data["verifier"], data["redirect_uri"], taken[2])
        request = sso.check_state(pending, state, now, PENDING_LIFETIME)
        if error is not None or not code:
            reason = f"{error or 'no code'}" + (f" ({description[:200]})" if description else "")
            raise Unauthorized(f"the identity provider did not sign you in: {reason}")
        row = await self._enabled(name)
        provider = provider_of(row)
        metadata = await self._endpoints(provider)
        token = await self._exchange(provider, row, metadata, request, code)
        if provider.kind == "github":
            identity = await self._github_identity(provider, token)
        else:
            identity = await self._oidc_identity(provider, metadata, token, request.nonce, now)
        user = await self._account(provider, identity, now)
        granted = sso.role_for(identity.groups, provider.grants, None)
        if granted is not None and granted != user.role:
            # the provider's groups are authoritative for the roles they map (never below the last admin)
            try:
                await self._auth.update_user(user.id, granted, None, Actor(kind="system", email=user.email))
            except Conflict:
                log.warning("kept user %s an admin: groups would demote the last admin", user.id)
        await self._grant_projects(user, sso.project_roles(identity.groups, provider.grants), now)
        return await self._auth.open_session_for(user.id, f"sso:{name}", client_address, user_agent)

    async def _grant_projects(self, user: UserRecord, roles: dict[str, msg.Role], now: datetime) -> None:
        """Memberships the groups grant, with those roles; memberships no grant mentions are left as they are."""
        changed = False
        async with self._store.transaction() as tx:
            for project_id, role in roles.items():
                if await tx.project(project_id) is None:
                    log.warning("a group grant names project %s, which does not exist: ignored", project_id)
                    continue
                before = await tx.put_member(project_id, user.id, role, now)
                if before is None or before.role != role:
                    changed = True
                    await tx.append_audit(
                        at=now,
                        actor=Actor(kind="system", email=user.email),
                        action="project.member_added",
                        target_type="project",
                        target_id=project_id,
                        details={
                            "user_id": user.id,
                            "email": user.email,
                            "role": role,
                            "from": before.role if before else None,
                            "via": "sso_groups",
                        },
                    )
        if changed:
            await self._auth.broadcast(msg.MembershipsChanged(user_id=user.id))

    async def _enabled(self, name: str) -> dict[str, Any]:
        async with self._store.reading() as tx:
            row = await tx.sso_provider(name)
        if row is None or not row["enabled"]:
            raise NotFound(f"no single sign-on provider named {name} is enabled")
        return row

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=HTTP_TIMEOUT_SECONDS)

    async def _get_json(self, url: str, what: str, headers: dict[str, str] | None = None) -> Any:
        try:
            async with self._http() as http:
                answer = await http.get(url, headers={"Accept": "application/json", **(headers or {})})
        except httpx.HTTPError as exc:
            raise Unauthorized(f"the identity provider's {what} could not be reached ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise Unauthorized(f"the identity provider's {what} answered {answer.status_code}")
        try:
            return answer.json()
        except ValueError:
            raise Unauthorized(f"the identity provider's {what} did not answer JSON") from None

    async def _document(self, url: str, what: str, fresh: bool = False) -> dict[str, Any]:
        cached = self._metadata.get(url)
        if cached is not None and not fresh and time.monotonic() - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        document = await self._get_json(url, what)
        if not isinstance(document, dict):
            raise Unauthorized(f"the identity provider's {what} is not a JSON object")
        self._metadata[url] = (time.monotonic(), document)
        return document

    async def _endpoints(self, provider: sso.Provider) -> _Metadata:
        if provider.kind == "github":
            return _Metadata(
                authorization_endpoint=f"{provider.github_url}/login/oauth/authorize",
                token_endpoint=f"{provider.github_url}/login/oauth/access_token",
            )
        assert provider.discovery_url is not None
        document = await self._document(provider.discovery_url, "discovery document")
        try:
            return _Metadata(
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                issuer=str(document["issuer"]),
                jwks_uri=str(document["jwks_uri"]),
                userinfo_endpoint=document.get("userinfo_endpoint"),
            )
        except KeyError as missing:
            raise Unauthorized(f"the identity provider's discovery document lacks {missing}") from None

    async def _exchange(
        self, provider: sso.Provider, row: dict[str, Any], metadata: _Metadata, request: sso.LoginRequest, code: str
    ) -> dict[str, Any]:
        with warnings.catch_warnings():
            # loaded with the first sign-in (~12 MB an auth replica without SSO does not hold); authlib 1.9 warns at
            # import that it will move to "httpx2": the httpx client it ships is the one we use
            warnings.simplefilter("ignore")
            from authlib.integrations.base_client import OAuthError
            from authlib.integrations.httpx_client import AsyncOAuth2Client
            from authlib.oauth2 import OAuth2Error

        oidc = provider.kind == "oidc"
        client = AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=self._client_secret(row),
            redirect_uri=request.redirect_uri,
            token_endpoint_auth_method="client_secret_basic" if oidc else "client_secret_post",
            transport=self._transport,
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        extra = {"code_verifier": request.code_verifier} if oidc else {}
        try:
            async with client:
                token = await client.fetch_token(
                    metadata.token_endpoint, code=code, headers={"Accept": "application/json"}, **extra
                )
        except (OAuth2Error, OAuthError) as exc:
            raise Unauthorized(f"the identity provider refused the code: {exc.error}") from None
        except httpx.HTTPError as exc:
            raise Unauthorized(f"the identity provider's token endpoint failed ({type(exc).__name__})") from None
        return dict(token)

    async def _oidc_identity(
        self, provider: sso.Provider, metadata: _Metadata, token: dict[str, Any], nonce: str, now: datetime
    ) -> sso.Identity:
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Unauthorized("the identity provider answered without an ID token")
        assert metadata.jwks_uri is not None and metadata.issuer is not None

        async def verify(fresh: bool) -> sso.Identity:
            published: Any = await self._document(str(metadata.jwks_uri), "key set", fresh)
            try:
                keys = KeySet.import_key_set(published)
            except Exception:
                raise Unauthorized("the identity provider's key set could not be read") from None
            return sso.verify_id_token(
                id_token,
                keys,
                issuer=sso.expected_issuer(str(metadata.issuer), id_token),
                client_id=provider.client_id,
                nonce=nonce,
                now=now,
                leeway_seconds=self._leeway,
                group_claim=provider.group_claim,
            )

        try:
            identity = await verify(False)
        except Unauthorized as refused:
            if "(signature)" not in refused.message:
                raise
            identity = await verify(True)  # the provider may have rotated its keys since we fetched them
        if (identity.email is None or not identity.groups) and metadata.userinfo_endpoint:
            info = await self._get_json(
                metadata.userinfo_endpoint, "userinfo endpoint", {"Authorization": f"Bearer {token['access_token']}"}
            )
            if isinstance(info, dict) and str(info.get("sub")) == identity.subject:
                email = identity.email
                verified = identity.email_verified
                if email is None and isinstance(info.get("email"), str):
                    email, verified = info["email"].strip().lower(), info.get("email_verified") is True
                groups = info.get(provider.group_claim)
                return sso.Identity(
                    subject=identity.subject,
                    email=email,
                    email_verified=verified,
                    groups=identity.groups or (tuple(str(g) for g in groups) if isinstance(groups, list) else ()),
                )
        return identity

    async def _github_identity(self, provider: sso.Provider, token: dict[str, Any]) -> sso.Identity:
        access = token.get("access_token")
        if not isinstance(access, str):
            raise Unauthorized("GitHub answered without an access token")
        headers = {"Authorization": f"Bearer {access}", "Accept": "application/vnd.github+json"}
        user = await self._get_json(f"{provider.api_url}/user", "user API", headers)
        emails = await self._get_json(f"{provider.api_url}/user/emails", "emails API", headers)
        if not isinstance(user, dict) or "id" not in user or not isinstance(emails, list):
            raise Unauthorized("GitHub's user API answered something unexpected")
        verified = [e for e in emails if isinstance(e, dict) and e.get("verified") is True and e.get("email")]
        chosen = next((e for e in verified if e.get("primary")), verified[0] if verified else None)
        return sso.Identity(
            subject=str(user["id"]),
            email=str(chosen["email"]).strip().lower() if chosen else None,
            email_verified=chosen is not None,
        )

    async def _account(self, provider: sso.Provider, identity: sso.Identity, now: datetime) -> UserRecord:
        """The account the identity signs in to: linked before, linked now by verified email, or made now."""
        async with self._store.transaction() as tx:
            linked = await tx.sso_identity(provider.name, identity.subject)
            user = await tx.user_by_id(linked) if linked else None
            if user is None:
                user = await self._link_or_create(tx, provider, identity, now)
        if user.disabled:
            raise Unauthorized("this account is disabled")
        return user

    async def _link_or_create(
        self, tx: AuthTx, provider: sso.Provider, identity: sso.Identity, now: datetime
    ) -> UserRecord:
        if identity.email is None or not identity.email_verified:
            raise Forbidden(
                f"{provider.display_name} did not vouch for your email address (it is missing or unverified), "
                "so it cannot sign you in to an account here; verify it at the provider and try again"
            )
        address = normalize_email(identity.email)
        actor = Actor(kind="system", email=address)
        user = await tx.user_by_email(address)
        if user is None:
            role = sso.role_for(identity.groups, provider.grants, provider.default_role)
            if role is None and not sso.project_roles(identity.groups, provider.grants):
                raise Forbidden(
                    f"signing up through {provider.display_name} is off here and {address} has no account; "
                    "ask an admin for an invitation"
                )
            # granted only projects: a viewer by name, with no place in the default project
            user = UserRecord(uuid.uuid4().hex, address, NO_PASSWORD, role or "viewer", False, 0, now, now)
            await tx.insert_user(user)
            if role is not None:
                await tx.put_member(DEFAULT_PROJECT, user.id, role, now)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="user.created",
                target_type="user",
                target_id=user.id,
                details={
                    "email": address,
                    "role": user.role,
                    "via": f"sso:{provider.name}",
                    "groups": list(identity.groups),
                },
            )
        await tx.link_sso_identity(provider.name, identity.subject, user.id, now)
        await tx.mark_email_verified(user.id, address, now)
        await tx.append_audit(
            at=now,
            actor=actor,
            action="sso.identity_linked",
            target_type="user",
            target_id=user.id,
            details={"provider": provider.name, "subject": identity.subject},
        )
        return user
