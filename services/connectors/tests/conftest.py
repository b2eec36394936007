from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from flowtape.common.nodes.sdk import NodeContext
from flowtape.connectors.outbound import guarded_client
from services.connectors.tests.fakes import LOCAL_SERVERS


class _Handler(BaseHTTPRequestHandler):
    """``/echo`` describes the request; ``/status/N``, ``/slow?seconds=``, ``/text``, ``/big?bytes=``."""

    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if url.path == "/echo":
            self._reply(
                200,
                json.dumps(
                    {
                        "method": self.command,
                        "path": url.path,
                        "query": query,
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "body": body,
                    }
                ),
                "application/json",
            )
        elif url.path.startswith("/status/"):
            self._reply(int(url.path.rsplit("/", 1)[1]), f"status body {'x' * 300}", "text/plain")
        elif url.path == "/slow":
            time.sleep(float(query.get("seconds", "2")))
            self._reply(200, "finally", "text/plain")
        elif url.path == "/text":
            self._reply(200, "héllo wörld", "text/plain; charset=utf-8")
        elif url.path == "/big":
            self._reply(200, "x" * int(query["bytes"]), "text/plain")
        else:
            self._reply(404, "no such path", "text/plain")

    def _reply(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Test-Server", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out on purpose break the pipe


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """A real HTTP server on a free local port; yields its base URL."""
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The client the service builds (on the SSRF guard), allowed to reach the tests' own servers."""
    async with guarded_client(LOCAL_SERVERS) as client:
        yield client


@pytest.fixture
def ctx() -> NodeContext:
    return NodeContext(execution_id="exec-1", workflow_id="wf-1", workflow_version=3, node_id="step", attempt=2)
