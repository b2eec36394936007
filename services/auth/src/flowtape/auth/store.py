"""Auth's own tables (schema ``auth``; a SQLite file in embedded mode) and the only SQL of the service.

The audit log is append-only in the database itself: a trigger refuses UPDATE and DELETE on it, on PostgreSQL
and SQLite alike, so no code path (and no slip in one) can rewrite history.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.auth.domain.keys import KeyMaterial
from flowtape.common.errors import Conflict, InvalidInput
from flowtape.common.messages.auth import Actor, AuditEntry, Role
from flowtape.common.projects import DEFAULT_PROJECT

SCHEMA = "auth"
metadata = MetaData(schema=SCHEMA)
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: a single row, written with the first admin: two concurrent set-ups cannot both succeed
setup_marker = Table(
    "setup",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("owner_id", String(32), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

keys = Table(
    "keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("use", String(3), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("encrypted_private_key", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("not_after", DateTime(timezone=True)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("message_id", String(64), unique=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_user_id", String(32), index=True),
    Column("actor_email", String(320)),
    Column("actor_key_id", String(32)),
    Column("client_address", String(64)),
    Column("action", String(64), nullable=False, index=True),
    Column("target_type", String(32)),
    Column("target_id", String(64)),
    Column("outcome", String(8), nullable=False),
    Column("details", Text, nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("scope", String(8), nullable=False),
    Column("subject", String(320), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("login_failures_lookup", "scope", "subject", "at"),
)

#: client addresses each account signed in from (both as hashes): they may still try when the account is under
#: attack from many addresses
login_known_addresses = Table(
    "login_known_addresses",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("address", String(64), primary_key=True),
    Column("last_success_at", DateTime(timezone=True), nullable=False, index=True),
)

#: every sign-in, which is also the login history; a token names its session in ``sid``
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("method", String(64), nullable=False),
    Column("client_address", String(64)),
    Column("user_agent", String(512)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("ended_at", DateTime(timezone=True)),
    Column("end_reason", String(32)),
    Index("sessions_by_user", "user_id", "created_at"),
)

#: single-use tokens mailed in links (password reset, email verification), kept as SHA-256 hashes only
mailed_tokens = Table(
    "mailed_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("used_at", DateTime(timezone=True)),
    Index("mailed_tokens_by_user", "user_id", "purpose", "created_at"),
)

#: a separate table rather than a column of ``users``, so that existing installations need no migration
email_verifications = Table(
    "email_verifications",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=False),
)

#: invitations to join; the token mailed in the link is kept as its SHA-256 only (its project: ``invitation_projects``)
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("email", String(320), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("invited_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("user_id", String(32)),
)

#: single sign-on providers; ``config`` is JSON (discovery URL, scopes, group grants ...), the client secret is
#: AES-256-GCM under a key derived from FLOWTAPE_SECRET_KEY (the provider's name bound in)
sso_providers = Table(
    "sso_providers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("config", Text, nullable=False),
    Column("encrypted_client_secret", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: sign-ins started and not finished yet: what the callback must match, taken once (any auth replica)
sso_pending = Table(
    "sso_pending",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("provider", String(64), nullable=False),
    #: encrypted JSON: nonce, PKCE verifier, redirect URI
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

#: who a provider's subject is here, once linked (by verified email, or by the sign-up)
sso_identities = Table(
    "sso_identities",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", String(32), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: projects (issue 16); ``default`` always exists and holds whatever was made before projects
projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(32)),
)

#: who is in which project with which role (a platform admin, ``users.role`` admin, needs no row to act anywhere)
project_members = Table(
    "project_members",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("user_id", String(32), primary_key=True, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: the project an API key acts in; none for a platform key. Tables beside ``api_keys`` and ``invitations``
#: rather than columns of them, so that existing installations need no migration
api_key_projects = Table(
    "api_key_projects",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False, index=True),
)

invitation_projects = Table(
    "invitation_projects",
    metadata,
    Column("invitation_id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
)

#: platform-wide settings as name → JSON value (``require_sso``)
auth_settings = Table(
    "settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

_KEYS_WITH_PROJECT = select(api_keys, api_key_projects.c.project_id).select_from(
    api_keys.outerjoin(api_key_projects, api_key_projects.c.key_id == api_keys.c.id)
)
_INVITATIONS_WITH_PROJECT = select(invitations, invitation_projects.c.project_id).select_from(
    invitations.outerjoin(invitation_projects, invitation_projects.c.invitation_id == invitations.c.id)
)

_APPEND_ONLY = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION auth.audit_log_append_only() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql""",
        "DROP TRIGGER IF EXISTS audit_log_append_only ON auth.audit_log",
        """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON auth.audit_log
           FOR EACH ROW EXECUTE FUNCTION auth.audit_log_append_only()""",
    ],
    "sqlite": [
        """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ],
}


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts, default=str).encode()).decode()


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(parts, list):
            raise ValueError(cursor)
        return parts
    except (ValueError, TypeError) as exc:
        raise InvalidInput("the cursor is not one this API handed out; start again without it") from exc


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    role: Role
    disabled: bool
    generation: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    id: str
    user_id: str
    method: str
    client_address: str | None
    user_agent: str | None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None

    def active_at(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at > now


@dataclass(frozen=True)
class MailedToken:
    token_hash: str
    purpose: str
    user_id: str
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class InvitationRecord:
    id: str
    token_hash: str
    email: str
    role: Role
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    user_id: str | None = None
    #: None for an invitation made before projects: it is one to the default project
    project_id: str | None = None


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    name: str
    created_at: datetime
    created_by: str | None = None


@dataclass(frozen=True)
class MemberRecord:
    project_id: str
    user_id: str
    role: Role
    created_at: datetime


def _project(row: Any) -> ProjectRecord:
    return ProjectRecord(
        id=row["id"],
        name=row["name"],
        created_at=utc(row["created_at"]) or datetime.now(UTC),
        created_by=row["created_by"],
    )


def _member(row: Any) -> MemberRecord:
    return MemberRecord(
        project_id=row["project_id"],
        user_id=row["user_id"],
        role=row["role"],
        created_at=utc(row["created_at"]) or datetime.now(UTC),
    )


def _invitation(row: Any) -> InvitationRecord:
    return InvitationRecord(
        id=row["id"],
        token_hash=row["token_hash"],
        email=row["email"],
        role=row["role"],
        invited_by=row["invited_by"],
        created_at=utc(row["created_at"]) or datetime.now(UTC),
        expires_at=utc(row["expires_at"]) or datetime.now(UTC),
        accepted_at=utc(row["accepted_at"]),
        revoked_at=utc(row["revoked_at"]),
        user_id=row["user_id"],
        project_id=row["project_id"],
    )


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        user_id=row["user_id"],
        method=row["method"],
        client_address=row["client_address"],
        user_agent=row["user_agent"],
        created_at=utc(row["created_at"]) or datetime.now(UTC),
        expires_at=utc(row["expires_at"]) or datetime.now(UTC),
        ended_at=utc(row["ended_at"]),
        end_reason=row["end_reason"],
    )


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    key_hash: str
    name: str
    role: Role
    owner_id: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    #: None for a platform key (an admin's, made without a project)
    project_id: str | None = None


def _user(row: Any) -> UserRecord:
    return UserRecord(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        role=row["role"],
        disabled=bool(row["disabled"]),
        generation=int(row["generation"]),
        created_at=utc(row["created_at"]) or datetime.now(UTC),
        updated_at=utc(row["updated_at"]) or datetime.now(UTC),
    )


def _api_key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        key_hash=row["key_hash"],
        name=row["name"],
        role=row["role"],
        owner_id=row["owner_id"],
        created_at=utc(row["created_at"]) or datetime.now(UTC),
        expires_at=utc(row["expires_at"]),
        last_used_at=utc(row["last_used_at"]),
        revoked_at=utc(row["revoked_at"]),
        project_id=row["project_id"],
    )


def _key(row: Any) -> KeyMaterial:
    return KeyMaterial(
        kid=row["kid"],
        use=row["use"],
        algorithm=row["algorithm"],
        public_jwk=json.loads(row["public_jwk"]),
        encrypted_private_key=row["encrypted_private_key"],
        created_at=utc(row["created_at"]) or datetime.now(UTC),
        retired_at=utc(row["retired_at"]),
        not_after=utc(row["not_after"]),
    )


def _audit(row: Any) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=utc(row["at"]) or datetime.now(UTC),
        actor=Actor(
            kind=row["actor_kind"],
            user_id=row["actor_user_id"],
            email=row["actor_email"],
            key_id=row["actor_key_id"],
            client_address=row["client_address"],
        ),
        action=row["action"],
        target_type=row["target_type"],
        target_id=row["target_id"],
        outcome=row["outcome"],
        details=json.loads(row["details"]),
    )


def _sso_provider(row: Any) -> dict[str, Any]:
    return {
        **json.loads(row["config"]),
        "name": row["name"],
        "kind": row["kind"],
        "enabled": bool(row["enabled"]),
        "encrypted_client_secret": bytes(row["encrypted_client_secret"]) if row["encrypted_client_secret"] else None,
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
    }


def _sso_row(provider: dict[str, Any]) -> dict[str, Any]:
    columns = {"name", "kind", "enabled", "encrypted_client_secret", "created_at", "updated_at"}
    config = {k: v for k, v in provider.items() if k not in columns}
    return {**{k: provider[k] for k in columns}, "config": json.dumps(config)}


class AuthTx:
    """One transaction's worth of reads and writes."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    # -- users
    async def count_users(self) -> int:
        return int(await self._conn.scalar(select(func.count()).select_from(users)) or 0)

    async def mark_set_up(self, now: datetime) -> None:
        """Claim the one-time set-up; Conflict when another request (or an earlier one) already did.

        A conflict aborts the whole transaction (the caller's writes with it), which is what every caller wants.
        """
        try:
            await self._conn.execute(insert(setup_marker).values(id=1, at=now))
        except IntegrityError:
            raise Conflict("Flowtape is already set up; sign in instead") from None

    async def insert_user(self, user: UserRecord) -> None:
        try:
            await self._conn.execute(
                insert(users).values(
                    id=user.id,
                    email=user.email,
                    password_hash=user.password_hash,
                    role=user.role,
                    disabled=user.disabled,
                    generation=user.generation,
                    created_at=user.created_at,
                    updated_at=user.updated_at,
                )
            )
        except IntegrityError:
            raise Conflict(f"a user with the email {user.email} exists already") from None

    async def user_by_email(self, email: str) -> UserRecord | None:
        row = (await self._conn.execute(select(users).where(users.c.email == email))).mappings().first()
        return _user(row) if row else None

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        row = (await self._conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
        return _user(row) if row else None

    async def update_user(self, user_id: str, **changes: Any) -> None:
        await self._conn.execute(update(users).where(users.c.id == user_id).values(**changes))

    async def count_active_admins(self) -> int:
        query = select(func.count()).select_from(users).where(users.c.role == "admin", users.c.disabled.is_(False))
        return int(await self._conn.scalar(query) or 0)

    async def list_users(self, limit: int, cursor: str | None) -> tuple[list[UserRecord], str | None]:
        query = select(users)
        if cursor:
            at, key = _decode_cursor(cursor)
            moment = datetime.fromisoformat(at)
            query = query.where(or_(users.c.created_at > moment, and_(users.c.created_at == moment, users.c.id > key)))
        rows = (
            (await self._conn.execute(query.order_by(users.c.created_at, users.c.id).limit(limit + 1))).mappings().all()
        )
        found = [_user(r) for r in rows[:limit]]
        more = len(rows) > limit
        return found, _encode_cursor(found[-1].created_at.isoformat(), found[-1].id) if more else None

    async def generations(self) -> dict[str, int]:
        rows = await self._conn.execute(select(users.c.id, users.c.generation))
        return {row[0]: int(row[1]) for row in rows}

    # -- sessions
    async def insert_session(self, session: SessionRecord) -> None:
        await self._conn.execute(
            insert(sessions).values(
                id=session.id,
                user_id=session.user_id,
                method=session.method[:64],
                client_address=(session.client_address or None) and session.client_address[:64],
                user_agent=(session.user_agent or None) and session.user_agent[:512],
                created_at=session.created_at,
                expires_at=session.expires_at,
            )
        )

    async def session(self, session_id: str) -> SessionRecord | None:
        row = (await self._conn.execute(select(sessions).where(sessions.c.id == session_id))).mappings().first()
        return _session(row) if row else None

    async def list_sessions(
        self, user_id: str, active_at: datetime | None, limit: int, cursor: str | None
    ) -> tuple[list[SessionRecord], str | None]:
        """Newest first; with ``active_at`` only those still active then."""
        query = select(sessions).where(sessions.c.user_id == user_id)
        if active_at is not None:
            query = query.where(sessions.c.ended_at.is_(None), sessions.c.expires_at > active_at)
        if cursor:
            at, key = _decode_cursor(cursor)
            moment = datetime.fromisoformat(at)
            query = query.where(
                or_(sessions.c.created_at < moment, and_(sessions.c.created_at == moment, sessions.c.id < key))
            )
        query = query.order_by(sessions.c.created_at.desc(), sessions.c.id.desc()).limit(limit + 1)
        rows = (await self._conn.execute(query)).mappings().all()
        found = [_session(r) for r in rows[:limit]]
        more = len(rows) > limit
        return found, _encode_cursor(found[-1].created_at.isoformat(), found[-1].id) if more else None

    async def end_sessions(self, user_id: str, at: datetime, reason: str, session_id: str | None = None) -> list[str]:
        """End the user's active sessions (or just ``session_id``); the ids of those that were active."""
        active = and_(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None), sessions.c.expires_at > at)
        if session_id is not None:
            active = and_(active, sessions.c.id == session_id)
        ids = list((await self._conn.execute(select(sessions.c.id).where(active))).scalars())
        if ids:
            await self._conn.execute(
                update(sessions).where(sessions.c.id.in_(ids)).values(ended_at=at, end_reason=reason)
            )
        return ids

    async def revoked_sessions(self, now: datetime) -> list[str]:
        """Sessions that ended while their tokens are still unexpired: what gateways must refuse."""
        query = select(sessions.c.id).where(sessions.c.ended_at.is_not(None), sessions.c.expires_at > now)
        return list((await self._conn.execute(query)).scalars())

    # -- mailed tokens and verified addresses
    async def insert_mailed_token(self, token: MailedToken) -> None:
        await self._conn.execute(
            insert(mailed_tokens).values(
                token_hash=token.token_hash,
                purpose=token.purpose,
                user_id=token.user_id,
                email=token.email,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    async def last_mailed_at(self, user_id: str, purpose: str) -> datetime | None:
        query = select(func.max(mailed_tokens.c.created_at)).where(
            mailed_tokens.c.user_id == user_id, mailed_tokens.c.purpose == purpose
        )
        return utc(await self._conn.scalar(query))

    async def use_mailed_token(self, token_hash: str, purpose: str, now: datetime) -> MailedToken | None:
        """Mark the token used and return it, or None when it is unknown, used or expired. A single UPDATE, so
        two requests racing with one token cannot both win."""
        claimed = await self._conn.execute(
            update(mailed_tokens)
            .where(
                mailed_tokens.c.token_hash == token_hash,
                mailed_tokens.c.purpose == purpose,
                mailed_tokens.c.used_at.is_(None),
                mailed_tokens.c.expires_at > now,
            )
            .values(used_at=now)
        )
        if claimed.rowcount != 1:
            return None
        row = (
            (await self._conn.execute(select(mailed_tokens).where(mailed_tokens.c.token_hash == token_hash)))
            .mappings()
            .one()
        )
        return MailedToken(
            token_hash=row["token_hash"],
            purpose=row["purpose"],
            user_id=row["user_id"],
            email=row["email"],
            created_at=utc(row["created_at"]) or now,
            expires_at=utc(row["expires_at"]) or now,
            used_at=now,
        )

    async def prune_mailed_tokens(self, before: datetime) -> None:
        await self._conn.execute(delete(mailed_tokens).where(mailed_tokens.c.expires_at <= before))

    async def mark_email_verified(self, user_id: str, email: str, at: datetime) -> None:
        await self._conn.execute(delete(email_verifications).where(email_verifications.c.user_id == user_id))
        await self._conn.execute(insert(email_verifications).values(user_id=user_id, email=email, verified_at=at))

    async def verified_emails(self, user_ids: list[str]) -> dict[str, str]:
        """user id -> the address they verified (it counts only while it is still their address)."""
        if not user_ids:
            return {}
        query = select(email_verifications.c.user_id, email_verifications.c.email).where(
            email_verifications.c.user_id.in_(user_ids)
        )
        return {row[0]: row[1] for row in await self._conn.execute(query)}

    # -- invitations
    async def insert_invitation(self, invitation: InvitationRecord) -> None:
        await self._conn.execute(
            insert(invitations).values(
                id=invitation.id,
                token_hash=invitation.token_hash,
                email=invitation.email,
                role=invitation.role,
                invited_by=invitation.invited_by,
                created_at=invitation.created_at,
                expires_at=invitation.expires_at,
            )
        )
        if invitation.project_id is not None:
            await self._conn.execute(
                insert(invitation_projects).values(invitation_id=invitation.id, project_id=invitation.project_id)
            )

    async def invitation(self, invitation_id: str) -> InvitationRecord | None:
        query = _INVITATIONS_WITH_PROJECT.where(invitations.c.id == invitation_id)
        row = (await self._conn.execute(query)).mappings().first()
        return _invitation(row) if row else None

    async def update_invitation(self, invitation_id: str, **changes: Any) -> None:
        await self._conn.execute(update(invitations).where(invitations.c.id == invitation_id).values(**changes))

    async def claim_invitation(self, token_hash: str, now: datetime) -> InvitationRecord | None:
        """Mark the pending invitation of this token accepted (one UPDATE: two racing accepts cannot both win)."""
        claimed = await self._conn.execute(
            update(invitations)
            .where(
                invitations.c.token_hash == token_hash,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
                invitations.c.expires_at > now,
            )
            .values(accepted_at=now)
        )
        if claimed.rowcount != 1:
            return None
        query = _INVITATIONS_WITH_PROJECT.where(invitations.c.token_hash == token_hash)
        return _invitation((await self._conn.execute(query)).mappings().one())

    async def list_invitations(self, limit: int, cursor: str | None) -> tuple[list[InvitationRecord], str | None]:
        query = _INVITATIONS_WITH_PROJECT
        if cursor:
            at, key = _decode_cursor(cursor)
            moment = datetime.fromisoformat(at)
            query = query.where(
                or_(invitations.c.created_at < moment, and_(invitations.c.created_at == moment, invitations.c.id < key))
            )
        query = query.order_by(invitations.c.created_at.desc(), invitations.c.id.desc()).limit(limit + 1)
        rows = (await self._conn.execute(query)).mappings().all()
        found = [_invitation(r) for r in rows[:limit]]
        more = len(rows) > limit
        return found, _encode_cursor(found[-1].created_at.isoformat(), found[-1].id) if more else None

    # -- API keys
    async def insert_api_key(self, key: ApiKeyRecord) -> None:
        try:
            await self._conn.execute(
                insert(api_keys).values(
                    id=key.id,
                    key_hash=key.key_hash,
                    name=key.name,
                    role=key.role,
                    owner_id=key.owner_id,
                    created_at=key.created_at,
                    expires_at=key.expires_at,
                )
            )
        except IntegrityError:
            raise Conflict("an API key with that id exists already") from None
        if key.project_id is not None:
            await self._conn.execute(insert(api_key_projects).values(key_id=key.id, project_id=key.project_id))

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = (await self._conn.execute(_KEYS_WITH_PROJECT.where(api_keys.c.id == key_id))).mappings().first()
        return _api_key(row) if row else None

    async def update_api_key(self, key_id: str, **changes: Any) -> None:
        await self._conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(**changes))

    async def list_api_keys(
        self, limit: int, cursor: str | None, project_ids: list[str] | None = None
    ) -> tuple[list[ApiKeyRecord], str | None]:
        query = _KEYS_WITH_PROJECT
        if project_ids is not None:
            query = query.where(api_key_projects.c.project_id.in_(project_ids))
        if cursor:
            at, key = _decode_cursor(cursor)
            moment = datetime.fromisoformat(at)
            query = query.where(
                or_(api_keys.c.created_at < moment, and_(api_keys.c.created_at == moment, api_keys.c.id < key))
            )
        query = query.order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc()).limit(limit + 1)
        rows = (await self._conn.execute(query)).mappings().all()
        found = [_api_key(r) for r in rows[:limit]]
        more = len(rows) > limit
        return found, _encode_cursor(found[-1].created_at.isoformat(), found[-1].id) if more else None

    # -- key material
    async def keys(self) -> list[KeyMaterial]:
        return [_key(r) for r in (await self._conn.execute(select(keys).order_by(keys.c.created_at))).mappings()]

    async def insert_key(self, key: KeyMaterial) -> None:
        await self._conn.execute(
            insert(keys).values(
                kid=key.kid,
                use=key.use,
                algorithm=key.algorithm,
                public_jwk=json.dumps(key.public_jwk),
                encrypted_private_key=key.encrypted_private_key,
                created_at=key.created_at,
            )
        )

    async def save_key_state(self, key: KeyMaterial) -> None:
        await self._conn.execute(
            update(keys)
            .where(keys.c.kid == key.kid)
            .values(retired_at=key.retired_at, not_after=key.not_after, encrypted_private_key=key.encrypted_private_key)
        )

    async def serialise(self, what: str) -> None:
        """Hold a lock named ``what`` until this transaction ends, across auth replicas (key rotation, the
        last-admin check). A no-op on SQLite, whose writers are serial anyway."""
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"auth.{what}"})

    # -- audit
    async def append_audit(
        self,
        *,
        at: datetime,
        actor: Actor,
        action: str,
        target_type: str | None = None,
        target_id: str | None = None,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        """Append one entry; an entry whose ``message_id`` is recorded already is skipped (redelivery)."""
        dialect_insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(audit_log).values(
            message_id=message_id,
            at=at,
            actor_kind=actor.kind,
            actor_user_id=actor.user_id,
            actor_email=actor.email,
            actor_key_id=actor.key_id,
            client_address=(actor.client_address or None) and actor.client_address[:64],
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            details=json.dumps(details or {}, default=str),
        )
        await self._conn.execute(statement.on_conflict_do_nothing(index_elements=["message_id"]))

    async def list_audit(
        self, limit: int, cursor: str | None, action: str | None, actor_id: str | None
    ) -> tuple[list[AuditEntry], str | None]:
        query = select(audit_log)
        if cursor:
            (before,) = _decode_cursor(cursor)
            query = query.where(audit_log.c.id < int(before))
        if action:
            query = query.where(audit_log.c.action == action)
        if actor_id:
            query = query.where(audit_log.c.actor_user_id == actor_id)
        rows = (await self._conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit + 1))).mappings().all()
        found = [_audit(r) for r in rows[:limit]]
        return found, _encode_cursor(found[-1].id) if len(rows) > limit else None

    # -- projects and their members
    async def insert_project(self, project: ProjectRecord) -> None:
        try:
            await self._conn.execute(
                insert(projects).values(
                    id=project.id, name=project.name, created_at=project.created_at, created_by=project.created_by
                )
            )
        except IntegrityError:
            raise Conflict(f"a project named {project.name} exists already") from None

    async def project(self, project_id: str) -> ProjectRecord | None:
        row = (await self._conn.execute(select(projects).where(projects.c.id == project_id))).mappings().first()
        return _project(row) if row else None

    async def list_projects(self, member_id: str | None = None) -> list[ProjectRecord]:
        """Every project by name, or only those ``member_id`` is a member of."""
        query = select(projects).order_by(projects.c.name, projects.c.id)
        if member_id is not None:
            query = query.join(project_members, project_members.c.project_id == projects.c.id).where(
                project_members.c.user_id == member_id
            )
        return [_project(r) for r in (await self._conn.execute(query)).mappings()]

    async def put_member(self, project_id: str, user_id: str, role: Role, at: datetime) -> MemberRecord | None:
        """Make the user a member with ``role`` (a member keeps the date they joined); the membership before."""
        before = await self.member(project_id, user_id)
        # an upsert: two requests adding the same member at once both succeed
        dialect_insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(project_members).values(
            project_id=project_id, user_id=user_id, role=role, created_at=at
        )
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=["project_id", "user_id"], set_={"role": role})
        )
        return before

    async def member(self, project_id: str, user_id: str) -> MemberRecord | None:
        query = select(project_members).where(
            project_members.c.project_id == project_id, project_members.c.user_id == user_id
        )
        row = (await self._conn.execute(query)).mappings().first()
        return _member(row) if row else None

    async def remove_member(self, project_id: str, user_id: str) -> None:
        await self._conn.execute(
            delete(project_members).where(
                project_members.c.project_id == project_id, project_members.c.user_id == user_id
            )
        )

    async def members(self, project_id: str) -> list[tuple[MemberRecord, str]]:
        """A project's members with their emails, by email."""
        query = (
            select(project_members, users.c.email)
            .join(users, users.c.id == project_members.c.user_id)
            .where(project_members.c.project_id == project_id)
            .order_by(users.c.email)
        )
        return [(_member(r), r["email"]) for r in (await self._conn.execute(query)).mappings()]

    async def memberships(self, user_id: str) -> list[MemberRecord]:
        """The user's memberships, oldest first."""
        query = (
            select(project_members)
            .where(project_members.c.user_id == user_id)
            .order_by(project_members.c.created_at, project_members.c.project_id)
        )
        return [_member(r) for r in (await self._conn.execute(query)).mappings()]

    # -- single sign-on
    async def sso_providers(self) -> list[dict[str, Any]]:
        rows = (await self._conn.execute(select(sso_providers).order_by(sso_providers.c.name))).mappings().all()
        return [_sso_provider(r) for r in rows]

    async def sso_provider(self, name: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(sso_providers).where(sso_providers.c.name == name))).mappings().first()
        return _sso_provider(row) if row else None

    async def insert_sso_provider(self, row: dict[str, Any]) -> None:
        try:
            await self._conn.execute(insert(sso_providers).values(**_sso_row(row)))
        except IntegrityError:
            raise Conflict(f"a single sign-on provider named {row['name']} exists already") from None

    async def update_sso_provider(self, row: dict[str, Any]) -> None:
        values = _sso_row(row)
        await self._conn.execute(update(sso_providers).where(sso_providers.c.name == row["name"]).values(**values))

    async def delete_sso_provider(self, name: str) -> None:
        await self._conn.execute(delete(sso_providers).where(sso_providers.c.name == name))
        await self._conn.execute(delete(sso_identities).where(sso_identities.c.provider == name))

    async def insert_sso_pending(self, state_hash: str, provider: str, data: bytes, at: datetime) -> None:
        await self._conn.execute(
            insert(sso_pending).values(state_hash=state_hash, provider=provider, data=data, created_at=at)
        )

    async def take_sso_pending(self, state_hash: str) -> tuple[str, bytes, datetime] | None:
        """Remove and return a pending sign-in (provider, data, created_at); a DELETE that only one caller wins."""
        row = (
            (await self._conn.execute(select(sso_pending).where(sso_pending.c.state_hash == state_hash)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        taken = await self._conn.execute(delete(sso_pending).where(sso_pending.c.state_hash == state_hash))
        if taken.rowcount != 1:
            return None
        return row["provider"], bytes(row["data"]), utc(row["created_at"]) or datetime.now(UTC)

    async def prune_sso_pending(self, before: datetime) -> None:
        await self._conn.execute(delete(sso_pending).where(sso_pending.c.created_at <= before))

    async def sso_identity(self, provider: str, subject: str) -> str | None:
        query = select(sso_identities.c.user_id).where(
            sso_identities.c.provider == provider, sso_identities.c.subject == subject
        )
        return await self._conn.scalar(query)

    async def link_sso_identity(self, provider: str, subject: str, user_id: str, at: datetime) -> None:
        await self._conn.execute(
            insert(sso_identities).values(provider=provider, subject=subject, user_id=user_id, created_at=at)
        )

    async def setting(self, name: str, default: Any = None) -> Any:
        value = await self._conn.scalar(select(auth_settings.c.value).where(auth_settings.c.name == name))
        return default if value is None else json.loads(value)

    async def put_setting(self, name: str, value: Any) -> None:
        dialect_insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(auth_settings).values(name=name, value=json.dumps(value))
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=["name"], set_={"value": json.dumps(value)})
        )

    async def first_user_id(self) -> str | None:
        """The account made first (by set-up or the CLI): the break-glass admin when SSO is required."""
        query = select(users.c.id).order_by(users.c.created_at, users.c.id).limit(1)
        return await self._conn.scalar(query)

    # -- login throttling
    async def login_failures(self, scope: str, subject: str, since: datetime, most: int) -> list[datetime]:
        """The times of the ``most`` latest failures after ``since``, newest first."""
        query = (
            select(login_failures.c.at)
            .where(login_failures.c.scope == scope, login_failures.c.subject == subject, login_failures.c.at > since)
            .order_by(login_failures.c.at.desc())
            .limit(most)
        )
        return [utc(at) or since for at in (await self._conn.execute(query)).scalars()]

    async def is_known_address(self, account: str, address: str, since: datetime) -> bool:
        query = select(login_known_addresses.c.account).where(
            login_known_addresses.c.account == account,
            login_known_addresses.c.address == address,
            login_known_addresses.c.last_success_at > since,
        )
        return (await self._conn.execute(query)).first() is not None

    async def remember_address(self, account: str, address: str, at: datetime) -> None:
        dialect_insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(login_known_addresses).values(account=account, address=address, last_success_at=at)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=["account", "address"], set_={"last_success_at": at})
        )

    async def forget_addresses(self, before: datetime) -> None:
        await self._conn.execute(delete(login_known_addresses).where(login_known_addresses.c.last_success_at <= before))

    async def record_login_failure(self, scope: str, subject: str, at: datetime) -> None:
        await self._conn.execute(insert(login_failures).values(scope=scope, subject=subject[:320], at=at))

    async def clear_login_failures(self, scope: str, subject: str) -> None:
        await self._conn.execute(
            delete(login_failures).where(login_failures.c.scope == scope, login_failures.c.subject == subject)
        )

    async def prune_login_failures(self, before: datetime) -> None:
        await self._conn.execute(delete(login_failures).where(login_failures.c.at <= before))


