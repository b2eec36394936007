"""Real infrastructure for the end-to-end tests: a fresh RabbitMQ vhost and PostgreSQL database per run,
the services as separate OS processes, and a local HTTP server standing in for third-party APIs.

Nothing here skips: when RabbitMQ or PostgreSQL cannot be reached the tests fail and say how to start them.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
FLOWTAPE = str(ROOT / ".venv" / "bin" / "flowtape")
ADMIN_DATABASE_URL = os.environ.get("FLOWTAPE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE_URL = os.environ.get("FLOWTAPE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SERVICES = ("engine", "connectors", "gateway", "auth", "triggers")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(
            f"rabbitmqctl {' '.join(args)} failed ({result.stderr.strip()}): is RabbitMQ running? "
            "start it with `rabbitmq-server -detached`"
        )


@contextmanager
def rabbitmq_vhost(prefix: str = "flowtape-test") -> Iterator[str]:
    """A private virtual host: two platforms on one broker must not see each other."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield AMQP_BASE_URL.rstrip("/") + "/" + name
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True, timeout=60)


@contextmanager
def broker_outage(amqp_url: str) -> Iterator[None]:
    """RabbitMQ gone for one virtual host only, as clients see a broker restart: its connections are closed and
    no new one is let in until the block ends. The machine's broker (and every other platform) is left alone."""
    vhost = amqp_url.rsplit("/", 1)[1]
    _rabbitmqctl("set_vhost_limits", "-p", vhost, '{"max-connections": 0}')
    try:
        _rabbitmqctl("close_all_connections", "-p", vhost, "a test's broker outage")
        yield
    finally:
        _rabbitmqctl("clear_vhost_limits", "-p", vhost)


