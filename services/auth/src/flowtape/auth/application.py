"""Auth's verbs: set up, sign in, manage users and API keys, rotate keys, keep the audit trail.

Every change is audited in the same transaction that makes it; events for the gateways are published after
the commit. They only speed things up: gateways also pull the key set and the token generations every few
seconds, so a lost broadcast delays a revocation by at most that, and never loses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey
from prometheus_client import CollectorRegistry, Counter

from flowtape.auth.domain import keys as keyring
from flowtape.auth.domain import projects, throttling, tokens
from flowtape.auth.domain.passwords import Passwords, policy_problem
from flowtape.auth.domain.users import ensure_an_admin_remains, normalize_email
from flowtape.auth.mail import Mailer
from flowtape.auth.settings import AuthSettings
from flowtape.auth.store import (
    ApiKeyRecord,
    AuthStore,
    AuthTx,
    InvitationRecord,
    MailedToken,
    SessionRecord,
    UserRecord,
)
from flowtape.common.bus import Bus
from flowtape.common.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import Actor, Role
from flowtape.common.projects import DEFAULT_PROJECT

log = logging.getLogger("flowtape.auth")

Clock = Callable[[], datetime]
_KEY_ID = re.compile(r"^[a-z0-9]{8,32}$")
_KEY_HASH = re.compile(r"^[0-9a-f]{64}$")
#: how often ``last_used_at`` of an API key is written, at most
_LAST_USED_RESOLUTION = timedelta(seconds=60)
_WRONG = "wrong email or password"
_USES: tuple[keyring.KeyUse, ...] = ("sig", "enc")
_RESET = "reset"
_VERIFY = "verify"
_BAD_LINK = "this link is not valid any more (it was used, it expired, or it was never issued); ask for a new one"


def _session_view(session: SessionRecord, now: datetime) -> msg.SessionView:
    return msg.SessionView(
        id=session.id,
        user_id=session.user_id,
        method=session.method,
        client_address=session.client_address,
        user_agent=session.user_agent,
        created_at=session.created_at,
        expires_at=session.expires_at,
        ended_at=session.ended_at,
        end_reason=session.end_reason,
        active=session.active_at(now),
    )


def _invitation_view(invitation: InvitationRecord) -> msg.InvitationView:
    return msg.InvitationView(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
        user_id=invitation.user_id,
        project_id=invitation.project_id,
    )


def _link_token_hash(token: str) -> str:
    """Link tokens carry 256 random bits: a fast hash suffices, and only the hash is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user_view(user: UserRecord, verified: dict[str, str] | None = None) -> msg.UserView:
    return msg.UserView(
        id=user.id,
        email=user.email,
        role=user.role,
        disabled=user.disabled,
        email_verified=(verified or {}).get(user.id) == user.email,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def _key_view(key: ApiKeyRecord) -> msg.ApiKeyView:
    return msg.ApiKeyView(
        id=key.id,
        name=key.name,
        role=key.role,
        owner_id=key.owner_id,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        project_id=key.project_id,
    )


class AuthMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.logins = Counter("flowtape_auth_logins_total", "Login attempts by outcome", ["outcome"], registry=registry)
        self.api_key_checks = Counter(
            "flowtape_auth_api_key_checks_total", "API key verifications by outcome", ["outcome"], registry=registry
        )


class AuthService:
    def __init__(
        self,
        *,
        store: AuthStore,
        settings: AuthSettings,
        vault: keyring.KeyVault,
        passwords: Passwords,
        bus: Bus,
        clock: Clock,
        metrics: AuthMetrics | None = None,
        mailer: Mailer | None = None,
        public_url: str | None = None,
    ) -> None:
        self._mailer = mailer
        self._public_url = (public_url or "http://localhost:8080").rstrip("/")
        self._mailing: set[asyncio.Task[None]] = set()
        self._store = store
        self._settings = settings
        self._vault = vault
        self._passwords = passwords
        self._bus = bus
        self._clock = clock
        self._metrics = metrics or AuthMetrics()
        self._hashing = asyncio.Semaphore(settings.hashing_concurrency)
        self._private: dict[str, ECKey] = {}
        self._throttling = throttling.LoginPolicy(
            free_attempts=settings.login_free_attempts,
            max_delay=timedelta(seconds=settings.login_max_delay_seconds),
            memory=timedelta(seconds=settings.login_memory_seconds),
            per_address=settings.login_failures_per_address,
            per_account=settings.login_failures_per_account,
            window=timedelta(seconds=settings.login_window_seconds),
            known_for=timedelta(days=settings.login_known_address_days),
        )

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self._settings.token_ttl_seconds)

    # ---- keys

    async def ensure_keys(self) -> msg.PublicKeySet:
        """Make sure a signing and a sealing key exist; forget private keys nothing may use any more."""
        now = self._clock()
        async with self._store.transaction() as tx:
            await tx.serialise("keys")
            held = await tx.keys()
            for use in _USES:
                if keyring.current(held, use) is None:
                    await tx.insert_key(keyring.new_key(use, now, self._vault))
            for key in held:
                if not key.published_at(now) and key.encrypted_private_key is not None:
                    await tx.save_key_state(replace(key, encrypted_private_key=None))
            held = await tx.keys()
        for use in _USES:
            current = keyring.current(held, use)
            assert current is not None
            self._private_key(current)  # fails now, not at the first login, when the secret key is wrong
        return keyring.public_key_set(held, now)

    async def public_keys(self) -> msg.PublicKeySet:
        async with self._store.reading() as tx:
            return keyring.public_key_set(await tx.keys(), self._clock())

    async def rotate_keys(self, actor: Actor) -> msg.PublicKeySet:
        now = self._clock()
        grace = self._ttl + timedelta(seconds=self._settings.leeway_seconds)
        async with self._store.transaction() as tx:
            await tx.serialise("keys")
            retired: list[str] = []
            for key in await tx.keys():
                if key.retired_at is None:
                    await tx.save_key_state(key.retire(now, grace))
                    retired.append(key.kid)
            fresh = [keyring.new_key(use, now, self._vault) for use in _USES]
            for key in fresh:
                await tx.insert_key(key)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="keys.rotated",
                target_type="signing_key",
                target_id=fresh[0].kid,
                details={"retired": retired, "new": [k.kid for k in fresh], "old_keys_valid_until": now + grace},
            )
            published = keyring.public_key_set(await tx.keys(), now)
        log.info("rotated keys: now signing with %s; retired %s", fresh[0].kid, ", ".join(retired))
        await self.publish_keys(published)
        return published

    async def publish_keys(self, keys: msg.PublicKeySet | None = None) -> None:
        await self._publish(msg.PublicKeysPublished(keys=keys or await self.public_keys()))

    def _private_key(self, material: keyring.KeyMaterial) -> ECKey:
        key = self._private.get(material.kid)
        if key is None:
            key = keyring.private_key(material, self._vault)
            self._private[material.kid] = key
        return key

    async def unseal(self, tx: AuthTx, sealed: str) -> str:
        """A secret the gateway sealed to auth's encryption key (a password, an SSO client secret)."""
        return await self._unseal(tx, sealed)

    async def _unseal(self, tx: AuthTx, sealed: str) -> str:
        now = self._clock()
        usable = [
            self._private_key(k)
            for k in await tx.keys()
            if k.use == "enc" and k.published_at(now) and k.encrypted_private_key is not None
        ]
        max_age = timedelta(seconds=self._settings.sealed_secret_max_age_seconds)
        return keyring.unseal(sealed, usable, now, max_age)

    async def _hash(self, password: str) -> str:
        problem = policy_problem(password)
        if problem is not None:
            raise InvalidInput(problem, details=[{"field": "password", "message": problem}])
        async with self._hashing:
            return await asyncio.to_thread(self._passwords.hash, password)

    # ---- sign-up and sign-in

    async def needs_setup(self) -> bool:
        async with self._store.reading() as tx:
            return await tx.count_users() == 0

    async def set_up(self, email: str, sealed_password: str, client_address: str | None) -> msg.UserView:
        """The first admin; Conflict once anyone exists (whether made here or at the CLI)."""
        address = normalize_email(email)
        async with self._store.reading() as tx:
            password = await self._unseal(tx, sealed_password)
        password_hash = await self._hash(password)
        now = self._clock()
        user = UserRecord(uuid.uuid4().hex, address, password_hash, "admin", False, 0, now, now)
        async with self._store.transaction() as tx:
            if await tx.count_users():
                raise Conflict("Flowtape is already set up; sign in instead")
            await tx.mark_set_up(now)
            await tx.insert_user(user)
            # a platform admin needs no membership; this one gives them a project their things go to
            await tx.put_member(DEFAULT_PROJECT, user.id, "admin", now)
            await tx.append_audit(
                at=now,
                actor=Actor(kind="anonymous", client_address=client_address),
                action="user.created",
                target_type="user",
                target_id=user.id,
                details={"email": user.email, "role": user.role, "via": "setup"},
            )
        log.info("set up: created the first admin %s", user.id)
        return _user_view(user)

    async def login(
        self, email: str, sealed_password: str, client_address: str | None, user_agent: str | None = None
    ) -> msg.TokenGranted:
        now = self._clock()
        subjects = _ThrottleSubjects.of(email, client_address)
        async with self._store.reading() as tx:
            await self._check_throttle(tx, subjects, now)
            password = await self._unseal(tx, sealed_password)
            user = await tx.user_by_email(email.strip().lower())
            if await tx.setting("require_sso", False) and (user is None or user.id != await tx.first_user_id()):
                # checked before the password, with one answer for every account: nothing learnt by guessing
                self._metrics.logins.labels("sso_required").inc()
                raise Forbidden(
                    "this platform requires single sign-on: use a “Sign in with …” button "
                    "(only the first admin may still sign in with a password)"
                )
        async with self._hashing:
            matches = await asyncio.to_thread(self._passwords.verify, user.password_hash if user else None, password)
        rehash = matches and user is not None and self._passwords.needs_rehash(user.password_hash)
        if not matches or user is None or user.disabled:
            reason = "unknown_account" if user is None else "disabled" if matches else "wrong_password"
            await self._login_failed(user, subjects, client_address, reason, now)
            raise Unauthorized("this account is disabled" if reason == "disabled" else _WRONG)
        new_hash = await self._hash(password) if rehash else None
        async with self._store.transaction() as tx:
            keys = await tx.keys()
            # the failures of this address are forgiven; those of others still count against the account
            await tx.clear_login_failures("pair", subjects.pair)
            if subjects.address is not None:
                await tx.remember_address(subjects.account, subjects.address, now)
            await tx.forget_addresses(now - self._throttling.known_for)
            if new_hash is not None:
                await tx.update_user(user.id, password_hash=new_hash)
            session = await self._open_session(tx, user, "password", client_address, user_agent, now)
        self._metrics.logins.labels("ok").inc()
        return self._grant(user, session, keys, now)

    async def open_session_for(
        self, user_id: str, method: str, client_address: str | None, user_agent: str | None
    ) -> msg.TokenGranted:
        """A session and its token for someone another way vouched for (single sign-on)."""
        now = self._clock()
        async with self._store.transaction() as tx:
            user = await _existing_user(tx, user_id)
            if user.disabled:
                raise Unauthorized("this account is disabled")
            keys = await tx.keys()
            session = await self._open_session(tx, user, method, client_address, user_agent, now)
        self._metrics.logins.labels("ok").inc()
        return self._grant(user, session, keys, now)

    async def record_login_failure(self, method: str, reason: str, client_address: str | None) -> None:
        """A refused sign-in other than by password, in the audit trail (the reason names no secret)."""
        async with self._store.transaction() as tx:
            await tx.append_audit(
                at=self._clock(),
                actor=Actor(kind="anonymous", client_address=client_address),
                action="login.failed",
                outcome="failed",
                details={"method": method, "reason": reason[:300]},
            )
        self._metrics.logins.labels("failed").inc()

    def _grant(
        self, user: UserRecord, session: SessionRecord, keys: list[keyring.KeyMaterial], now: datetime
    ) -> msg.TokenGranted:
        signing = keyring.current(keys, "sig")
        assert signing is not None, "ensure_keys runs before any request"
        token = tokens.issue(
            user_id=user.id,
            email=user.email,
            role=user.role,
            generation=user.generation,
            key=self._private_key(signing),
            now=now,
            ttl=self._ttl,
            session_id=session.id,
        )
        return msg.TokenGranted(access_token=token, expires_in=int(self._ttl.total_seconds()), session_id=session.id)

    async def _open_session(
        self,
        tx: AuthTx,
        user: UserRecord,
        method: str,
        client_address: str | None,
        user_agent: str | None,
        now: datetime,
    ) -> SessionRecord:
        """Record a sign-in (the login history) in the transaction that grants its token."""
        session = SessionRecord(
            id=uuid.uuid4().hex,
            user_id=user.id,
            method=method,
            client_address=client_address,
            user_agent=user_agent,
            created_at=now,
            expires_at=now + self._ttl,
        )
        await tx.insert_session(session)
        await tx.append_audit(
            at=now,
            actor=Actor(kind="user", user_id=user.id, email=user.email, client_address=client_address),
            action="login.succeeded",
            target_type="user",
            target_id=user.id,
            details={"method": method, "session_id": session.id},
        )
        return session

    async def _check_throttle(self, tx: AuthTx, subjects: _ThrottleSubjects, now: datetime) -> None:
        policy = self._throttling
        address = subjects.address
        history = throttling.LoginHistory(
            pair=await tx.login_failures("pair", subjects.pair, now - policy.memory, policy.pair_failures_that_matter),
            address=(
                await tx.login_failures("address", address, now - policy.window, policy.per_address) if address else []
            ),
            account=await tx.login_failures("account", subjects.account, now - policy.window, policy.per_account),
            known_address=address is not None
            and await tx.is_known_address(subjects.account, address, now - policy.known_for),
        )
        wait = throttling.retry_after(history, policy, now)
        if wait is not None:
            self._metrics.logins.labels("throttled").inc()
            raise RateLimited(f"too many failed sign-ins; try again in {wait} s", details={"retry_after": wait})

    async def _login_failed(
        self, user: UserRecord | None, subjects: _ThrottleSubjects, address: str | None, reason: str, now: datetime
    ) -> None:
        async with self._store.transaction() as tx:
            await tx.record_login_failure("pair", subjects.pair, now)
            await tx.record_login_failure("account", subjects.account, now)
            if subjects.address is not None:
                await tx.record_login_failure("address", subjects.address, now)
            await tx.prune_login_failures(now - self._throttling.kept_for)
            # an unknown account's name is not kept: people type their password into the email field
            await tx.append_audit(
                at=now,
                actor=Actor(
                    kind="user" if user else "anonymous",
                    user_id=user.id if user else None,
                    email=user.email if user else None,
                    client_address=address,
                ),
                action="login.failed",
                target_type="user" if user else None,
                target_id=user.id if user else None,
                outcome="failed",
                details={"reason": reason},
            )
        self._metrics.logins.labels("failed").inc()

    # ---- users

    async def create_user(self, email: str, sealed_password: str, role: Role, actor: Actor) -> msg.UserView:
        address = normalize_email(email)
        async with self._store.reading() as tx:
            password = await self._unseal(tx, sealed_password)
        password_hash = await self._hash(password)
        now = self._clock()
        user = UserRecord(uuid.uuid4().hex, address, password_hash, role, False, 0, now, now)
        async with self._store.transaction() as tx:
            await tx.insert_user(user)
            # a user's role is their role in the default project (an admin's is every project's)
            await tx.put_member(DEFAULT_PROJECT, user.id, role, now)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="user.created",
                target_type="user",
                target_id=user.id,
                details={"email": user.email, "role": role},
            )
        await self._publish(msg.MembershipsChanged(user_id=user.id))
        return _user_view(user)

    async def get_user(self, user_id: str) -> msg.UserView:
        async with self._store.reading() as tx:
            user = await _existing_user(tx, user_id)
            return _user_view(user, await tx.verified_emails([user.id]))

    async def list_users(self, limit: int, cursor: str | None) -> msg.UserPage:
        async with self._store.reading() as tx:
            found, next_cursor = await tx.list_users(limit, cursor)
            verified = await tx.verified_emails([u.id for u in found])
        return msg.UserPage(items=[_user_view(u, verified) for u in found], next_cursor=next_cursor)

    async def update_user(self, user_id: str, role: Role | None, disabled: bool | None, actor: Actor) -> msg.UserView:
        now = self._clock()
        async with self._store.transaction() as tx:
            await tx.serialise("users")  # two concurrent demotions must not both pass the last-admin check
            user = await _existing_user(tx, user_id)
            new_role = role or user.role
            new_disabled = user.disabled if disabled is None else disabled
            if (new_role, new_disabled) == (user.role, user.disabled):
                return _user_view(user)
            was_admin = user.role == "admin" and not user.disabled
            stays_admin = new_role == "admin" and not new_disabled
            ensure_an_admin_remains(await tx.count_active_admins(), losing_one=was_admin and not stays_admin)
            generation = user.generation + 1
            await tx.update_user(user.id, role=new_role, disabled=new_disabled, generation=generation, updated_at=now)
            if new_disabled and not user.disabled:
                await tx.end_sessions(user.id, now, "disabled")
            if new_role != user.role and not projects.is_platform_admin(new_role):
                # an admin keeps their memberships: they matter again should they stop being one
                await tx.put_member(DEFAULT_PROJECT, user.id, new_role, now)
            if new_role != user.role:
                await tx.append_audit(
                    at=now,
                    actor=actor,
                    action="user.role_changed",
                    target_type="user",
                    target_id=user.id,
                    details={"email": user.email, "from": user.role, "to": new_role},
                )
            if new_disabled != user.disabled:
                await tx.append_audit(
                    at=now,
                    actor=actor,
                    action="user.disabled" if new_disabled else "user.enabled",
                    target_type="user",
                    target_id=user.id,
                    details={"email": user.email},
                )
            updated = await _existing_user(tx, user.id)
        await self._publish(
            msg.UserAccessChanged(user_id=user.id, generation=generation, role=updated.role, disabled=updated.disabled)
        )
        if new_role != user.role:
            await self._publish(msg.MembershipsChanged(user_id=user.id))
        return _user_view(updated)

    async def access_state(self) -> msg.AccessState:
        async with self._store.reading() as tx:
            return msg.AccessState(
                generations=await tx.generations(), revoked_sessions=await tx.revoked_sessions(self._clock())
            )

    # ---- sessions (the login history)

    async def list_sessions(self, user_id: str, active_only: bool, limit: int, cursor: str | None) -> msg.SessionPage:
        now = self._clock()
        async with self._store.reading() as tx:
            await _existing_user(tx, user_id)
            found, next_cursor = await tx.list_sessions(user_id, now if active_only else None, limit, cursor)
        return msg.SessionPage(items=[_session_view(s, now) for s in found], next_cursor=next_cursor)

    async def revoke_session(
        self, session_id: str, owner_id: str | None, actor: Actor, reason: str = "revoked"
    ) -> msg.SessionView:
        """End one session. A session of someone else (when ``owner_id`` restricts) is NotFound, as is an
        unknown one: a caller learns nothing about other people's sessions."""
        now = self._clock()
        async with self._store.transaction() as tx:
            session = await tx.session(session_id)
            if session is None or (owner_id is not None and session.user_id != owner_id):
                raise NotFound(f"session {session_id} does not exist")
            ended = await tx.end_sessions(session.user_id, now, reason, session_id=session_id)
            if ended:
                await tx.append_audit(
                    at=now,
                    actor=actor,
                    action="session.revoked",
                    target_type="session",
                    target_id=session_id,
                    details={"user_id": session.user_id, "reason": reason},
                )
            session = await tx.session(session_id)
        assert session is not None
        if ended:
            await self._publish(msg.SessionsRevoked(user_id=session.user_id, session_ids=ended, until=now + self._ttl))
        return _session_view(session, now)

    # ---- password reset and email verification

    async def request_password_reset(self, email: str, client_address: str | None) -> msg.MailAccepted:
        """Mail a reset link when the address has an active account. The answer and the work done before it
        are the same either way (the mail goes out after the reply), so it tells nobody who has an account."""
        try:
            address = normalize_email(email)
        except InvalidInput:
            return msg.MailAccepted()
        now = self._clock()
        async with self._store.transaction() as tx:
            user = await tx.user_by_email(address)
            token = await self._issue_link_token(tx, user, _RESET, now)
            if token is not None and user is not None:
                await tx.append_audit(
                    at=now,
                    actor=Actor(kind="anonymous", client_address=client_address),
                    action="password_reset.requested",
                    target_type="user",
                    target_id=user.id,
                )
        if token is not None and user is not None:
            minutes = self._settings.reset_token_ttl_seconds // 60
            self._mail_later(
                user.email,
                "Reset your Flowtape password",
                "Someone (hopefully you) asked to reset the password of your Flowtape account.\n\n"
                f"Choose a new password here (the link works once, for {minutes} minutes):\n"
                f"{self._public_url}/reset-password#token={token}\n\n"
                "If you did not ask for this, ignore this mail: your password stays as it is.\n",
            )
        return msg.MailAccepted()

    async def reset_password(self, token: str, sealed_password: str, client_address: str | None) -> msg.UserView:
        now = self._clock()
        async with self._store.reading() as tx:
            password = await self._unseal(tx, sealed_password)
        password_hash = await self._hash(password)
        async with self._store.transaction() as tx:
            claimed = await tx.use_mailed_token(_link_token_hash(token), _RESET, now)
            user = await tx.user_by_id(claimed.user_id) if claimed is not None else None
            if claimed is None or user is None or user.disabled or user.email != claimed.email:
                raise InvalidInput(_BAD_LINK, details=[{"field": "token", "message": "not valid"}])
            generation = user.generation + 1
            await tx.update_user(user.id, password_hash=password_hash, generation=generation, updated_at=now)
            ended = await tx.end_sessions(user.id, now, "password_reset")
            # following the mailed link proved the address is theirs
            await tx.mark_email_verified(user.id, user.email, now)
            await tx.append_audit(
                at=now,
                actor=Actor(kind="user", user_id=user.id, email=user.email, client_address=client_address),
                action="password_reset.completed",
                target_type="user",
                target_id=user.id,
                details={"sessions_ended": len(ended)},
            )
            await tx.prune_mailed_tokens(now)
            updated = await _existing_user(tx, user.id)
            verified = await tx.verified_emails([user.id])
        await self._publish(
            msg.UserAccessChanged(user_id=user.id, generation=generation, role=updated.role, disabled=updated.disabled)
        )
        if ended:
            await self._publish(msg.SessionsRevoked(user_id=user.id, session_ids=ended, until=now + self._ttl))
        return _user_view(updated, verified)

    async def request_email_verification(self, user_id: str, client_address: str | None) -> msg.MailAccepted:
        now = self._clock()
        async with self._store.transaction() as tx:
            user = await _existing_user(tx, user_id)
            token = await self._issue_link_token(tx, user, _VERIFY, now)
        if token is not None:
            hours = self._settings.verification_token_ttl_seconds // 3600
            self._mail_later(
                user.email,
                "Confirm your email address for Flowtape",
                "Confirm that this address belongs to your Flowtape account "
                f"(the link works once, for {hours} hours):\n"
                f"{self._public_url}/verify-email#token={token}\n",
            )
        return msg.MailAccepted()

    async def verify_email(self, token: str, client_address: str | None) -> msg.UserView:
        now = self._clock()
        async with self._store.transaction() as tx:
            claimed = await tx.use_mailed_token(_link_token_hash(token), _VERIFY, now)
            user = await tx.user_by_id(claimed.user_id) if claimed is not None else None
            if claimed is None or user is None or user.email != claimed.email:
                raise InvalidInput(_BAD_LINK, details=[{"field": "token", "message": "not valid"}])
            await tx.mark_email_verified(user.id, user.email, now)
            await tx.append_audit(
                at=now,
                actor=Actor(kind="user", user_id=user.id, email=user.email, client_address=client_address),
                action="email.verified",
                target_type="user",
                target_id=user.id,
                details={"email": user.email},
            )
            verified = await tx.verified_emails([user.id])
        return _user_view(user, verified)

    async def _issue_link_token(self, tx: AuthTx, user: UserRecord | None, purpose: str, now: datetime) -> str | None:
        """A fresh link token for an active ``user`` (None for nobody, a disabled account or a mail sent within
        ``mail_interval_seconds``); only its hash is stored."""
        if user is None or user.disabled:
            return None
        last = await tx.last_mailed_at(user.id, purpose)
        if last is not None and now - last < timedelta(seconds=self._settings.mail_interval_seconds):
            return None
        ttl = (
            self._settings.reset_token_ttl_seconds
            if purpose == _RESET
            else self._settings.verification_token_ttl_seconds
        )
        token = secrets.token_urlsafe(32)
        await tx.insert_mailed_token(
            MailedToken(
                token_hash=_link_token_hash(token),
                purpose=purpose,
                user_id=user.id,
                email=user.email,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
        )
        return token

    # ---- invitations

    async def invite(self, email: str, role: Role, actor: Actor, project_id: str | None = None) -> msg.InvitationView:
        """An invitation to ``role`` in ``project_id`` (None: the default project, where admin means platform
        admin)."""
        address = normalize_email(email)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        invitation = InvitationRecord(
            id=uuid.uuid4().hex,
            token_hash=_link_token_hash(token),
            email=address,
            role=role,
            invited_by=actor.user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.invitation_ttl_seconds),
            project_id=project_id or DEFAULT_PROJECT,
        )
        async with self._store.transaction() as tx:
            project = await tx.project(invitation.project_id or DEFAULT_PROJECT)
            if project is None:
                raise NotFound(f"project {project_id} does not exist")
            if await tx.user_by_email(address) is not None:
                raise Conflict(f"{address} has an account already")
            await tx.insert_invitation(invitation)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="invitation.created",
                target_type="invitation",
                target_id=invitation.id,
                details={"email": address, "role": role, "project_id": invitation.project_id},
            )
        days = self._settings.invitation_ttl_seconds // 86400
        inviter = actor.email or "An administrator"
        where = "" if project.id == DEFAULT_PROJECT else f" in the project {project.name}"
        self._mail_later(
            address,
            "You are invited to Flowtape",
            f"{inviter} invited you to Flowtape as {role}{where}.\n\n"
            f"Choose your password here (the link works once, for {days} days):\n"
            f"{self._public_url}/accept-invitation#token={token}\n",
        )
        return _invitation_view(invitation)

    async def list_invitations(self, limit: int, cursor: str | None) -> msg.InvitationPage:
        async with self._store.reading() as tx:
            found, next_cursor = await tx.list_invitations(limit, cursor)
        return msg.InvitationPage(items=[_invitation_view(i) for i in found], next_cursor=next_cursor)

    async def revoke_invitation(self, invitation_id: str, actor: Actor) -> msg.InvitationView:
        now = self._clock()
        async with self._store.transaction() as tx:
            invitation = await tx.invitation(invitation_id)
            if invitation is None:
                raise NotFound(f"invitation {invitation_id} does not exist")
            if invitation.accepted_at is not None:
                raise Conflict("this invitation was accepted already; disable the user instead")
            if invitation.revoked_at is None:
                await tx.update_invitation(invitation_id, revoked_at=now)
                await tx.append_audit(
                    at=now,
                    actor=actor,
                    action="invitation.revoked",
                    target_type="invitation",
                    target_id=invitation_id,
                    details={"email": invitation.email},
                )
            updated = await tx.invitation(invitation_id)
        assert updated is not None
        return _invitation_view(updated)

    async def accept_invitation(self, token: str, sealed_password: str, client_address: str | None) -> msg.UserView:
        """The invitee's account, with the invited role and the password they chose."""
        async with self._store.reading() as tx:
            password = await self._unseal(tx, sealed_password)
        password_hash = await self._hash(password)
        now = self._clock()
        async with self._store.transaction() as tx:
            invitation = await tx.claim_invitation(_link_token_hash(token), now)
            if invitation is None:
                raise InvalidInput(_BAD_LINK, details=[{"field": "token", "message": "not valid"}])
            project_id = invitation.project_id or DEFAULT_PROJECT
            # the role is the default project's, so a user invited elsewhere is a viewer there only by name
            user_role: Role = invitation.role if project_id == DEFAULT_PROJECT else "viewer"
            user = UserRecord(uuid.uuid4().hex, invitation.email, password_hash, user_role, False, 0, now, now)
            await tx.insert_user(user)  # Conflict (and no claim) when the address signed up meanwhile
            if await tx.project(project_id) is None:
                raise InvalidInput("the project of this invitation is gone; ask for a new invitation")
            await tx.put_member(project_id, user.id, invitation.role, now)
            await tx.update_invitation(invitation.id, user_id=user.id)
            await tx.mark_email_verified(user.id, user.email, now)
            await tx.append_audit(
                at=now,
                actor=Actor(kind="user", user_id=user.id, email=user.email, client_address=client_address),
                action="user.created",
                target_type="user",
                target_id=user.id,
                details={
                    "email": user.email,
                    "role": user.role,
                    "via": "invitation",
                    "invitation_id": invitation.id,
                    "project_id": project_id,
                    "project_role": invitation.role,
                },
            )
            verified = await tx.verified_emails([user.id])
        await self._publish(msg.MembershipsChanged(user_id=user.id))
        return _user_view(user, verified)

    def _mail_later(self, to: str, subject: str, body: str) -> None:
        """Send after the reply: the caller's wait must not depend on whether a mail goes out."""
        if self._mailer is None:
            log.warning("no mailer: a %r mail was not sent", subject)
            return
        mailer = self._mailer

        async def send() -> None:
            try:
                await mailer.send(to, subject, body)
            except Exception as exc:  # the link is in the body: never log the body
                log.warning("could not send a %r mail (%s: %s)", subject, type(exc).__name__, exc)

        task = asyncio.get_running_loop().create_task(send())
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)

    async def drain_mail(self) -> None:
        """Wait for the mails being sent (on shutdown, and in tests)."""
        while self._mailing:
            await asyncio.gather(*list(self._mailing), return_exceptions=True)

    # ---- API keys

    async def create_api_key(
        self,
        key_id: str,
        key_hash: str,
        name: str,
        role: Role | None,
        expires_at: datetime | None,
        actor: Actor,
        project_id: str | None = None,
    ) -> msg.ApiKeyView:
        """A key acting in one project (its maker's default one unless named), or a platform admin's platform
        key (no project); never with more rights than its maker has there."""
        if not _KEY_ID.match(key_id) or not _KEY_HASH.match(key_hash):
            raise InvalidInput("malformed API key id or hash")
        if not name.strip():
            raise InvalidInput("an API key needs a name", details=[{"field": "name", "message": "empty"}])
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires_at is in the past", details=[{"field": "expires_at", "message": "past"}])
        async with self._store.transaction() as tx:
            owner = await _existing_user(tx, actor.user_id or "")
            if project_id is not None and await tx.project(project_id) is None:
                raise NotFound(f"project {project_id} does not exist")
            memberships = {m.project_id: m.role for m in await tx.memberships(owner.id)}
            scope = projects.key_scope(owner.role, memberships, project_id, role)
            key_role = scope.role
            key = ApiKeyRecord(
                key_id, key_hash, name.strip()[:200], key_role, owner.id, now, expires_at, project_id=scope.project_id
            )
            await tx.insert_api_key(key)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="api_key.created",
                target_type="api_key",
                target_id=key_id,
                details={"name": key.name, "role": key_role, "expires_at": expires_at, "project_id": key.project_id},
            )
        return _key_view(key)

    async def list_api_keys(
        self, limit: int, cursor: str | None, project_ids: list[str] | None = None
    ) -> msg.ApiKeyPage:
        """Every key, or only those of ``project_ids`` (a project admin sees its projects' keys)."""
        async with self._store.reading() as tx:
            found, next_cursor = await tx.list_api_keys(limit, cursor, project_ids)
        return msg.ApiKeyPage(items=[_key_view(k) for k in found], next_cursor=next_cursor)

    async def revoke_api_key(self, key_id: str, actor: Actor, project_ids: list[str] | None = None) -> msg.ApiKeyView:
        """``project_ids``: the projects whose keys the caller may revoke (None: any key)."""
        now = self._clock()
        async with self._store.transaction() as tx:
            key = await tx.api_key(key_id)
            if key is None or (project_ids is not None and key.project_id not in project_ids):
                raise NotFound(f"API key {key_id} does not exist")
            if key.revoked_at is not None:
                return _key_view(key)
            await tx.update_api_key(key_id, revoked_at=now)
            await tx.append_audit(
                at=now,
                actor=actor,
                action="api_key.revoked",
                target_type="api_key",
                target_id=key_id,
                details={"name": key.name},
            )
            revoked = await tx.api_key(key_id)
        assert revoked is not None
        await self._publish(msg.ApiKeyRevoked(key_id=key_id, owner_id=key.owner_id))
        return _key_view(revoked)

    async def verify_api_key(self, key_id: str, key_hash: str) -> msg.PrincipalView:
        now = self._clock()
        async with self._store.reading() as tx:
            key = await tx.api_key(key_id)
            owner = await tx.user_by_id(key.owner_id) if key is not None else None
            memberships = {m.project_id: m.role for m in await tx.memberships(owner.id)} if owner else {}
        role = (
            projects.effective_key_role(key.role, key.project_id, owner.role, memberships)
            if key is not None and owner is not None
            else None
        )
        valid = (
            key is not None
            and owner is not None
            and hmac.compare_digest(key.key_hash, key_hash)
            and key.revoked_at is None
            and (key.expires_at is None or key.expires_at > now)
            and not owner.disabled
            and role is not None
        )
        self._metrics.api_key_checks.labels("ok" if valid else "refused").inc()
        if not valid or key is None or owner is None or role is None:
            raise Unauthorized(
                "the API key is not valid (unknown, revoked or expired, or its owner may no longer act where it does)"
            )
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
            async with self._store.transaction() as tx:
                await tx.update_api_key(key.id, last_used_at=now)
        return msg.PrincipalView(
            user_id=owner.id, email=owner.email, role=role, key_id=key.id, project_id=key.project_id
        )

    # ---- audit

    async def record(self, entry: msg.RecordAudit) -> None:
        async with self._store.transaction() as tx:
            await tx.append_audit(
                at=entry.occurred_at,
                actor=entry.actor,
                action=entry.action,
                target_type=entry.target_type,
                target_id=entry.target_id,
                outcome=entry.outcome,
                details=entry.details,
                message_id=entry.message_id,
            )

    async def list_audit(
        self, limit: int, cursor: str | None, action: str | None, actor_id: str | None
    ) -> msg.AuditPage:
        async with self._store.reading() as tx:
            found, next_cursor = await tx.list_audit(limit, cursor, action, actor_id)
        return msg.AuditPage(items=found, next_cursor=next_cursor)

    async def _publish(self, event: Any) -> None:
        await self.broadcast(event)

    async def broadcast(self, event: Any) -> None:
        """Publish an event about a committed change; a failure is logged, never raised (the change stands)."""
        try:
            await self._bus.publish(event)
        except Exception as exc:  # the change is committed; gateways pull it within their refresh interval
            log.warning("could not broadcast %s (%s); gateways will pull the change", event.type_name, exc)


def _throttle_key(value: str) -> str:
    """Throttling only compares: it keeps hashes, so a password typed into the email field is not stored."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class _ThrottleSubjects:
    """What sign-in failures are counted against, as hashes: the account, the client address, and the two."""

    account: str
    address: str | None
    pair: str

    @classmethod
    def of(cls, email: str, client_address: str | None) -> _ThrottleSubjects:
        account = email.strip().lower()
        return cls(
            account=_throttle_key(account),
            address=_throttle_key(client_address) if client_address else None,
            pair=_throttle_key(f"{account}\n{client_address or ''}"),
        )


async def _existing_user(tx: AuthTx, user_id: str) -> UserRecord:
    user = await tx.user_by_id(user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user