async def _introduce_projects(conn: AsyncConnection, now: datetime) -> None:
    """Create the default project and move into it what existed before projects.

    It runs once, when the default project is missing (the first start with projects), so a user later removed
    from every project stays removed."""
    if await conn.scalar(select(projects.c.id).where(projects.c.id == DEFAULT_PROJECT)) is not None:
        return
    await conn.execute(insert(projects).values(id=DEFAULT_PROJECT, name="Default", created_at=now, created_by=None))
    await _move_into_default_project(conn)


async def _move_into_default_project(conn: AsyncConnection) -> None:
    """Every non-admin user in no project becomes a member of the default one with their role, and API keys of
    non-admins without a project act in it (admins' keys stay platform keys)."""
    has_membership = select(project_members.c.user_id).where(project_members.c.user_id == users.c.id).exists()
    await conn.execute(
        insert(project_members).from_select(
            ["project_id", "user_id", "role", "created_at"],
            select(literal(DEFAULT_PROJECT), users.c.id, users.c.role, users.c.created_at).where(
                users.c.role != "admin", ~has_membership
            ),
        )
    )
    has_project = select(api_key_projects.c.key_id).where(api_key_projects.c.key_id == api_keys.c.id).exists()
    await conn.execute(
        insert(api_key_projects).from_select(
            ["key_id", "project_id"],
            select(api_keys.c.id, literal(DEFAULT_PROJECT))
            .join(users, users.c.id == api_keys.c.owner_id)
            .where(users.c.role != "admin", ~has_project),
        )
    )


class AuthStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self) -> None:
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # several replicas may start at once: their CREATE SCHEMA / TABLE / TRIGGER would race
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('flowtape.auth.ddl'))"))
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
            await conn.run_sync(metadata.create_all)
            for statement in _APPEND_ONLY.get(conn.dialect.name, []):
                await conn.execute(text(statement))
            await _introduce_projects(conn, datetime.now(UTC))

    async def restored(self) -> None:
        """After a restore: the memberships of the accounts it replaced go, and when none is left the backup was
        made before projects, so its users and keys move into the default project as at an upgrade."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(project_members).where(project_members.c.user_id.not_in(select(users.c.id))))
            await conn.execute(delete(api_key_projects).where(api_key_projects.c.key_id.not_in(select(api_keys.c.id))))
            if await conn.scalar(select(project_members.c.user_id).limit(1)) is None:
                await _introduce_projects(conn, datetime.now(UTC))
                await _move_into_default_project(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AuthTx]:
        async with self._engine.begin() as conn:
            yield AuthTx(conn)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AuthTx]:
        async with self._engine.connect() as conn:
            yield AuthTx(conn)
