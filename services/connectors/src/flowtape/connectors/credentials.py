"""Stored credentials: ``connectors.credentials``, one row per credential, its data encrypted (see :mod:`keys`).

The store neither encrypts nor decrypts: it keeps the ciphertext it is given. Every credential belongs to a
project, for good; names are unique within a project (a node may refer to a credential by name), and a clash on
insert or rename is a :class:`Conflict`. Lookups for running code take the project, so another project's
credential is not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    and_,
    delete,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.common.db import as_utc, creating, ensure_schema
from flowtape.common.errors import Conflict, NotFound
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.schema_changes import has_column, qualified
from flowtape.connectors.completed import SCHEMA

metadata = MetaData(schema=SCHEMA)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Uuid, primary_key=True),
    #: the server default moves rows written before projects (and restored from such backups) into the default
    Column("project_id", String(64), nullable=False, server_default=DEFAULT_PROJECT),
    Column("name", String(200), nullable=False),
    Column("type", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "name", name="credentials_project_name_key"),
)


@dataclass(frozen=True)
class StoredCredential:
    id: uuid.UUID
    name: str
    type: str
    data: bytes
    created_at: datetime
    updated_at: datetime
    project_id: str = DEFAULT_PROJECT


def _row(row: object) -> StoredCredential:
    mapping = row._mapping  # type: ignore[attr-defined]
    return StoredCredential(
        id=mapping["id"],
        name=mapping["name"],
        type=mapping["type"],
        data=bytes(mapping["data"]),
        created_at=as_utc(mapping["created_at"]),
        updated_at=as_utc(mapping["updated_at"]),
        project_id=mapping["project_id"],
    )


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a credential named {name!r} already exists in its project", details={"name": name})


def cursor_of(credential: StoredCredential) -> str:
    """Pages go by name, then project (names repeat across projects); a project id holds no ``:``."""
    return f"{credential.project_id}:{credential.name}"


async def _add_projects(conn: AsyncConnection) -> None:
    """Move a table made before projects into the default project, its names unique per project from now on."""
    table = qualified(conn, credentials)
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text(f"ALTER TABLE {table} ADD COLUMN project_id VARCHAR(64) NOT NULL DEFAULT '{DEFAULT_PROJECT}'")
        )
        await conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS credentials_name_key"))
        await conn.execute(
            text(f"ALTER TABLE {table} ADD CONSTRAINT credentials_project_name_key UNIQUE (project_id, name)")
        )
        return
    # SQLite cannot drop the old table's UNIQUE (name): rebuild the table with the new shape
    await conn.execute(text("ALTER TABLE credentials RENAME TO credentials_before_projects"))
    await conn.run_sync(credentials.create)
    await conn.execute(
        text(
            "INSERT INTO credentials (id, project_id, name, type, data, created_at, updated_at) "
            f"SELECT id, '{DEFAULT_PROJECT}', name, type, data, created_at, updated_at FROM credentials_before_projects"
        )
    )
    await conn.execute(text("DROP TABLE credentials_before_projects"))


class CredentialStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with creating(self._engine, "connectors.credentials"), self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            if not await has_column(conn, credentials, "project_id"):
                await _add_projects(conn)

    async def add(self, credential: StoredCredential) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    credentials.insert().values(
                        id=credential.id,
                        project_id=credential.project_id,
                        name=credential.name,
                        type=credential.type,
                        data=credential.data,
                        created_at=credential.created_at,
                        updated_at=credential.updated_at,
                    )
                )
        except IntegrityError:
            raise _name_taken(credential.name) from None

    async def replace(self, credential: StoredCredential) -> None:
        """Write ``credential``'s name, data and ``updated_at`` over the row with its id."""
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(credentials)
                    .where(credentials.c.id == credential.id)
                    .values(name=credential.name, data=credential.data, updated_at=credential.updated_at)
                )
        except IntegrityError:
            raise _name_taken(credential.name) from None
        if not result.rowcount:
            raise NotFound(f"no credential {credential.id}")

    async def remove(self, credential_id: uuid.UUID) -> StoredCredential:
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(credentials).where(credentials.c.id == credential_id))).first()
            if row is None:
                raise NotFound(f"no credential {credential_id}")
            await conn.execute(delete(credentials).where(credentials.c.id == credential_id))
        return _row(row)

    async def get(self, credential_id: uuid.UUID, project_id: str | None = None) -> StoredCredential | None:
        """The credential with this id; with ``project_id``, only if it belongs to that project."""
        query = select(credentials).where(credentials.c.id == credential_id)
        if project_id is not None:
            query = query.where(credentials.c.project_id == project_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _row(row) if row is not None else None

    async def named(self, name: str, project_id: str) -> StoredCredential | None:
        key = and_(credentials.c.project_id == project_id, credentials.c.name == name)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(credentials).where(key))).first()
        return _row(row) if row is not None else None

    async def page(self, limit: int, after: str | None, project_ids: list[str] | None = None) -> list[StoredCredential]:
        """Up to ``limit`` credentials by name, from the first one after the cursor ``after``
        (:func:`cursor_of`); only ``project_ids``' (None: every project's)."""
        query = select(credentials).order_by(credentials.c.name, credentials.c.project_id).limit(limit)
        if project_ids is not None:
            query = query.where(credentials.c.project_id.in_(project_ids))
        if after is not None:
            project, _, name = after.partition(":")
            query = query.where(
                or_(credentials.c.name > name, and_(credentials.c.name == name, credentials.c.project_id > project))
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_row(row) for row in rows]

    async def oldest(self) -> StoredCredential | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(credentials).order_by(credentials.c.created_at).limit(1))).first()
        return _row(row) if row is not None else None
