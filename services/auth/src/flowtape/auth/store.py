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

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = (await self._conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().first()
        return _api_key(row) if row else None

    async def update_api_key(self, key_id: str, **changes: Any) -> None:
        await self._conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(**changes))

    async def list_api_keys(self, limit: int, cursor: str | None) -> tuple[list[ApiKeyRecord], str | None]:
        query = select(api_keys)
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

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AuthTx]:
        async with self._engine.begin() as conn:
            yield AuthTx(conn)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AuthTx]:
        async with self._engine.connect() as conn:
            yield AuthTx(conn)
