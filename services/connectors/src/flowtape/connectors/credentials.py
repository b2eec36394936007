"""Stored credentials: ``connectors.credentials``, one row per credential, its data encrypted (see :mod:`keys`).

The store neither encrypts nor decrypts: it keeps the ciphertext it is given. Names are unique (a node may
refer to a credential by name); a clash on insert or rename is a :class:`Conflict`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, Uuid, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import as_utc, ensure_schema
from flowtape.common.errors import Conflict, NotFound
from flowtape.connectors.completed import SCHEMA

metadata = MetaData(schema=SCHEMA)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class StoredCredential:
    id: uuid.UUID
    name: str
    type: str
    data: bytes
    created_at: datetime
    updated_at: datetime


def _row(row: object) -> StoredCredential:
    mapping = row._mapping  # type: ignore[attr-defined]
    return StoredCredential(
        id=mapping["id"],
        name=mapping["name"],
        type=mapping["type"],
        data=bytes(mapping["data"]),
        created_at=as_utc(mapping["created_at"]),
        updated_at=as_utc(mapping["updated_at"]),
    )


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a credential named {name!r} already exists", details={"name": name})


class CredentialStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def add(self, credential: StoredCredential) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    credentials.insert().values(
                        id=credential.id,
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

    async def get(self, credential_id: uuid.UUID) -> StoredCredential | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(credentials).where(credentials.c.id == credential_id))).first()
        return _row(row) if row is not None else None

    async def named(self, name: str) -> StoredCredential | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(credentials).where(credentials.c.name == name))).first()
        return _row(row) if row is not None else None

    async def page(self, limit: int, after: str | None) -> list[StoredCredential]:
        """Up to ``limit`` credentials by name, from the first one after ``after``."""
        query = select(credentials).order_by(credentials.c.name).limit(limit)
        if after is not None:
            query = query.where(credentials.c.name > after)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_row(row) for row in rows]

    async def oldest(self) -> StoredCredential | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(credentials).order_by(credentials.c.created_at).limit(1))).first()
        return _row(row) if row is not None else None
