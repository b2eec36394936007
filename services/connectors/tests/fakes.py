"""Stand-ins for the outside world the connectors' tests talk to, and the guard setting that lets them."""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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


# ---- local stand-ins for third-party APIs


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


Route = Callable[[Recorded], tuple[int, Any] | tuple[int, Any, dict[str, str]]]


class FakeApi:
    """A local HTTP server standing in for a SaaS API: ``routes`` map ``"METHOD /path-prefix"`` to a function of
    the request returning (status, JSON body[, headers]); every request is recorded."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.requests: list[Recorded] = []
        self.routes = routes
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                request = Recorded(
                    self.command,
                    url.path,
                    dict(parse_qsl(url.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                api.requests.append(request)
                route = next(
                    (fn for key, fn in api.routes.items() if f"{self.command} {url.path}".startswith(key)), None
                )
                status, payload, headers = 404, {"error": "no such route"}, {}
                if route is not None:
                    answer = route(request)
                    status, payload = answer[0], answer[1]
                    headers = answer[2] if len(answer) > 2 else {}  # type: ignore[misc]
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sent(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path)]


def self_signed(host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate (for STARTTLS on a local SMTP server)."""
    import datetime as dt
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = f"{folder}/cert.pem", f"{folder}/key.pem"
        with open(cert_path, "wb") as out:
            out.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
    return context
