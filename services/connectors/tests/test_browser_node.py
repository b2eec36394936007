"""The ``browser`` node on the real Chromium (Debian's), against local pages, with the SSRF guard on every request.

The pages are served by a test HTTP server on 127.0.0.1, which the egress rules allow explicitly; a second
server on 127.0.0.2 (loopback too, but not allowed) stands for an internal service: the tests check it is
never reached — not by the navigation, a redirect, an image, a script's fetch or a frame.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.binary import is_binary_ref
from flowtape.common.blobs import FileBlobs
from flowtape.common.db import async_engine
from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import EgressRefused, NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.binaries import BinaryStore
from flowtape.connectors.browsers import DEFAULT_EXECUTABLE
from flowtape.connectors.completed import SCHEMA
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.browser import BrowserNode

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class PageServer:
    url: str
    paths: list[str] = field(default_factory=list)


def _serve(host: str, pages: dict[str, tuple[int, dict[str, str], str]]) -> Iterator[PageServer]:
    record = PageServer(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            record.paths.append(self.path)
            path = self.path.split("?", 1)[0]
            status, headers, body = pages.get(path, (404, {"content-type": "text/plain"}, "no such page"))
            if path == "/slow":
                time.sleep(30)
            data = body.replace("{other}", OTHER_URL[0]).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value.replace("{other}", OTHER_URL[0]))
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            return None

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Server((host, 0), Handler)
    record.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


HTML = {"content-type": "text/html; charset=utf-8"}
OTHER_URL = [""]

PAGES = {
    "/form": (
        200,
        HTML,
        """<html><head><title>Sign up</title></head><body>
        <form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'hello ' +
          document.querySelector('input[name=who]').value; setTimeout(() => {
            const done = document.createElement('p'); done.className = 'done'; done.textContent = 'saved';
            document.body.appendChild(done); }, 300);">
          <input name="who"><button id="go" type="submit">Go</button></form>
        <p id="out"></p>
        <a class="link" href="/one">one</a><a class="link" href="/two">two</a>
        </body></html>""",
    ),
    "/leaky": (
        200,
        HTML,
        """<html><head><title>Leaky</title></head><body>
        <img src="{other}/from-img"><iframe src="{other}/from-frame"></iframe>
        <script>fetch('{other}/from-fetch').catch(() => { document.title = 'Leaky (fetch refused)'; });</script>
        <p id="ok">visible</p></body></html>""",
    ),
    "/to-internal": (302, {"location": "{other}/secret"}, ""),
    "/to-form": (302, {"location": "/form"}, ""),
    "/one": (200, HTML, "<html><head><title>One</title></head><body>one</body></html>"),
    "/hang": (200, HTML, "<html><head><title>Hang</title></head><body><script>while (true) {}</script></body></html>"),
    "/slow": (200, HTML, "<html><head><title>Slow</title></head></html>"),
}


@pytest.fixture(scope="module")
def internal() -> Iterator[PageServer]:
    """Stands for an internal service the guard must keep pages away from."""
    yield from _serve("127.0.0.2", {"/secret": (200, HTML, "<title>internal</title>")})


@pytest.fixture(scope="module")
def pages(internal: PageServer) -> Iterator[PageServer]:
    OTHER_URL[0] = internal.url
    yield from _serve("127.0.0.1", PAGES)


@pytest.fixture(scope="module")
def chromium() -> Path:
    assert shutil.which(str(DEFAULT_EXECUTABLE)) or DEFAULT_EXECUTABLE.is_file(), (
        f"{DEFAULT_EXECUTABLE} is missing: the browser node needs Debian's chromium; run scripts/system-packages.sh"
    )
    return DEFAULT_EXECUTABLE


@pytest.fixture
async def connections(chromium: Path) -> AsyncIterator[Connections]:
    connections = Connections(
        EgressPolicy.parse("127.0.0.1"), browser_executable=chromium, browser_max_seconds=20, browser_concurrency=2
    )
    try:
        yield connections
    finally:
        await connections.close()


@pytest.fixture
async def binaries(tmp_path: Path) -> AsyncIterator[BinaryStore]:
    engine = async_engine(f"sqlite:///{tmp_path / 'connectors.db'}", SCHEMA)
    store = BinaryStore(engine, FileBlobs(tmp_path / "binaries"), max_bytes=8 * 1024 * 1024)
    await store.create()
    yield store
    await engine.dispose()


def _ctx(binaries: BinaryStore, workflow: str = "wf-browser") -> NodeContext:
    return NodeContext(
        execution_id="exec-browser",
        workflow_id=workflow,
        workflow_version=1,
        node_id="browse",
        binary_store=binaries.for_task(workflow, "exec-browser"),
    )


async def _run(connections: Connections, binaries: BinaryStore, params: dict[str, Any]) -> dict[str, Any]:
    result = await execute_node(BrowserNode(connections), params, _ctx(binaries), [{}])
    [item] = result.ports["main"]
    return item


async def test_a_redirect_to_an_allowed_page_is_followed_hop_by_hop(
    connections: Connections, binaries: BinaryStore, pages: PageServer
) -> None:
    item = await _run(
        connections, binaries, {"url": f"{pages.url}/to-form", "steps": [{"action": "click", "selector": ".link"}]}
    )
    assert item["title"] == "One"
    assert item["url"] == f"{pages.url}/one"


async def test_fills_clicks_waits_extracts_evaluates_and_screenshots(
    connections: Connections, binaries: BinaryStore, pages: PageServer
) -> None:
    item = await _run(
        connections,
        binaries,
        {
            "url": f"{pages.url}/form",
            "steps": [
                {"action": "fill", "selector": "input[name=who]", "value": "Ada"},
                {"action": "click", "selector": "#go"},
                {"action": "wait_for", "selector": ".done"},
                {"action": "extract", "selector": "#out", "name": "greeting"},
                {"action": "extract", "selector": ".link", "attribute": "href", "all": True, "name": "links"},
                {"action": "evaluate", "script": "() => ({n: document.querySelectorAll('a').length})", "name": "js"},
                {"action": "screenshot", "name": "shot", "file_name": "form.png"},
            ],
        },
    )
    assert item["title"] == "Sign up" and item["status"] == 200 and item["url"] == f"{pages.url}/form"
    assert item["greeting"] == "hello Ada"
    assert item["links"] == ["/one", "/two"]
    assert item["js"] == {"n": 2}
    assert is_binary_ref(item["shot"]), item["shot"]
    ref = item["shot"]["$binary"]
    assert ref["mime_type"] == "image/png" and ref["file_name"] == "form.png" and ref["size"] > 1000
    info, data = await binaries.get(ref["id"], workflow_id="wf-browser")
    assert data.startswith(PNG_MAGIC) and len(data) == ref["size"] == info.size
    assert item["refused"] == []


async def test_the_navigation_to_a_disallowed_address_is_refused(
    connections: Connections, binaries: BinaryStore, internal: PageServer
) -> None:
    before = len(internal.paths)
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.2.*FLOWTAPE_EGRESS_ALLOW"):
        await _run(connections, binaries, {"url": f"{internal.url}/secret"})
    with pytest.raises(EgressRefused, match=r"169\.254\.169\.254"):
        await _run(connections, binaries, {"url": "http://169.254.169.254/latest/meta-data/", "timeout": 10})
    assert len(internal.paths) == before, "the internal server was reached"


async def test_a_redirect_to_a_disallowed_address_is_refused(
    connections: Connections, binaries: BinaryStore, pages: PageServer, internal: PageServer
) -> None:
    before = len(internal.paths)
    with pytest.raises(EgressRefused, match=r"/to-internal: refused to connect to 127\.0\.0\.2"):
        await _run(connections, binaries, {"url": f"{pages.url}/to-internal"})
    assert "/to-internal" in pages.paths
    assert len(internal.paths) == before, "the redirect reached the internal server"


async def test_sub_requests_to_a_disallowed_address_are_refused_and_reported(
    connections: Connections, binaries: BinaryStore, pages: PageServer, internal: PageServer
) -> None:
    before = len(internal.paths)
    item = await _run(
        connections,
        binaries,
        {
            "url": f"{pages.url}/leaky",
            "wait_until": "networkidle",
            "steps": [{"action": "extract", "selector": "#ok", "name": "ok"}],
        },
    )
    assert item["ok"] == "visible"
    refused = {entry["url"].rsplit("/", 1)[1] for entry in item["refused"]}
    assert {"from-img", "from-frame", "from-fetch"} <= refused, item["refused"]
    assert all("FLOWTAPE_EGRESS_ALLOW" in entry["reason"] for entry in item["refused"])
    assert len(internal.paths) == before, f"the internal server was reached: {internal.paths[before:]}"


async def test_a_hanging_page_is_stopped_at_the_time_limit_and_the_browser_serves_the_next_task(
    connections: Connections, binaries: BinaryStore, pages: PageServer
) -> None:
    for path in ("/hang", "/slow"):
        started = time.monotonic()
        with pytest.raises(NodeError, match="within 2 s"):
            await _run(connections, binaries, {"url": f"{pages.url}{path}", "timeout": 2})
        assert time.monotonic() - started < 15, f"{path}: the time limit did not hold"
    item = await _run(connections, binaries, {"url": f"{pages.url}/form"})
    assert item["title"] == "Sign up"


async def test_tasks_share_one_chromium_with_a_fresh_context_each(
    connections: Connections, binaries: BinaryStore, pages: PageServer
) -> None:
    remember = {
        "url": f"{pages.url}/form",
        "steps": [{"action": "evaluate", "script": "localStorage.setItem('k', 'v')"}],
    }
    recall = {"url": f"{pages.url}/form", "steps": [{"action": "evaluate", "script": "localStorage.getItem('k')"}]}
    await _run(connections, binaries, remember)
    browser = connections.browsers._browser
    opened = 0
    most = 0
    original = browser.new_context

    async def counting(**kwargs: Any) -> Any:
        nonlocal opened, most
        context = await original(**kwargs)
        opened += 1
        most = max(most, len(browser.contexts))
        return context

    browser.new_context = counting
    items = await asyncio.gather(*(_run(connections, binaries, recall) for _ in range(5)))
    assert [item["result"] for item in items] == [None] * 5, "a context saw another task's storage"
    assert opened == 5 and most <= 2, f"{most} contexts open at once; FLOWTAPE_BROWSER_CONCURRENCY is 2"
    assert connections.browsers._browser is browser and browser.is_connected()
    assert len(browser.contexts) == 0, "contexts of finished tasks are still open"
    await connections.close()
    assert not browser.is_connected()


async def test_a_step_that_fails_names_the_step(
    connections: Connections, binaries: BinaryStore, pages: PageServer
) -> None:
    with pytest.raises(NodeError, match=r"step 1 \(click\) failed"):
        await _run(
            connections,
            binaries,
            {"url": f"{pages.url}/form", "timeout": 3, "steps": [{"action": "click", "selector": "#missing"}]},
        )


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _chromiums() -> list[tuple[int, list[str], str]]:
    """``(pid, uids, network namespace)`` of every Chromium process this test process started."""
    found = []
    for pid in _descendants(os.getpid()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "chromium":
                continue
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
            found.append((pid, uids, os.readlink(f"/proc/{pid}/ns/net")))
        except (OSError, StopIteration):
            continue
    return found


async def test_chromium_runs_isolated_without_network_as_nobody(
    connections: Connections, binaries: BinaryStore, pages: PageServer
) -> None:
    assert connections.browsers.isolation == "namespaces"
    await _run(connections, binaries, {"url": f"{pages.url}/form"})
    chromiums = _chromiums()
    assert chromiums, "no Chromium process found under this test's process"
    own_network = os.readlink("/proc/self/ns/net")
    for pid, uids, network in chromiums:
        assert set(uids) == {"65534"}, f"Chromium {pid} runs as uid {uids}"
        assert network != own_network, f"Chromium {pid} shares the service's network namespace"
