"""Variables (``vars.NAME`` in expressions): ``connectors.variables``, one row per (scope, name).

The connectors own them because a secret variable is a small credential: its value is encrypted at rest with
the vault's data key (``FLOWTAPE_SECRET_KEY``, the scope and name as associated data), arrives sealed like
credential data, and is filled into a node's expressions only here, where credentials are resolved, and taken
out of the node's output again by the task's redactor. Plain values are stored as they are.

Variables belong to a project or to one of its workflows (:mod:`flowtape.connectors.domain.variable_scopes`); a
workflow's row keeps the workflow's project beside it, for the view. A run sees its project's variables
overridden by its workflow's own, never another project's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Insert,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import as_utc, creating, ensure_schema
from flowtape.common.errors import InvalidInput, NotFound, Unavailable
from flowtape.common.messages import variables as msg
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.schema_changes import has_column, qualified
from flowtape.connectors.completed import SCHEMA
from flowtape.connectors.domain.variable_scopes import (
    PLATFORM,
    associated_data,
    project_scope,
    scope_of,
    workflow_of,
)
from flowtape.connectors.keys import DataCipher, SealingKey

metadata = MetaData(schema=SCHEMA)

variables = Table(
    "variables",
    metadata,
    Column("scope", String(80), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("project_id", String(64), nullable=False, server_default=DEFAULT_PROJECT),
    Column("secret", Boolean, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class StoredVariable:
    scope: str
    name: str
    secret: bool
    #: UTF-8 text for a plain variable, ciphertext for a secret one
    value: bytes
    updated_at: datetime
    project_id: str = DEFAULT_PROJECT


def _row(row: object) -> StoredVariable:
    mapping = row._mapping  # type: ignore[attr-defined]
    return StoredVariable(
        scope=mapping["scope"],
        name=mapping["name"],
        secret=bool(mapping["secret"]),
        value=bytes(mapping["value"]),
        updated_at=as_utc(mapping["updated_at"]),
        project_id=mapping["project_id"],
    )


def _insert(variable: StoredVariable) -> Insert:
    return variables.insert().values(
        scope=variable.scope,
        name=variable.name,
        project_id=variable.project_id,
        secret=variable.secret,
        value=variable.value,
        updated_at=variable.updated_at,
    )


class VariableStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with creating(self._engine, "connectors.variables"), self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            if not await has_column(conn, variables, "project_id"):
                # a table made before projects: every row is the default project's (SQLite's lengths are loose)
                table = qualified(conn, variables)
                await conn.execute(
                    text(f"ALTER TABLE {table} ADD COLUMN project_id VARCHAR(64) NOT NULL DEFAULT '{DEFAULT_PROJECT}'")
                )
                if conn.dialect.name == "postgresql":
                    await conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN scope TYPE VARCHAR(80)"))

    async def put(self, variable: StoredVariable) -> None:
        key = and_(variables.c.scope == variable.scope, variables.c.name == variable.name)
        async with self._engine.begin() as conn:
            await conn.execute(delete(variables).where(key))
            await conn.execute(_insert(variable))

    async def remove(self, scope: str, name: str) -> StoredVariable | None:
        key = and_(variables.c.scope == scope, variables.c.name == name)
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(variables).where(key))).first()
            if row is not None:
                await conn.execute(delete(variables).where(key))
        return _row(row) if row is not None else None

    async def rescope(self, moved: Iterable[tuple[StoredVariable, StoredVariable]]) -> None:
        """Replace each (old, new) pair's old row by its new one, all at once."""
        async with self._engine.begin() as conn:
            for old, new in moved:
                for row in (old, new):
                    key = and_(variables.c.scope == row.scope, variables.c.name == row.name)
                    await conn.execute(delete(variables).where(key))
                await conn.execute(_insert(new))

    async def in_scopes(self, *scopes: str) -> list[StoredVariable]:
        query = select(variables).where(variables.c.scope.in_(scopes)).order_by(variables.c.name)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_row(row) for row in rows]


def _now() -> datetime:
    return datetime.now(UTC)


