"""The SSRF guard: internal addresses are refused after DNS resolution, on every hop of a redirect, unless an
operator allows them; the connection goes to the address that was checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import httpx
import pytest
from pydantic import ValidationError

from flowtape.common.egress import PUBLIC_ONLY, EgressPolicy
from flowtape.common.errors import EgressRefused
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.common.settings import Settings
from flowtape.connectors.nodes.http_request import HttpRequestNode
from flowtape.connectors.outbound import GuardedNetworkBackend, connect_address, guarded_client


class CountingServer:
    """Answers every request with 200, or with a redirect to ``redirect_to``; counts what reached it."""

    def __init__(self, host: str, redirect_to: str | None = None) -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                if redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok": true}'[:11])

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.port = int(self.httpd.server_address[1])

    def __enter__(self) -> CountingServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def target() -> Iterator[CountingServer]:
    with CountingServer("127.0.0.1") as server:
        yield server


async def get(client: httpx.AsyncClient, ctx: NodeContext, url: str) -> dict[str, Any]:
    result = await execute_node(HttpRequestNode(client), {"url": url, "timeout": 5}, ctx, [{}])
    return result.ports["main"][0]


@pytest.mark.parametrize(
    "address",
    [
        *("127.0.0.1", "127.9.9.9", "169.254.169.254", "10.0.0.1", "172.16.3.4", "192.168.1.1", "100.64.0.1"),
        *("0.0.0.0", "::1", "fe80::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "ff02::1"),
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    with pytest.raises(EgressRefused, match="FLOWTAPE_EGRESS_ALLOW"):
        PUBLIC_ONLY.check(address, [address])


def test_public_addresses_pass_and_one_internal_address_refuses_a_host() -> None:
    assert PUBLIC_ONLY.check("example.com", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    with pytest.raises(EgressRefused) as refused:
        PUBLIC_ONLY.check("rebind.example", ["93.184.216.34", "127.0.0.1"])
    assert refused.value.details == {"host": "rebind.example", "address": "127.0.0.1"}
    assert "rebind.example (127.0.0.1)" in refused.value.message


def test_the_allow_list_opens_cidrs_and_hosts() -> None:
    policy = EgressPolicy.parse(" 10.20.0.0/16, ::1 ,db.internal, *.corp.example,.lab")

    assert policy.check("10.20.3.4", ["10.20.3.4"]) == ["10.20.3.4"]
    assert policy.check("::ffff:10.20.0.9", ["::ffff:10.20.0.9"])
    assert policy.check("[::1]", ["::1"])
    assert policy.check("db.internal", ["192.168.0.5"]) == ["192.168.0.5"]
    assert policy.check("API.corp.example.", ["10.0.0.1"])
    assert policy.check("x.lab", ["10.0.0.1"])
    for host, address in [("10.21.0.1", "10.21.0.1"), ("corp.example.evil", "10.0.0.1"), ("db.internal2", "10.0.0.1")]:
        with pytest.raises(EgressRefused):
            policy.check(host, [address])


def test_a_bad_allow_list_stops_the_settings() -> None:
    with pytest.raises(ValueError, match="neither a CIDR nor a host name"):
        EgressPolicy.parse("10.0.0.0/8, not a host!/x")
    with pytest.raises(ValidationError, match="FLOWTAPE_EGRESS_ALLOW"):
        Settings(egress_allow="bad/host/")
    assert Settings(egress_allow="127.0.0.1,localhost").egress.allows_host("localhost")


async def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(EgressRefused, match=r"localhost \(127\.0\.0\.1\)|localhost \(::1\)"):
        await PUBLIC_ONLY.resolve("localhost", 80)
    assert await EgressPolicy.parse("localhost").resolve("localhost", 80)


@pytest.mark.parametrize(
    "url",
    [
        *("http://127.0.0.1:{port}/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"),
        *("http://[::1]:{port}/", "http://localhost:{port}/", "http://0x7f000001:{port}/"),
    ],
)
async def test_http_request_refuses_internal_targets(target: CountingServer, ctx: NodeContext, url: str) -> None:
    async with guarded_client(PUBLIC_ONLY) as client:
        with pytest.raises(EgressRefused, match=r"refused to connect to .*FLOWTAPE_EGRESS_ALLOW"):
            await get(client, ctx, url.format(port=target.port))
    assert target.hits == [], "nothing reached the internal server"


async def test_without_a_client_the_node_is_guarded_too(target: CountingServer, ctx: NodeContext) -> None:
    with pytest.raises(EgressRefused):
        await execute_node(HttpRequestNode(), {"url": target.url}, ctx, [{}])
    assert target.hits == []


async def test_a_redirect_to_an_internal_address_is_refused(target: CountingServer, ctx: NodeContext) -> None:
    with CountingServer("127.0.0.2", redirect_to=f"{target.url}/internal") as public:
        # the operator allowed 127.0.0.2 (standing in for a public API), not 127.0.0.1
        async with guarded_client(EgressPolicy.parse("127.0.0.2")) as client:
            with pytest.raises(EgressRefused, match=r"127\.0\.0\.1"):
                await get(client, ctx, f"{public.url}/start")
        assert public.hits == ["/start"]
    assert target.hits == []


async def test_an_allowed_target_is_reached(target: CountingServer, ctx: NodeContext) -> None:
    async with guarded_client(EgressPolicy.parse("127.0.0.1")) as client:
        item = await get(client, ctx, f"{target.url}/fine")
    assert item["status"] == 200 and target.hits == ["/fine"]


async def test_the_connection_goes_to_the_checked_address(target: CountingServer) -> None:
    """The backend connects to the address it checked, never to the name again (no DNS rebinding window)."""
    opened: list[str] = []

    class Recording(httpcore.AnyIOBackend):
        async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            opened.append(host)
            return await super().connect_tcp(host, port, **kwargs)

    backend = GuardedNetworkBackend(EgressPolicy.parse("localhost"), Recording())
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("GET", f"http://localhost:{target.port}/by-name")
    assert response.status == 200
    assert opened and all(host in ("127.0.0.1", "::1") for host in opened), opened
    assert await connect_address(EgressPolicy.parse("localhost"), "localhost", 5432) in ("127.0.0.1", "::1")
    assert await connect_address(EgressPolicy.parse("localhost"), "localhost", 5432, verified_tls=True) == "localhost"
