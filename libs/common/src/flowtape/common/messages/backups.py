"""Messages of backup and restore: the gateway asks each service, in turn, for its own data and hands it back.

Every service but the gateway owns data and answers these on its own requests queue (the ``service`` field
routes them, see :mod:`flowtape.common.topology`). Data travels as rows of the service's tables, a chunk at a
time; what is secret stays as the service stores it (credential data and secret variables encrypted, API keys
and passwords hashed), so a restore needs the same ``FLOWTAPE_SECRET_KEY``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages.base import Message

#: the file's first line says this; a restore refuses any other format, or a format version it does not know
BACKUP_FORMAT = "flowtape.backup"
BACKUP_FORMAT_VERSION = 1
DataService = Literal["auth", "connectors", "triggers", "engine"]
#: the order services are backed up and restored in
DATA_SERVICES: tuple[DataService, ...] = ("connectors", "triggers", "engine", "auth")


class ExportServiceData(Message):
    """One chunk of a service's data: up to ``limit`` rows of its ``table_index``-th table from ``offset``."""

    type_name = "ops.ExportServiceData.v1"
    kind = "query"
    service: DataService
    table_index: int = Field(default=0, ge=0)
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=200, ge=1, le=5000)


class ServiceDataChunk(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    service: str
    #: None when the service has nothing (more) to give
    table: str | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)
    #: where the next chunk starts, None after the last
    next_table_index: int | None = None
    next_offset: int = 0
    tables: int = 0


class CheckServiceEmpty(Message):
    """Whether the service holds nothing a restore would overwrite; answered with :class:`ServiceEmptiness`."""

    type_name = "ops.CheckServiceEmpty.v1"
    kind = "query"
    service: DataService


class ServiceEmptiness(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    service: str
    empty: bool
    #: what it holds, in a few words (e.g. ``"3 workflows"``)
    holds: list[str] = Field(default_factory=list)


class ImportServiceData(Message):
    """Rows of one table from a backup; ``first`` empties the table before they go in."""

    type_name = "ops.ImportServiceData.v1"
    kind = "command"
    service: DataService
    table: str
    rows: list[dict[str, Any]]
    first: bool = False


class FinishServiceRestore(Message):
    """All of the service's data is in: it makes its counters and in-memory state agree with it."""

    type_name = "ops.FinishServiceRestore.v1"
    kind = "command"
    service: DataService
