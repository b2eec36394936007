"""The path most real workflows take: one ``http_request`` to a local server (one hop out to connectors, one back).

The server is a thread in the benchmark process answering a small JSON echo, so the figure is Flowtape's overhead
around the call, not the remote side's time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import workflows


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connectors reuse its connection like a real API's
    #: headers and body go out in two writes: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms a call
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps({"echo": json.loads(self.rfile.read(length) or b"null")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def echo_server() -> Iterator[str]:
    """A local JSON echo server on an OS-chosen port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="bench-echo", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def definition(url: str) -> dict[str, Any]:
    return workflows.http_call(url)


def expect() -> Callable[[dict[str, Any]], bool]:
    """The remote side's answer reached the next node: the echo of the item's ``n``."""

    def check(execution: dict[str, Any]) -> bool:
        output = execution.get("output") or [{}]
        return bool(output[0].get("echoed") == 1)

    return check