def _view(stored: StoredVariable) -> msg.VariableView:
    return msg.VariableView(
        name=stored.name,
        workflow_id=workflow_of(stored.scope),
        project_id=stored.project_id,
        secret=stored.secret,
        value=None if stored.secret else stored.value.decode(),
        updated_at=stored.updated_at,
    )


class Variables:
    def __init__(self, store: VariableStore, secret_key: str, clock: Callable[[], datetime] = _now) -> None:
        self._store = store
        self._cipher = DataCipher(secret_key)
        self._sealing = SealingKey(secret_key)
        self._clock = clock

    async def set(self, command: msg.SetVariable) -> msg.VariableView:
        scope = scope_of(command.workflow_id, command.project_id)
        if command.secret:
            if command.sealed_value is None:
                raise InvalidInput("a secret variable's value must arrive sealed to the connectors' key")
            opened = self._sealing.open(command.sealed_value).get("value")
            if not isinstance(opened, str):
                raise InvalidInput("the sealed value of a secret variable must be a string")
            value = self._cipher.encrypt({"value": opened}, associated_data(scope, command.name))
        else:
            if command.value is None:
                raise InvalidInput(f"variable {command.name!r} needs a value")
            value = command.value.encode()
        stored = StoredVariable(scope, command.name, command.secret, value, self._clock(), command.project_id)
        await self._store.put(stored)
        return _view(stored)

    async def unset(self, command: msg.UnsetVariable) -> msg.VariableView:
        removed = await self._store.remove(scope_of(command.workflow_id, command.project_id), command.name)
        if removed is None:
            where = f"workflow {command.workflow_id}" if command.workflow_id else f"project {command.project_id}"
            raise NotFound(f"{where} has no variable {command.name!r}")
        return _view(removed)

    async def list(self, workflow_id: str | None, project_id: str) -> msg.VariableList:
        found = await self._store.in_scopes(scope_of(workflow_id, project_id))
        return msg.VariableList(items=[_view(stored) for stored in found])

    async def _effective(self, workflow_id: str, project_id: str) -> dict[str, StoredVariable]:
        """The project's variables, overridden by the workflow's own of the same name."""
        found = await self._store.in_scopes(project_scope(project_id), workflow_id)
        return {stored.name: stored for stored in sorted(found, key=lambda stored: stored.scope == workflow_id)}

    async def resolve(self, workflow_id: str, project_id: str) -> msg.ResolvedVariables:
        effective = await self._effective(workflow_id, project_id)
        return msg.ResolvedVariables(
            plain={name: stored.value.decode() for name, stored in effective.items() if not stored.secret},
            secret=[name for name, stored in effective.items() if stored.secret],
        )

    async def secret_values(self, workflow_id: str, project_id: str, names: list[str]) -> dict[str, str]:
        """The current values of a task's secret variables; one deleted since the run started reads as empty."""
        try:
            effective = await self._effective(workflow_id, project_id)
        except Exception as exc:
            raise Unavailable(f"the variables store is unavailable ({type(exc).__name__}); try again") from None
        values: dict[str, str] = {}
        for name in names:
            stored = effective.get(name)
            if stored is not None and stored.secret:
                values[name] = str(self._cipher.decrypt(stored.value, associated_data(stored.scope, name))["value"])
        return values

    async def move_platform_variables(self) -> int:
        """Move the variables made before projects (the platform's) into the default project; how many moved.

        A secret one is encrypted again, since its scope is part of its ciphertext's associated data."""
        moved: list[tuple[StoredVariable, StoredVariable]] = []
        scope = project_scope(DEFAULT_PROJECT)
        for old in await self._store.in_scopes(PLATFORM):
            value = old.value
            if old.secret:
                opened = self._cipher.decrypt(old.value, associated_data(PLATFORM, old.name))
                value = self._cipher.encrypt(opened, associated_data(scope, old.name))
            moved.append((old, StoredVariable(scope, old.name, old.secret, value, old.updated_at, DEFAULT_PROJECT)))
        if moved:
            await self._store.rescope(moved)
        return len(moved)
