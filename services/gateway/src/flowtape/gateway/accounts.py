"""The gateway's side of auth: each call is one request to the auth service, with secrets made safe first.

Passwords are sealed to auth's encryption key before they are put on the bus; API keys are generated here so
that only their hash ever leaves the gateway (the key is in the one response that creates it, and nowhere else).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.errors import Unauthorized
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import Role
from flowtape.gateway.domain.api_keys import new_api_key
from flowtape.gateway.domain.principals import Principal
from flowtape.gateway.security import Guard, seal


class Accounts:
    def __init__(self, bus: Bus, guard: Guard, timeout: float) -> None:
        self._bus = bus
        self._guard = guard
        self._timeout = timeout

    async def _ask(self, message: Any) -> Any:
        return await self._bus.ask(message, timeout=self._timeout)

    def _seal(self, password: str) -> str:
        return seal(password, self._guard.keys)

    async def set_up(self, email: str, password: str, client_address: str | None) -> Any:
        return await self._ask(
            msg.SetUp(email=email, sealed_password=self._seal(password), client_address=client_address)
        )

    async def login(self, email: str, password: str, client_address: str | None, user_agent: str | None = None) -> Any:
        return await self._ask(
            msg.Login(
                email=email,
                sealed_password=self._seal(password),
                client_address=client_address,
                user_agent=user_agent[:512] if user_agent else None,
            )
        )

    async def list_sessions(self, user_id: str, active_only: bool, limit: int, cursor: str | None) -> Any:
        return await self._ask(msg.ListSessions(user_id=user_id, active_only=active_only, limit=limit, cursor=cursor))

    async def revoke_session(self, session_id: str, who: Principal, *, any_owner: bool, reason: str = "revoked") -> Any:
        """End a session: the caller's own, or anyone's when ``any_owner`` (an admin). Applied here at once; the
        other replicas hear auth's broadcast."""
        view = msg.SessionView.model_validate(
            await self._ask(
                msg.RevokeSession(
                    session_id=session_id,
                    owner_id=None if any_owner else who.user_id,
                    actor=who.actor(),
                    reason="signed_out" if reason == "signed_out" else "revoked",
                )
            )
        )
        self._guard.learn_revoked_sessions([view.id], view.expires_at.timestamp())
        return view

    async def sign_out(self, token: str, client_address: str | None) -> None:
        """End the session of a console's ``token``; one expired or revoked already has nothing to end."""
        try:
            who = await self._guard.authenticate(token, None, client_address)
        except Unauthorized:
            return
        if who.session_id is not None:
            await self.revoke_session(who.session_id, who, any_owner=False, reason="signed_out")

    async def request_password_reset(self, email: str, client_address: str | None) -> Any:
        return await self._ask(msg.RequestPasswordReset(email=email, client_address=client_address))

    async def reset_password(self, token: str, password: str, client_address: str | None) -> Any:
        return await self._ask(
            msg.ResetPassword(token=token, sealed_password=self._seal(password), client_address=client_address)
        )

    async def request_email_verification(self, who: Principal) -> Any:
        return await self._ask(msg.RequestEmailVerification(user_id=who.user_id, client_address=who.client_address))

    async def invite(self, email: str, role: Role, who: Principal, project_id: str | None = None) -> Any:
        return await self._ask(msg.Invite(email=email, role=role, project_id=project_id, actor=who.actor()))

    async def list_invitations(self, limit: int, cursor: str | None) -> Any:
        return await self._ask(msg.ListInvitations(limit=limit, cursor=cursor))

    async def revoke_invitation(self, invitation_id: str, who: Principal) -> Any:
        return await self._ask(msg.RevokeInvitation(invitation_id=invitation_id, actor=who.actor()))

    async def accept_invitation(self, token: str, password: str, client_address: str | None) -> Any:
        return await self._ask(
            msg.AcceptInvitation(token=token, sealed_password=self._seal(password), client_address=client_address)
        )

    async def verify_email(self, token: str, client_address: str | None) -> Any:
        return await self._ask(msg.VerifyEmail(token=token, client_address=client_address))

    async def create_user(self, email: str, password: str, role: Role, who: Principal) -> Any:
        return await self._ask(
            msg.CreateUser(email=email, sealed_password=self._seal(password), role=role, actor=who.actor())
        )

    async def get_user(self, user_id: str) -> Any:
        return await self._ask(msg.GetUser(user_id=user_id))

    async def list_users(self, limit: int, cursor: str | None) -> Any:
        return await self._ask(msg.ListUsers(limit=limit, cursor=cursor))

    async def update_user(self, user_id: str, role: Role | None, disabled: bool | None, who: Principal) -> Any:
        return await self._ask(msg.UpdateUser(user_id=user_id, role=role, disabled=disabled, actor=who.actor()))

    async def create_api_key(
        self, name: str, role: Role | None, expires_at: datetime | None, who: Principal, project_id: str | None
    ) -> dict[str, Any]:
        key_id, key, digest = new_api_key()
        stored = await self._ask(
            msg.CreateApiKey(
                key_id=key_id,
                key_hash=digest,
                name=name,
                role=role,
                expires_at=expires_at,
                project_id=project_id,
                actor=who.actor(),
            )
        )
        return {**stored, "key": key}

    async def list_api_keys(self, limit: int, cursor: str | None, project_ids: list[str] | None = None) -> Any:
        return await self._ask(msg.ListApiKeys(limit=limit, cursor=cursor, project_ids=project_ids))

    async def revoke_api_key(self, key_id: str, who: Principal, project_ids: list[str] | None = None) -> Any:
        revoked = await self._ask(msg.RevokeApiKey(key_id=key_id, actor=who.actor(), project_ids=project_ids))
        self._guard.forget_api_keys(key_id=key_id)
        return revoked

    async def rotate_keys(self, who: Principal) -> msg.PublicKeySet:
        keys = msg.PublicKeySet.model_validate(await self._ask(msg.RotateKeys(actor=who.actor())))
        self._guard.learn_keys(keys)
        return keys

    async def list_audit(self, limit: int, cursor: str | None, action: str | None, actor_id: str | None) -> Any:
        return await self._ask(msg.ListAudit(limit=limit, cursor=cursor, action=action, actor_id=actor_id))

    # ---- single sign-on

    async def list_sso_providers(self) -> Any:
        return await self._ask(msg.ListSsoProviders())

    async def sso_options(self) -> Any:
        return await self._ask(msg.GetSsoOptions())

    async def create_sso_provider(
        self, name: str, kind: str, fields: msg.SsoProviderFields, client_secret: str | None, who: Principal
    ) -> Any:
        sealed = self._seal(client_secret) if client_secret is not None else None
        return await self._ask(
            msg.CreateSsoProvider(
                name=name, provider_kind=kind, fields=fields, sealed_client_secret=sealed, actor=who.actor()
            )
        )

    async def update_sso_provider(
        self, name: str, fields: msg.SsoProviderFields, client_secret: str | None, who: Principal
    ) -> Any:
        sealed = self._seal(client_secret) if client_secret is not None else None
        return await self._ask(
            msg.UpdateSsoProvider(name=name, fields=fields, sealed_client_secret=sealed, actor=who.actor())
        )

    async def delete_sso_provider(self, name: str, who: Principal) -> Any:
        return await self._ask(msg.DeleteSsoProvider(name=name, actor=who.actor()))

    async def set_sso_settings(self, require_sso: bool, who: Principal) -> Any:
        return await self._ask(msg.SetSsoSettings(require_sso=require_sso, actor=who.actor()))

    async def start_sso(self, provider: str, redirect_uri: str) -> msg.SsoStarted:
        return msg.SsoStarted.model_validate(
            await self._ask(msg.StartSsoSignIn(provider=provider, redirect_uri=redirect_uri))
        )

    async def complete_sso(
        self,
        provider: str,
        state: str,
        code: str | None,
        error: str | None,
        description: str | None,
        client_address: str | None,
        user_agent: str | None,
    ) -> msg.TokenGranted:
        return msg.TokenGranted.model_validate(
            await self._ask(
                msg.CompleteSsoSignIn(
                    provider=provider,
                    state=state,
                    code=code,
                    error=error,
                    error_description=description,
                    client_address=client_address,
                    user_agent=user_agent[:512] if user_agent else None,
                )
            )
        )


class FirstRun:
    """Whether anybody has an account yet; once someone has, that never changes (users are disabled, not
    deleted), so only the answer "nobody yet" is asked again."""

    def __init__(self, bus: Bus, timeout: float) -> None:
        self._bus = bus
        self._timeout = timeout
        self._has_users = False

    async def setup_required(self) -> bool:
        if not self._has_users:
            state = await self._bus.ask(msg.GetAccessState(), timeout=self._timeout, into=msg.AccessState)
            self._has_users = bool(state.generations)
        return not self._has_users
