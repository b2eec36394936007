"""Stand-ins for the outside world the connectors' tests talk to, and the guard setting that lets them.

The SaaS stand-ins (SMTP, S3, Slack / Discord / Telegram, GitHub, Zoho, an OpenAI-compatible API) are shared
by the nodes' own tests and by the catalog examples' test (services/engine/tests/test_node_examples.py); each
accepts only the secret it is given, as the real service would.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import json
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from flowtape.common.credentials import parse_credential
from flowtape.common.egress import EgressPolicy
from flowtape.common.nodes.sdk import Credential
from tests.infra import free_port

if TYPE_CHECKING:
    from tests.oauth2_server import FakeAuthorizationServer

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


# ---- e-mail and object storage


class Inbox:
    """What a local SMTP server received: (envelope sender, envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def smtp_server(login: str, password: str) -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server (aiosmtpd) that requires STARTTLS (a self-signed certificate) and this login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == login.encode() and data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=self_signed(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def s3_server(access_key_id: str, secret_access_key: str, *buckets: str) -> Iterator[str]:
    """A local S3 (moto in server mode) holding only these (empty) buckets; yields its endpoint URL.

    moto keeps its state in the process, shared by every server it runs: each starts from a reset one and resets
    it when done, so one module's buckets never show in another's."""
    import boto3
    import httpx
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name="us-east-1",
    )
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    try:
        yield url
    finally:
        httpx.post(f"{url}/moto-api/reset", timeout=10)
        server.stop()


# ---- SaaS APIs


def chat_api(slack_token: str, bot_token: str) -> FakeApi:
    """Slack's Web API under ``/api``, Discord webhooks under ``/webhooks/``, Telegram's Bot API at the root."""

    def post(request: Recorded) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {slack_token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if request.body["channel"] == "#missing":
            return 200, {"ok": False, "error": "channel_not_found"}
        if request.body["channel"] == "#busy":
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}  # type: ignore[return-value]
        return 200, {"ok": True, "channel": "C123", "ts": "1700000000.000100", "message": request.body}

    def discord(request: Recorded) -> tuple[int, Any]:
        if request.query.get("wait") != "true":
            return 204, None
        return 200, {"id": "987", "channel_id": "555", "content": request.body.get("content")}

    def telegram(request: Recorded) -> tuple[int, Any]:
        if not request.path.startswith(f"/bot{bot_token}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if request.body["chat_id"] == 0:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        result = {"message_id": 11, "chat": {"id": request.body["chat_id"]}, "date": 1700000000}
        return 200, {"ok": True, "result": result}

    return FakeApi({"POST /api/chat.postMessage": post, "POST /webhooks/": discord, "POST /bot": telegram})


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GithubRepo:
    """The issues of ``acme/shop`` on a GitHub REST API stand-in (three issues and a pull request to start)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.issues: list[dict[str, Any]] = [
            {"number": n, "title": f"old {n}", "state": "open", "labels": [{"name": "bug"}], "comments": 0}
            for n in range(1, 4)
        ] + [{"number": 4, "title": "a PR", "state": "open", "pull_request": {}, "labels": []}]
        self.url = ""

    def authorized(self, request: Recorded) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def create(self, request: Recorded) -> tuple[int, Any]:
        if not self.authorized(request):
            return 401, {"message": "Bad credentials"}
        now = _now()
        issue = {"number": len(self.issues) + 1, "state": "open", "comments": 0, "body": None, **request.body}
        issue["labels"] = [{"name": name} for name in request.body.get("labels", [])]
        issue["html_url"] = f"https://github.test/acme/shop/issues/{issue['number']}"
        issue["created_at"] = issue["updated_at"] = now
        self.issues.append(issue)
        return 201, issue

    def list(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        page, size = int(request.query.get("page", 1)), int(request.query.get("per_page", 30))
        chunk = self.issues[(page - 1) * size : page * size]
        more = page * size < len(self.issues)
        link = (
            {"Link": f'<{self.url}/repos/acme/shop/issues?page={page + 1}&per_page={size}>; rel="next"'} if more else {}
        )
        return 200, chunk, link

    def comment(self, request: Recorded) -> tuple[int, Any]:
        number = int(request.path.split("/")[-2])
        if number > len(self.issues):
            return 404, {"message": "Not Found"}
        return 201, {"id": 99, "body": request.body["body"], "html_url": f"https://github.test/c/{number}"}


@contextmanager
def github_api(repo: GithubRepo) -> Iterator[FakeApi]:
    routes = {
        "POST /repos/acme/shop/issues/": repo.comment,
        "POST /repos/acme/shop/issues": repo.create,
        "GET /repos/acme/shop/issues": repo.list,
    }
    with FakeApi(routes) as api:  # type: ignore[arg-type]
        repo.url = api.url
        yield api


def openai_api(key: str) -> FakeApi:
    """An OpenAI-compatible API under ``/v1``: a chat completion answers "summary of: <the user message>" (in
    JSON mode ``{"sentiment": "positive", "echo": ...}``); an embedding is ``[len(text), 0.5]``."""

    def completions(request: Recorded) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {key}":
            return 401, {"error": {"message": "Incorrect API key provided"}}
        json_mode = (request.body.get("response_format") or {}).get("type") == "json_object"
        user = request.body["messages"][-1]["content"]
        content = json.dumps({"sentiment": "positive", "echo": user}) if json_mode else f"summary of: {user}"
        return 200, {
            "model": request.body["model"] + "-2026",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        }

    def embeddings(request: Recorded) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {key}":
            return 401, {"error": {"message": "Incorrect API key provided"}}
        texts = request.body["input"] if isinstance(request.body["input"], list) else [request.body["input"]]
        data = [{"index": i, "embedding": [float(len(t)), 0.5]} for i, t in reversed(list(enumerate(texts)))]
        return 200, {"model": request.body["model"], "data": data, "usage": {"prompt_tokens": 4, "total_tokens": 4}}

    return FakeApi({"POST /v1/chat/completions": completions, "POST /v1/embeddings": embeddings})


@dataclass
class Zoho:
    """Zoho CRM (``/crm/v6/<module>``) and Desk (``/api/v1/tickets``, organisation ``org_id``), accepting only
    access tokens the local authorization server issued and still honours."""

    provider: FakeAuthorizationServer
    org_id: str = "777"
    leads: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"1001": {"id": "1001", "Last_Name": "Lovelace", "Email": "ada@x.io"}}
    )
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ok(self, request: Recorded) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Zoho-oauthtoken ")
        issued = self.provider.tokens.get(token)
        return issued is not None and issued.expires_at > time.time()

    def crm(self, request: Recorded) -> tuple[int, Any]:
        if not self.ok(request):
            return 401, {"code": "INVALID_TOKEN", "message": "invalid oauth token"}
        parts = request.path.split("/")[3:]  # /crm/v6/<module>[/<id>|/search]
        if request.method == "GET" and parts[-1] == "search":
            email = request.query.get("email")
            found = [lead for lead in self.leads.values() if lead["Email"] == email]
            return (200, {"data": found, "info": {"count": len(found)}}) if found else (204, None)
        if request.method == "GET":
            lead = self.leads.get(parts[1])
            return (200, {"data": [lead]}) if lead else (404, {"code": "INVALID_URL_PATTERN"})
        record = request.body["data"][0]
        if "Last_Name" not in record and request.method == "POST":
            return 400, {
                "data": [
                    {
                        "code": "MANDATORY_NOT_FOUND",
                        "details": {"api_name": "Last_Name"},
                        "message": "required field not found",
                        "status": "error",
                    }
                ]
            }
        record_id = parts[1] if request.method == "PUT" else str(1001 + len(self.leads))
        self.leads.setdefault(record_id, {"id": record_id}).update(record)
        return 200 if request.method == "PUT" else 201, {
            "data": [{"code": "SUCCESS", "details": {"id": record_id}, "message": "record added", "status": "success"}]
        }

    def desk(self, request: Recorded) -> tuple[int, Any]:
        if not self.ok(request) or request.headers.get("orgid") != self.org_id:
            return 401, {"errorCode": "INVALID_OAUTH"}
        parts = request.path.split("/")[3:]  # /api/v1/tickets[/<id>|/search]
        if request.method == "POST":
            number = str(100 + len(self.tickets))
            ticket = {
                "id": str(500 + len(self.tickets)),
                "ticketNumber": number,
                "status": "Open",
                "createdTime": _now(),
                "webUrl": f"https://desk.zoho.test/support/tickets/{number}",
                **request.body,
            }
            self.tickets[ticket["id"]] = ticket
            return 200, ticket
        if parts[-1] == "search":
            found = [t for t in self.tickets.values() if t.get("email") == request.query.get("email")]
            return (200, {"data": found, "count": len(found)}) if found else (204, None)
        ticket = self.tickets[parts[1]]
        if request.method == "PATCH":
            ticket.update(request.body)
        return 200, ticket


def zoho_api(zoho: Zoho) -> FakeApi:
    return FakeApi(
        {
            "GET /crm/": zoho.crm,
            "POST /crm/": zoho.crm,
            "PUT /crm/": zoho.crm,
            "GET /api/v1/": zoho.desk,
            "POST /api/v1/": zoho.desk,
            "PATCH /api/v1/": zoho.desk,
        }
    )