@contextmanager
def postgres_database(prefix: str = "flowtape_test") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(ADMIN_DATABASE_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"cannot reach PostgreSQL at {ADMIN_DATABASE_URL} ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_DATABASE_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_connections(database_url: str) -> int:
    """Terminate every other connection to ``database_url``'s database (as a restart or a failover would), so a
    test can see what a pooled connection the server closed costs; returns how many were dropped."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def wait_ready(url: str, timeout: float = 180.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until ``url`` answers /readyz; generous, because several platforms may start at once on a shared machine."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:g} s: {last}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Platform:
    """The five services, each its own OS process, on one vhost and one database."""

    amqp_url: str
    database_url: str
    workdir: Path
    processes: dict[str, Process] = field(default_factory=dict)
    #: the platform's own FLOWTAPE_SECRET_KEY (it encrypts auth's private keys): never in a log either
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: the first admin, set up once the platform is ready (see :func:`set_up_admin`)
    admin: Account | None = None
    #: more environment for every service (``OTEL_*`` for the tracing tests)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, service: str, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}
        env.update(
            FLOWTAPE_AMQP_URL=self.amqp_url,
            FLOWTAPE_DATABASE_URL=self.database_url,
            FLOWTAPE_PORT=str(port),
            FLOWTAPE_DATA_DIR=str(self.workdir / "data"),
            FLOWTAPE_ENVIRONMENT="test",
            FLOWTAPE_SECRET_KEY=self.secret_key,
            # the tests' own stand-ins for third-party APIs listen here; the SSRF guard refuses it otherwise
            FLOWTAPE_EGRESS_ALLOW="127.0.0.1",
            # every test client calls from 127.0.0.1, most as the one admin: the defaults (300/minute per address,
            # 1200/minute per caller) would refuse a busy suite; tests/test_abuse_limits.py sets its own
            FLOWTAPE_RATE_LIMIT_API="1000000/minute",
            FLOWTAPE_RATE_LIMIT_ANONYMOUS="1000000/minute",
            FLOWTAPE_RATE_LIMIT_WEBHOOK="1000000/minute",
        )
        env.update(self.extra_env)
        return env

    def start(
        self,
        service: str,
        port: int | None = None,
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Process:
        """Start ``service``; a ``name`` other than the service's runs another replica beside it; ``env`` adds to
        (or overrides) the platform's settings for this process."""
        name = name or service
        port = port or (self.processes[name].port if name in self.processes else free_port())
        log = self.workdir / f"{name}.log"
        handle = log.open("ab")
        popen = subprocess.Popen(
            [FLOWTAPE, "serve", service],
            env={**self.env(service, port), **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        process = Process(name, popen, log, port)
        self.processes[name] = process
        return process

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)
        for process in self.processes.values():
            wait_ready(process.url, process=process.popen)

    def stop(self, service: str, *, kill: bool = False) -> None:
        process = self.processes[service]
        if kill:
            process.popen.kill()
        else:
            process.popen.terminate()
        try:
            process.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def stop_all(self) -> None:
        for service in list(self.processes):
            self.stop(service)

    @property
    def gateway(self) -> str:
        return self.processes["gateway"].url

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log.read_text()[-4000:]}" for p in self.processes.values())


@contextmanager
def running_platform(
    workdir: Path, vhost_prefix: str, database_prefix: str, env: dict[str, str] | None = None
) -> Iterator[Platform]:
    """Five service processes on a private vhost and database, with their first admin; stopped afterwards
    (their logs are printed when start-up fails)."""
    with rabbitmq_vhost(vhost_prefix) as amqp_url, postgres_database(database_prefix) as database_url:
        platform = Platform(amqp_url=amqp_url, database_url=database_url, workdir=workdir, extra_env=dict(env or {}))
        try:
            platform.start_all()
            platform.admin = set_up_admin(platform.gateway)
            yield platform
        except Exception:
            print(platform.logs())
            raise
        finally:
            platform.stop_all()


class FakeApi:
    """A local HTTP server standing in for a third-party API; it counts what it is sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.counts: Counter[str] = Counter()
        self.flaky_calls: Counter[str] = Counter()
        self.effects: Counter[str] = Counter()
        #: ``/concurrent/<key>?n=&seconds=``: calls answered slowly, counted while in flight, and the order they came
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.arrivals: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                with api.lock:
                    api.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.monotonic(),
                        }
                    )
                    api.counts[self.path.split("?")[0]] += 1
                if self.path.startswith("/status/"):
                    status = int(self.path.split("/")[2].split("?")[0])
                    payload = {"status": status}
                elif self.path.startswith("/slow"):
                    time.sleep(3)
                    status, payload = 200, {"slow": True}
                elif self.path.startswith("/concurrent/"):
                    key = self.path.split("/")[2].split("?")[0]
                    query = dict(parse_qsl(urlsplit(self.path).query))
                    with api.lock:
                        api.in_flight[key] += 1
                        api.most_in_flight[key] = max(api.most_in_flight[key], api.in_flight[key])
                        api.arrivals.setdefault(key, []).append(query.get("n", ""))
                    time.sleep(float(query.get("seconds", 1)))
                    with api.lock:
                        api.in_flight[key] -= 1
                    status, payload = 200, {"key": key, "n": query.get("n")}
                elif self.path.startswith("/flaky/"):
                    # fails the first call for each key, succeeds after: a transient outage
                    key = self.path.split("/")[2].split("?")[0]
                    with api.lock:
                        api.flaky_calls[key] += 1
                        first = api.flaky_calls[key] == 1
                    status, payload = (503, {"error": "try again"}) if first else (200, {"key": key, "ok": True})
                elif self.path.startswith("/limited/"):
                    # "too many requests, retry after 1 s" on the first call for each key, as a rate-limited API
                    key = self.path.split("/")[2].split("?")[0]
                    with api.lock:
                        api.flaky_calls[f"limited:{key}"] += 1
                        first = api.flaky_calls[f"limited:{key}"] == 1
                    if first:
                        data = b'{"error": "slow down"}'
                        self.send_response(429)
                        self.send_header("retry-after", "1")
                        self.send_header("content-type", "application/json")
                        self.send_header("content-length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                    status, payload = 200, {"key": key, "ok": True}
                elif self.path.startswith("/headers"):
                    # echoes the request's headers (with ?status=N as an error), as many real APIs do
                    status = int(dict(parse_qsl(urlsplit(self.path).query)).get("status", 200))
                    payload = {"headers": dict(self.headers)}
                elif self.path.startswith("/effect"):
                    # applies an effect once per Idempotency-Key, as a well-behaved payment API does
                    key = self.headers.get("idempotency-key") or ""
                    with api.lock:
                        api.effects[key] += 1
                    status, payload = 200, {"applied": api.effects[key] == 1, "key": key}
                elif self.path.startswith("/shop/"):
                    # a small shop's web pages, for the browser node's examples
                    self._page(_shop_page(self.path))
                    return
                else:
                    status = 200
                    payload = {"method": self.command, "path": self.path, "echo": json.loads(body) if body else None}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _page(self, html: str) -> None:
                data = html.encode()
                self.send_response(200 if "<title>" in html else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_SHOP_PRODUCTS = {"MUG-02": ("Enamel mug", "12.50 EUR", 14), "TEE-01": ("Logo T-shirt", "19.00 EUR", 3)}


def _shop_page(path: str) -> str:
    """``/shop/`` (a search form), ``/shop/search?q=`` (results) and ``/shop/products/<sku>``."""
    url = urlsplit(path)
    if url.path == "/shop/":
        return (
            "<html><head><title>Shop</title></head><body><form action='/shop/search'>"
            "<input name='q'><button type='submit'>Search</button></form></body></html>"
        )
    if url.path == "/shop/search":
        query = dict(parse_qsl(url.query)).get("q", "")
        hits = "".join(
            f"<li class='result'>{name}</li>" for name, _, _ in _SHOP_PRODUCTS.values() if query.lower() in name.lower()
        )
        return f"<html><head><title>Search: {query}</title></head><body><ul>{hits}</ul></body></html>"
    sku = url.path.rsplit("/", 1)[-1]
    if url.path.startswith("/shop/products/") and sku in _SHOP_PRODUCTS:
        name, price, stock = _SHOP_PRODUCTS[sku]
        return (
            f"<html><head><title>{name}</title></head><body><h1>{name}</h1><p class='price'>{price}</p>"
            f"<p id='stock' data-count='{stock}'>in stock</p></body></html>"
        )
    return "<html><body>no such page</body></html>"


def until(check: Any, timeout: float) -> Any:
    """``check()``'s first truthy value, asked every 0.5 s; fails after ``timeout`` seconds saying what it was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not reached within {timeout:g} s: {check()}")


def python() -> str:
    return sys.executable


@dataclass
class Account:
    """A user of a test platform, with the password it was given and a token it signed in with."""

    email: str
    password: str
    token: str
    id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


#: every password, key and token the tests handed a platform: the log scan looks for each
SECRETS: set[str] = set()


def remember_secret(value: str) -> str:
    SECRETS.add(value)
    return value


def login(url: str, email: str, password: str) -> str:
    response = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login of {email} failed: {response.status_code} {response.text}")
    return remember_secret(str(response.json()["access_token"]))


def set_up_admin(url: str, email: str = "admin@flowtape.test") -> Account:
    """The first admin of a fresh platform (``POST /api/v1/auth/setup``), signed in."""
    password = remember_secret(f"admin-{secrets.token_urlsafe(18)}")
    response = httpx.post(f"{url}/api/v1/auth/setup", json={"email": email, "password": password}, timeout=30)
    if response.status_code != 201:
        raise RuntimeError(f"setting up the first admin failed: {response.status_code} {response.text}")
    return Account(email, password, login(url, email, password), id=str(response.json()["id"]))


def secrets_in_logs(logs: Iterable[Path], extra: Iterable[str] = ()) -> list[str]:
    """Each remembered secret (and each of ``extra``) found in any of ``logs``, named with the file."""
    found = []
    for log in logs:
        if not log.exists():
            continue
        text = log.read_text(errors="replace")
        for secret in SECRETS | set(extra):
            if secret and secret in text:
                found.append(f"{log.name}: {secret[:6]}…")
    return found


def tap_bus(amqp_url: str, actions: Callable[[], list[str]]) -> tuple[list[bytes], list[str]]:
    """Every message on Flowtape's command and event exchanges while ``actions`` runs, and what it returned
    (the secrets it used): how tests prove a secret never crosses the bus in clear."""
    import asyncio

    import aio_pika

    async def tapped() -> tuple[list[bytes], list[str]]:
        connection = await aio_pika.connect_robust(amqp_url)
        async with connection:
            channel = await connection.channel()
            tap = await channel.declare_queue(exclusive=True)
            for exchange in ("flowtape.commands", "flowtape.events"):
                await tap.bind(exchange, routing_key="#")
            used = await asyncio.to_thread(actions)
            await asyncio.sleep(1)
            bodies: list[bytes] = []
            while (message := await tap.get(no_ack=True, fail=False)) is not None:
                bodies.append(message.body)
            return bodies, used

    return asyncio.run(tapped())
