"""The connectors' headless browser: one Chromium process per worker, a fresh context per task, every
request of every page fetched by the connectors themselves through the SSRF guard.

Why fetch for the page: checking a host and then letting Chromium connect would leave a gap between our DNS
answer and Chromium's (DNS rebinding). Instead every request a page makes — the navigation, each redirect
hop, every script, image, XHR and frame — is intercepted (Playwright routing) and sent by the shared
:func:`~flowtape.connectors.outbound.guarded_client`, which resolves the host, checks every address against
the egress rules (``FLOWTAPE_EGRESS_ALLOW``) and connects to the checked address; the answer is handed back to
the page. Redirects are followed by the connectors too, each hop through the guard (Chromium would follow a
redirect it is handed without routing the next hop); a redirected page gets a ``<base>`` of its final URL.
Chromium itself is started behind a proxy that does not exist (with loopback not bypassed), background
networking off and WebRTC limited to proxied UDP: whatever escapes interception (WebSockets, which are
refused too, or a future request kind) reaches nothing.

Isolation: Chromium runs under bubblewrap (``FLOWTAPE_BROWSER_ISOLATION=namespaces``, the default) with no
network namespace of its own to reach anything from (it needs none: the connectors answer every request), uid
65534, its own PID/IPC/UTS/mount namespaces and a read-only view of /usr; ``none`` runs it as the service user.

Resources: Chromium is launched on the first browser task and reused; each task gets its own context
(cookies, storage, cache), closed when the task ends, fails or times out — closing it ends its renderer
even when a script spins forever. A browser that crashed is launched again for the next task; the process
is closed with the worker. The system's Chromium is used (Debian's ``chromium``; never a downloaded build).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import EgressRefused, NodeError
from flowtape.connectors.outbound import guarded_client

log = logging.getLogger("flowtape.connectors.browser")

#: Debian's chromium (``FLOWTAPE_BROWSER_EXECUTABLE`` names another)
DEFAULT_EXECUTABLE = Path("/usr/bin/chromium")
#: the largest answer the browser may receive for one request, and for one task in all
MAX_RESPONSE_BYTES = 20 * 1024 * 1024
MAX_TASK_BYTES = 100 * 1024 * 1024
REQUEST_TIMEOUT = 30.0
_HOP_BY_HOP = {
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "accept-encoding",
    "te",
    "trailer",
}
_ANSWER_DROPPED = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
_LAUNCH_ARGS = [
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
    "--mute-audio",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--js-flags=--max-old-space-size=512",
]


class BrowserUnavailable(NodeError):
    """Chromium is missing or would not start."""


BrowserIsolation = Literal["namespaces", "none"]
#: what Chromium sees of the host under bwrap: the system's programs and libraries, fonts, nothing else
_BROWSER_ETC = ("fonts", "ld.so.cache", "chromium", "chromium.d", "alternatives", "ssl", "mime.types")


def sandbox_launcher(executable: Path, directory: Path, *, bwrap: str, setpriv: str | None) -> Path:
    """A launcher in ``directory`` that starts ``executable`` under bubblewrap: no network at all (every request
    is answered by the connectors through the route), its own PID, IPC, UTS and mount namespaces, uid 65534,
    a read-only root of /usr and a few /etc entries, and an empty /tmp as its home.

    As root, bwrap makes the namespaces itself and ``setpriv`` drops to uid 65534 without capabilities (as the
    ``code`` node's isolation does); as another user, an unprivileged user namespace maps it to 65534."""
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try"]
    as_root = os.geteuid() == 0
    if not as_root:
        argv += ["--unshare-user", "--uid", "65534", "--gid", "65534"]
    argv += ["--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    argv += ["--perms", "0755", "--dir", "/etc"]  # as root bwrap would make it 0700: closed to uid 65534
    for name in _BROWSER_ETC:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    if not executable.is_relative_to("/usr"):
        for parent in reversed(executable.parent.parents):
            if parent != Path("/"):
                argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", str(executable.parent), str(executable.parent)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    argv += ["--perms", "1777", "--tmpfs", "/dev/shm", "--chdir", "/tmp"]
    argv += ["--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "PATH", "/usr/bin:/bin"]
    argv += ["--setenv", "XDG_CONFIG_HOME", "/tmp/.config", "--setenv", "XDG_CACHE_HOME", "/tmp/.cache", "--"]
    if as_root:
        if setpriv is None:
            raise BrowserUnavailable("running Chromium isolated as root needs setpriv (Debian's util-linux)")
        argv += [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
        argv += ["--bounding-set=-all", "--no-new-privs", "--"]
    argv.append(str(executable))
    launcher = directory / "chromium-isolated"
    launcher.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in argv) + ' "$@"\n')
    launcher.chmod(stat.S_IRWXU)
    return launcher


@dataclass
class PageTraffic:
    """What one task's pages asked for: the requests refused by the guard, and the bytes received."""

    refused: list[dict[str, Any]] = field(default_factory=list)
    received_bytes: int = 0
    requests: int = 0
    #: where each redirected navigation ended up (requested URL → final URL)
    redirected: dict[str, str] = field(default_factory=dict)

    def refused_navigation(self) -> dict[str, Any] | None:
        """The first refused request that was a navigation (the page itself or a redirect hop of it)."""
        return next((r for r in self.refused if r["navigation"]), None)

    def refuse(self, request: Any, reason: str, code: str) -> None:
        self.refused.append(
            {"url": request.url, "reason": reason, "code": code, "navigation": request.is_navigation_request()}
        )


class Browsers:
    def __init__(
        self,
        egress: EgressPolicy,
        *,
        executable: Path = DEFAULT_EXECUTABLE,
        max_contexts: int = 4,
        isolation: BrowserIsolation = "namespaces",
    ) -> None:
        """Pages reach what ``egress`` allows, as ``http_request`` does; at most ``max_contexts`` tasks have a page
        open at once (``FLOWTAPE_BROWSER_CONCURRENCY``), the others wait for a turn within their time limit.
        ``isolation`` ``namespaces`` runs Chromium under bubblewrap (:func:`sandbox_launcher`)."""
        self._egress = egress
        self._executable = executable
        self.isolation: BrowserIsolation = isolation
        self._launcher_dir: Path | None = None
        self._turns = asyncio.Semaphore(max_contexts)
        self._lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None

    async def _ensure(self) -> Any:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if not self._executable.is_file():
                raise BrowserUnavailable(
                    f"the browser node needs Chromium at {self._executable}, which is missing: install Debian's "
                    "chromium (scripts/system-packages.sh) or set FLOWTAPE_BROWSER_EXECUTABLE"
                )
            from playwright.async_api import async_playwright

            if self._playwright is None:
                self._playwright = await async_playwright().start()
            program = self._program()
            args = list(_LAUNCH_ARGS)
            if os.geteuid() == 0 or self.isolation == "namespaces":
                # Chromium's own sandbox needs an unprivileged user and user namespaces of its own; under
                # bubblewrap the namespaces around the whole browser stand in for it
                args.append("--no-sandbox")
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=str(program), headless=True, args=args, timeout=30_000
                )
            except Exception as exc:
                raise BrowserUnavailable(
                    f"Chromium ({self._executable}, isolation {self.isolation}) did not start: {_first_line(exc)}; "
                    "FLOWTAPE_BROWSER_ISOLATION=none runs it without bubblewrap"
                ) from None
            log.info("started Chromium %s for browser nodes (isolation: %s)", self._browser.version, self.isolation)
            return self._browser

    def _program(self) -> Path:
        if self.isolation == "none":
            return self._executable
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise BrowserUnavailable(
                "browser nodes run Chromium under bubblewrap, which is not installed: run scripts/system-packages.sh "
                "(Debian's bubblewrap), or set FLOWTAPE_BROWSER_ISOLATION=none"
            )
        if self._launcher_dir is None:
            self._launcher_dir = Path(tempfile.mkdtemp(prefix="flowtape-browser-"))
        return sandbox_launcher(self._executable, self._launcher_dir, bwrap=bwrap, setpriv=shutil.which("setpriv"))

    @asynccontextmanager
    async def context(self, *, user_agent: str | None = None) -> AsyncIterator[tuple[Any, PageTraffic]]:
        """A fresh browser context whose every request goes through the guard; closed on the way out."""
        async with self._turns:
            async with self._context(user_agent) as opened:
                yield opened

    @asynccontextmanager
    async def _context(self, user_agent: str | None) -> AsyncIterator[tuple[Any, PageTraffic]]:
        browser = await self._ensure()
        traffic = PageTraffic()
        # a client per task: its pool and cookie jar die with the task (the page's cookies are the browser's)
        http = guarded_client(self._egress, limits=httpx.Limits(max_connections=16, max_keepalive_connections=8))
        context = await browser.new_context(
            service_workers="block",
            accept_downloads=False,
            user_agent=user_agent,
            viewport={"width": 1280, "height": 800},
        )
        try:
            await context.route("**/*", lambda route: self._fetch(route, http, traffic))
            await context.route_web_socket("**/*", self._refuse_socket)
            yield context, traffic
        finally:
            try:
                await asyncio.wait_for(context.close(), 10)
            except Exception as exc:
                log.warning("closing a browser context failed (%s); restarting Chromium", exc)
                await self._restart()
            await http.aclose()

    async def _refuse_socket(self, socket: Any) -> None:
        await socket.close(code=1008, reason="WebSockets are not allowed in browser nodes")

    async def _fetch(self, route: Any, http: httpx.AsyncClient, traffic: PageTraffic) -> None:
        """Send the page's request ourselves, through the guard, and hand the answer to the page.

        Redirects are followed here, each hop through the guard: Chromium follows a redirect it is handed
        without routing the next hop, so it must never see one. A navigation that was redirected gets a
        ``<base>`` of its final URL, so that its relative links resolve as they would have.
        """
        request = route.request
        url = httpx.URL(request.url)
        if url.scheme not in ("http", "https"):
            traffic.refuse(request, f"the {url.scheme}: scheme is not allowed in browser nodes", "egress_refused")
            await route.abort("blockedbyclient")
            return
        traffic.requests += 1
        try:
            headers = {k: v for k, v in (await request.all_headers()).items() if k.lower() not in _HOP_BY_HOP}
            outgoing = http.build_request(
                request.method, url, headers=headers, content=request.post_data_buffer, timeout=REQUEST_TIMEOUT
            )
            http.cookies.clear()
            answer = await http.send(outgoing, stream=True, follow_redirects=True)
            try:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    traffic.received_bytes += len(chunk)
                    if len(body) > MAX_RESPONSE_BYTES or traffic.received_bytes > MAX_TASK_BYTES:
                        raise NodeError("the page's answers are too large")
            finally:
                await answer.aclose()
        except EgressRefused as exc:
            traffic.refuse(request, exc.message, exc.code)
            await _abort(route, "addressunreachable")
            return
        except NodeError as exc:
            traffic.refuse(request, exc.message, exc.code)
            await _abort(route, "failed")
            return
        except httpx.TooManyRedirects:
            traffic.refuse(request, "more than 20 redirects", "node_error")
            await _abort(route, "failed")
            return
        except httpx.TimeoutException:
            await _abort(route, "timedout")
            return
        except httpx.HTTPError:
            await _abort(route, "connectionfailed")
            return
        content = bytes(body)
        final = str(answer.url)
        if answer.history and request.is_navigation_request():
            traffic.redirected[request.url] = final
            if "html" in answer.headers.get("content-type", ""):
                content = f'<base href="{_attribute(final)}">'.encode() + content
        fulfilled: dict[str, str] = {}
        for name, value in answer.headers.multi_items():
            key = name.lower()
            if key in _ANSWER_DROPPED:
                continue
            fulfilled[key] = f"{fulfilled[key]}\n{value}" if key in fulfilled else value
        try:
            await route.fulfill(status=answer.status_code, headers=fulfilled, body=content)
        except Exception as exc:
            log.debug("the page went away before its answer (%s)", exc)

    async def _restart(self) -> None:
        async with self._lock:
            browser, self._browser = self._browser, None
        if browser is not None:
            try:
                await asyncio.wait_for(browser.close(), 10)
            except Exception:
                log.warning("Chromium did not close; it is left to the driver")

    async def close(self) -> None:
        await self._restart()
        if self._playwright is not None:
            playwright, self._playwright = self._playwright, None
            await playwright.stop()
        if self._launcher_dir is not None:
            shutil.rmtree(self._launcher_dir, ignore_errors=True)
            self._launcher_dir = None


async def _abort(route: Any, reason: str) -> None:
    try:
        await route.abort(reason)
    except Exception as exc:
        log.debug("the page went away before its request was refused (%s)", exc)


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
