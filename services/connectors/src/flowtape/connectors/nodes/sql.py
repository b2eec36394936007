"""What the SQL nodes (``postgres``, ``mysql``, ``sqlite``) share: parameters, statements, and row values.

A value never becomes SQL text. ``query`` is not rendered as an expression (it is a raw parameter), so
``{{ item.name }}`` inside it stays literally there; values travel only as bound ``parameters``. For insert,
upsert and update, table and column names are identifiers checked against a strict pattern and quoted, and
every value is bound. So an item holding ``'); DROP TABLE users; --`` is stored as exactly that text.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeParams

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
Operation = Literal["query", "insert", "upsert", "update"]


def _identifier(value: str, pattern: re.Pattern[str] = _IDENTIFIER) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain table or column name (letters, digits, _ and $)")
    return value


class SqlParams(NodeParams):
    """``query`` with bound ``parameters``; or ``table`` (+ ``columns``, ``key_columns``) for writing items."""

    operation: Operation = Field(
        default="query",
        description="query: run the SQL; insert / upsert / update: write each item (or 'values') into 'table'",
    )
    query: str | None = Field(
        default=None,
        description="SQL with placeholders for the parameters; never rendered as an expression (values go in "
        "'parameters', so they cannot become SQL)",
    )
    parameters: list[Any] = Field(default_factory=list, description="bound values, e.g. ['{{ item.id }}']")
    table: str | None = Field(default=None, description="insert / upsert / update: the table (schema.table allowed)")
    columns: list[str] | None = Field(
        default=None, description="the item fields to write; all of the item's fields when not given"
    )
    key_columns: list[str] = Field(
        default_factory=list, description="upsert: the unique key to resolve conflicts on; update: the WHERE columns"
    )
    values: dict[str, Any] | None = Field(
        default=None, description="what to write instead of the item itself (expressions per column)"
    )

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        return _identifier(value) if value is not None else None

    @field_validator("columns", "key_columns")
    @classmethod
    def _columns(cls, value: list[str] | None) -> list[str] | None:
        for column in value or []:
            _identifier(column, _COLUMN)
        return value

    @model_validator(mode="after")
    def _complete(self) -> SqlParams:
        if self.operation == "query":
            if not self.query or not self.query.strip():
                raise ValueError("the query operation needs 'query'")
        elif self.table is None:
            raise ValueError(f"the {self.operation} operation needs 'table'")
        if self.operation in ("upsert", "update") and not self.key_columns:
            raise ValueError(f"the {self.operation} operation needs 'key_columns'")
        return self


SQL_RAW_PARAMS = ("query", "table", "columns", "key_columns")


@dataclass(frozen=True)
class Dialect:
    name: str
    quote_char: str
    placeholder: Callable[[int], str]
    returning: bool

    def quote(self, identifier: str) -> str:
        q = self.quote_char
        return ".".join(f"{q}{part}{q}" for part in identifier.split("."))


POSTGRES = Dialect("PostgreSQL", '"', lambda n: f"${n}", returning=True)
MYSQL = Dialect("MySQL", "`", lambda n: "%s", returning=False)
SQLITE = Dialect("SQLite", '"', lambda n: "?", returning=True)


def row_of(params: SqlParams, item: Item) -> dict[str, Any]:
    source = params.values if params.values is not None else item
    if params.columns is not None:
        missing = [column for column in params.columns if column not in source]
        if missing:
            raise NodeError(f"the item has no field {missing[0]!r} (one of 'columns')")
        return {column: source[column] for column in params.columns}
    row = dict(source)
    for column in row:
        if not _COLUMN.fullmatch(column):
            raise NodeError(
                f"the item's field {column[:80]!r} is not a plain column name; name the columns to write in 'columns'"
            )
    if not row:
        raise NodeError("the item has no fields to write")
    return row


def write_statement(dialect: Dialect, params: SqlParams, row: dict[str, Any]) -> tuple[str, list[Any]]:
    """The INSERT / upsert / UPDATE for one row, with every value bound."""
    assert params.table is not None
    table = dialect.quote(params.table)
    columns = list(row)
    values = [row[column] for column in columns]
    returning = " RETURNING *" if dialect.returning else ""
    if params.operation == "update":
        for key in params.key_columns:
            if key not in row:
                raise NodeError(f"the item has no field {key!r} (one of 'key_columns')")
        changed = [column for column in columns if column not in params.key_columns]
        if not changed:
            raise NodeError("nothing to update: the item holds only the key columns")
        assignments = ", ".join(f"{dialect.quote(c)} = {dialect.placeholder(i + 1)}" for i, c in enumerate(changed))
        where = " AND ".join(
            f"{dialect.quote(k)} = {dialect.placeholder(len(changed) + i + 1)}"
            for i, k in enumerate(params.key_columns)
        )
        bound = [row[c] for c in changed] + [row[k] for k in params.key_columns]
        return f"UPDATE {table} SET {assignments} WHERE {where}{returning}", bound
    names = ", ".join(dialect.quote(column) for column in columns)
    holes = ", ".join(dialect.placeholder(i + 1) for i in range(len(columns)))
    statement = f"INSERT INTO {table} ({names}) VALUES ({holes})"
    if params.operation == "upsert":
        others = [column for column in columns if column not in params.key_columns] or columns[:1]
        if dialect is MYSQL:
            updates = ", ".join(f"{dialect.quote(c)} = VALUES({dialect.quote(c)})" for c in others)
            statement += f" ON DUPLICATE KEY UPDATE {updates}"
        else:
            keys = ", ".join(dialect.quote(k) for k in params.key_columns)
            updates = ", ".join(f"{dialect.quote(c)} = excluded.{dialect.quote(c)}" for c in others)
            statement += f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    return statement + returning, values


def json_value(value: Any) -> Any:
    """A column value as JSON: numbers stay numbers where that loses nothing, times are ISO 8601."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        as_float = float(value)
        return as_float if decimal.Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_value(v) for v in value]
    return str(value)


def rows_as_items(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Item]:
    return [{column: json_value(value) for column, value in zip(columns, row, strict=False)} for row in rows]


def bound_for_text_drivers(values: Sequence[Any]) -> list[Any]:
    """Objects and lists as JSON text, for drivers that do not encode them (MySQL, SQLite)."""
    return [json.dumps(v) if isinstance(v, dict | list) else v for v in values]


def query_failed(dialect: Dialect, exc: BaseException) -> NodeError:
    return NodeError(f"{dialect.name} refused the statement: {type(exc).__name__}: {exc}")
