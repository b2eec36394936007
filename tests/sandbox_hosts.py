"""Where a test runs a ``code`` node: in the test process (the service running as root, as tests and CI do)
or in a process of an unprivileged user (the service as the Docker image runs it: bwrap then needs
unprivileged user namespaces), so every probe of the sandbox is made in both set-ups.

The unprivileged one starts ``tests/sandbox_driver.py`` with ``setpriv`` under an interpreter that user can
execute (a pyenv interpreter under /root cannot be: then the system's Python of the same version, with the
repository's virtual environment on its path).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.isolation import SANDBOX_UID, IsolationMode, isolation_for, sandbox_uids
from flowtape.connectors.nodes.code import CodeNode
from flowtape.connectors.runtimes import python_executable
from flowtape.connectors.sandbox import Sandbox

DRIVER = Path(__file__).with_name("sandbox_driver.py")
#: the unprivileged service's user id (the Docker image's ``flowtape`` user)
SERVICE_UID = 10001
SITE_PACKAGES = sysconfig.get_path("purelib")


@dataclass
class Outcome:
    items: list[dict[str, Any]] | None = None
    error: str | None = None
    details: Any = None

    @property
    def item(self) -> dict[str, Any]:
        assert self.items is not None, f"the code node failed: {self.error} {self.details}"
        return self.items[0]


@dataclass
class Request:
    code: str
    items: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    params: dict[str, Any] = field(default_factory=dict)
    workflow_settings: dict[str, Any] = field(default_factory=dict)
    network_allowed: bool = False
    isolation: IsolationMode = "namespaces"

    def as_json(self, service_pid: int) -> bytes:
        """The request with ``"service_pid": "self"`` in an item replaced by the running service's pid."""
        items = [{key: service_pid if value == "self" else value for key, value in item.items()} for item in self.items]
        return json.dumps(
            {
                "code": self.code,
                "items": items,
                # a generous time limit unless the test sets one: these machines are shared and often busy
                "params": {"timeout_seconds": 60, **self.params},
                "workflow_settings": self.workflow_settings,
                "network_allowed": self.network_allowed,
                "isolation": self.isolation,
            }
        ).encode()


def context(workflow_settings: dict[str, Any] | None = None) -> NodeContext:
    return NodeContext(
        execution_id="exec-1",
        workflow_id="wf-1",
        workflow_version=1,
        node_id="code",
        workflow_settings=workflow_settings or {},
    )


async def run_code_node(request: dict[str, Any]) -> dict[str, Any]:
    """What the driver does, and the in-process host too: one code node, its items or its error."""
    node = CodeNode(Sandbox(isolation_for(request["isolation"])), network_allowed=request["network_allowed"])
    params = {"code": request["code"], **request["params"]}
    try:
        result = await execute_node(node, params, context(request["workflow_settings"]), request["items"])
    except NodeError as exc:
        return {"error": exc.message, "details": exc.details}
    return {"items": result.ports["main"]}


class InProcess:
    """The service as root: each run's code is a host uid of its own, from this process's block."""

    name = "root"
    #: the host user ids the code's processes may have
    code_uids = sandbox_uids()
    #: the user id the code sees (no user namespace: its host uid)
    seen_uids = code_uids

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise RuntimeError("the sandbox tests cover the service running as root: run them as root (CI does)")

    async def run(self, request: Request) -> Outcome:
        return Outcome(**await run_code_node(json.loads(request.as_json(os.getpid()))))


class Unprivileged:
    """The service as uid 10001 (in a private data directory): the code runs in a user namespace of it."""

    name = "unprivileged"
    code_uids = range(SERVICE_UID, SERVICE_UID + 1)
    #: inside its user namespace the code is uid 65534
    seen_uids = range(SANDBOX_UID, SANDBOX_UID + 1)

    def __init__(self, as_user: list[str] | None = None) -> None:
        """``as_user``: how to become the service user instead of ``setpriv`` (e.g. a namespace in which user
        namespaces are not allowed)."""
        self.python = unprivileged_python()
        self.as_user = as_user or _as_service_user()

    def command(self) -> list[str]:
        bootstrap = (
            "import runpy, site, sys; "
            f"site.addsitedir({SITE_PACKAGES!r}); sys.path.insert(0, {str(DRIVER.parents[1])!r}); "
            f"runpy.run_path({str(DRIVER)!r}, run_name='__main__')"
        )
        return [*self.as_user, self.python, "-I", "-c", bootstrap]

    async def run(self, request: Request) -> Outcome:
        process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd="/",
            env={"PATH": "/usr/bin:/bin", **{k: v for k, v in os.environ.items() if k.startswith("FLOWTAPE_")}},
        )
        stdout, stderr = await process.communicate(request.as_json(process.pid))
        if process.returncode != 0:
            raise RuntimeError(f"the sandbox driver failed ({process.returncode}): {stderr.decode()[-2000:]}")
        return Outcome(**json.loads(stdout))


def _as_service_user() -> list[str]:
    uid = str(SERVICE_UID)
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


@functools.cache
def unprivileged_python() -> str:
    """An interpreter of this Python version that uid 10001 can run with the repository's packages."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    check = f"import site; site.addsitedir({SITE_PACKAGES!r}); import flowtape.connectors.sandbox"
    tried = []
    for candidate in (str(python_executable()), f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if not Path(candidate).exists():
            continue
        result = subprocess.run(
            [*_as_service_user(), candidate, "-I", "-c", check], capture_output=True, text=True, cwd="/", timeout=60
        )
        if result.returncode == 0:
            return candidate
        tried.append(f"{candidate}: {result.stderr.strip()[-200:]}")
    raise RuntimeError(f"no {version} that uid {SERVICE_UID} can run with {SITE_PACKAGES}: {tried}")


def processes_left(uids: range, since: float) -> list[str]:
    """Processes of ``uids`` started at or after ``since`` (a time.time()) that are still alive."""
    left = []
    for process in psutil.process_iter(["uids", "create_time", "cmdline", "status"]):
        info = process.info
        if info["uids"] is None or info["uids"].real not in uids or info["create_time"] < since - 1:
            continue
        if info["status"] != psutil.STATUS_ZOMBIE:
            left.append(f"{process.pid}: {' '.join(info['cmdline'] or [])}")
    return left


def with_marker(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds ``marker``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if marker in (process.info["cmdline"] or []) and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found
