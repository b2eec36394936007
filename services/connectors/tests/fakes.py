"""Stand-ins for the outside world the connectors' tests talk to, and the guard setting that lets them."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flowtape.common.credentials import parse_credential
from flowtape.common.egress import EgressPolicy
from flowtape.common.nodes.sdk import Credential

#: the test servers' own address, allowed through the SSRF guard as an operator would allow an internal API
LOCAL_SERVERS = EgressPolicy.parse("127.0.0.1")


# ---- real servers on this machine (an unreachable one fails the test, never skips it)

MARIADB_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@contextmanager
def mariadb_database(prefix: str = "flowtape_test") -> Iterator[dict[str, Any]]:
    """A fresh MariaDB database and a user with a password of its own: the data of a ``mysql`` credential."""
    import pymysql

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    password = f"pw-{secrets.token_urlsafe(12)}"
    try:
        admin = pymysql.connect(**MARIADB_ADMIN, autocommit=True)  # type: ignore[arg-type]
    except pymysql.err.OperationalError as exc:
        raise RuntimeError(
            f"cannot reach MariaDB at 127.0.0.1:3306 ({exc}); start it with scripts/services.sh"
        ) from exc
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (password,))
        cursor.execute(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'")
    try:
        yield {
            "host": "127.0.0.1",
            "port": 3306,
            "database": name,
            "username": name,
            "password": password,
            "tls": "disable",
        }
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        admin.close()


def credential(name: str, type_name: str, data: dict[str, Any]) -> Credential:
    """A credential as the vault hands it to a node task."""
    return Credential(id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)), name=name, data=parse_credential(type_name, data))


class Credentials:
    """A per-task credential resolver over a fixed set, remembering secrets for redaction like the vault's."""

    def __init__(self, *known: Credential) -> None:
        self._known = {c.name: c for c in known} | {c.id: c for c in known}

    async def __call__(self, ref: str) -> Credential:
        from flowtape.common.errors import NodeError

        if ref not in self._known:
            raise NodeError(f"there is no credential {ref!r}")
        return self._known[ref]
