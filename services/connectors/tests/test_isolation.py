"""Hostile code in a ``code`` node, with the service running as root and as an unprivileged user: it sees none
of the service's environment, files, packages or network, runs as its own user, leaves no process behind,
and every bomb ends as the node's error with the sandbox working afterwards (issue 8, finding 2; issue 15,
item 3). Each probe reports what the code saw, so it fails on a sandbox that is a mere child process."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import execute_node
from flowtape.connectors import seccomp
from flowtape.connectors.isolation import NamespaceIsolation
from flowtape.connectors.nodes.code import CodeNode
from flowtape.connectors.sandbox import Sandbox
from tests import hostile_code
from tests.infra import ROOT
from tests.sandbox_hosts import (
    SERVICE_UID,
    SITE_PACKAGES,
    InProcess,
    Request,
    Unprivileged,
    context,
    processes_left,
    with_marker,
)

SECRET = f"flowtape-test-secret-{secrets.token_hex(8)}"
DATABASE_PASSWORD = f"db-password-{secrets.token_hex(8)}"
#: Python packages Debian installed beside the system interpreter, where there are any
DEBIAN_PACKAGES = [name for name in ("yaml", "jwt") if Path(f"/usr/lib/python3/dist-packages/{name}").is_dir()]


@pytest.fixture(scope="module", params=["root", "unprivileged"])
def host(request: pytest.FixtureRequest) -> InProcess | Unprivileged:
    return InProcess() if request.param == "root" else Unprivileged()


@pytest.fixture(autouse=True)
def service_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a real connectors process holds in its environment (both hosts hand it to the service)."""
    monkeypatch.setenv("FLOWTAPE_SECRET_KEY", SECRET)
    monkeypatch.setenv("FLOWTAPE_DATABASE_URL", f"postgresql://flowtape:{DATABASE_PASSWORD}@127.0.0.1:5432/flowtape")
    monkeypatch.setenv("FLOWTAPE_AMQP_URL", f"amqp://flowtape:{DATABASE_PASSWORD}@127.0.0.1:5672/")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A service data directory with an auth database in it, owned by the unprivileged service user."""
    path = Path(tempfile.mkdtemp(prefix="flowtape-data-"))
    (path / "auth.db").write_text(f"signing key sealed with {SECRET}")
    for item in (path, path / "auth.db"):
        os.chown(item, SERVICE_UID, SERVICE_UID)
    path.chmod(0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def tcp_server() -> Iterator[int]:
    """A local TCP server accepting connections: something on the host's loopback the code must not reach."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        server.close()


async def test_code_sees_nothing_of_the_services_environment(host: InProcess | Unprivileged) -> None:
    out = (await host.run(Request(hostile_code.ENVIRON, [{"service_pid": "self"}]))).item

    assert out["environ"][str(out["service_pid"])] == "FileNotFoundError"
    for pid, environ in out["environ"].items():
        for secret in (SECRET, DATABASE_PASSWORD, "FLOWTAPE_"):
            assert secret not in environ, f"/proc/{pid}/environ holds {secret}"
    assert out["pids"] == [1, 2]  # bwrap's init and the code: nothing of the host
    assert sorted(out["own"]) == ["HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"]


async def test_code_cannot_see_the_services_files(host: InProcess | Unprivileged, data_dir: Path) -> None:
    private = [
        str(data_dir),
        str(data_dir / "auth.db"),
        str(ROOT),
        sys.prefix,
        SITE_PACKAGES,
        "/etc/shadow",
        "/etc/passwd",
        "/home",
        "/var",
        "/run",
        "/var/run/postgresql",
    ]

    out = (await host.run(Request(hostile_code.FILES, [{"paths": private}]))).item

    for path, seen in out["seen"].items():
        assert seen in ("absent", "PermissionError"), f"the code saw {path}: {seen}"
        if not path.startswith("/proc/1/root"):
            assert seen == "absent", path
    assert set(out["etc"]) <= {"ld.so.cache", "localtime"}
    assert not {"home", "var", "run", "srv", "opt", "mnt", "media", "work"} & set(out["root"])


async def test_packages_beside_the_interpreter_cannot_be_imported(host: InProcess | Unprivileged) -> None:
    service_packages = ["cryptography", "joserfc", "flowtape.common", "pydantic", "sqlalchemy"]
    assert all(importlib.util.find_spec(name) for name in service_packages)  # the service has them
    debian_packages = DEBIAN_PACKAGES
    paths = [SITE_PACKAGES, "/usr/lib/python3/dist-packages"]
    standard_library = ["sqlite3", "ssl", "zoneinfo", "json", "asyncio"]

    out = (
        await host.run(
            Request(
                hostile_code.IMPORTS,
                [{"modules": service_packages + debian_packages + standard_library, "paths": paths}],
            )
        )
    ).item

    assert out["imports"] == {
        **{name: "ModuleNotFoundError" for name in service_packages + debian_packages},
        **{name: "imported" for name in standard_library},
    }


async def test_code_has_no_network(host: InProcess | Unprivileged, tcp_server: int) -> None:
    targets = [["127.0.0.1", 5432], ["127.0.0.1", 5672], ["127.0.0.1", tcp_server]]
    for address, port in targets:
        socket.create_connection((address, port), timeout=5).close()  # the service can

    out = (await host.run(Request(hostile_code.CONNECT, [{"targets": targets}]))).item

    assert out["interfaces"] == ["lo"]
    assert out["connect"] == {f"{address}:{port}": "ConnectionRefusedError" for address, port in targets}


async def test_network_when_the_operator_and_the_workflow_allow_it(
    host: InProcess | Unprivileged, tcp_server: int
) -> None:
    request = Request(
        hostile_code.CONNECT,
        [{"targets": [["127.0.0.1", tcp_server]]}],
        workflow_settings={"code_network": True},
        network_allowed=True,
    )

    out = (await host.run(request)).item

    assert out["connect"] == {f"127.0.0.1:{tcp_server}": "connected"}


async def test_network_the_operator_does_not_allow_is_a_node_error(host: InProcess | Unprivileged) -> None:
    request = Request(hostile_code.HEALTHY, [{"n": 1}], workflow_settings={"code_network": True})

    outcome = await host.run(request)

    assert outcome.error == (
        "the workflow's settings.code_network asks for network access, which this platform does not give code "
        "nodes (an operator allows it with FLOWTAPE_CODE_NETWORK=per_workflow)"
    )


async def test_code_runs_as_its_own_user(host: InProcess | Unprivileged) -> None:
    marker = f"0.{secrets.randbelow(10**12)}"
    running = asyncio.ensure_future(host.run(Request(hostile_code.WATCHED_CHILD, [{"marker": marker}])))
    seen: list[Any] = []
    while not running.done() and not seen:
        seen = [process.uids() for process in with_marker(marker)]
        await asyncio.sleep(0.05)

    out = (await running).item

    assert out["uid"] in host.seen_uids
    assert seen and all(uids.real in host.code_uids and uids.effective == uids.real for uids in seen)
    assert with_marker(marker) == []


async def test_a_fork_bomb_does_not_take_the_processes_of_a_run_beside_it(host: InProcess | Unprivileged) -> None:
    """Each run counts its own processes: a bomb at its limit leaves the run next to it room to start."""
    code, params, error = hostile_code.BOMBS["fork bomb"]
    bomb = asyncio.ensure_future(host.run(Request(code, params=params)))
    await asyncio.sleep(0.5)  # the bomb is at its limit by now
    healthy = "function run(items) { return items.map((item) => ({ n: item.n + 1 })); }"
    beside = await host.run(Request(healthy, [{"n": 1}], params={"language": "javascript"}))

    assert beside.items == [{"n": 2}], beside.error
    assert (await bomb).error == error


async def test_processes_the_code_leaves_behind_end_with_it(host: InProcess | Unprivileged) -> None:
    """A setsid child and a double-forked grandchild: a process-group kill misses both."""
    marker = f"0.{secrets.randbelow(10**12)}"

    out = (await host.run(Request(hostile_code.ESCAPE, [{"marker": marker}]))).item

    assert out["running"] == 2
    assert with_marker(marker) == []


async def test_kernel_interfaces_beyond_the_filter_are_refused(host: InProcess | Unprivileged) -> None:
    numbers = seccomp.syscall_numbers()
    assert numbers is not None, "the seccomp filter has no table for this architecture"

    out = (await host.run(Request(hostile_code.SYSCALLS, [{"numbers": numbers}]))).item

    assert out["seen"] == {
        "unshare(CLONE_NEWUSER)": "EPERM",
        "unshare(CLONE_NEWNS)": "EPERM",
        "mount": "EPERM",
        "keyctl": "EPERM",
        "bpf": "EPERM",
        "io_uring_setup": "EPERM",
        "perf_event_open": "EPERM",
        "ptrace": "EPERM",
        "thread, fork and exec": 0,
    }


@pytest.mark.parametrize("bomb", list(hostile_code.BOMBS))
async def test_bombs_are_the_nodes_error_and_the_sandbox_works_afterwards(
    host: InProcess | Unprivileged, bomb: str
) -> None:
    code, params, error = hostile_code.BOMBS[bomb]
    since = time.time()

    outcome = await host.run(Request(code, params=params))

    assert outcome.error == error
    assert processes_left(host.code_uids, since) == []
    healthy = await host.run(Request(hostile_code.HEALTHY, [{"n": 1}]))
    assert healthy.items == [{"n": 2}]


async def test_private_tmp_is_writable_and_bounded(host: InProcess | Unprivileged) -> None:
    code = """
import os

def run(items):
    with open("/tmp/scratch", "w") as scratch:
        scratch.write("kept for the run")
    with open("/tmp/scratch") as scratch:
        kept = scratch.read()
    try:
        with open("/tmp/huge", "wb") as huge:
            for _ in range(100):
                huge.write(b"x" * 1024 * 1024)
        bounded = False
    except OSError:
        bounded = True
    return [{"kept": kept, "bounded": bounded, "host_tmp": sorted(os.listdir("/tmp"))}]
"""
    out = (await host.run(Request(code))).item

    assert out == {"kept": "kept for the run", "bounded": True, "host_tmp": ["huge", "scratch"]}


async def test_without_bwrap_the_code_node_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    node = CodeNode(Sandbox(NamespaceIsolation()))

    with pytest.raises(NodeError) as failure:
        await execute_node(node, {"code": hostile_code.HEALTHY}, context(), [{"n": 1}])

    assert failure.value.message == (
        "code nodes cannot run here: bubblewrap (bwrap) is not installed: install bubblewrap (`apt-get install "
        "bubblewrap`, version 0.8 or newer) and allow user namespaces (see docs/security.md), or set "
        "FLOWTAPE_CODE_ISOLATION=process to run code without isolation (only for trusted code)"
    )


async def test_where_namespaces_cannot_be_made_the_code_node_refuses() -> None:
    """The unprivileged service inside a user namespace that may not create another (as a locked-down
    container is): bwrap is there but cannot build the sandbox."""
    uid = str(SERVICE_UID)
    locked = Unprivileged(
        as_user=[
            "bwrap",
            "--unshare-user",
            "--disable-userns",
            "--uid",
            uid,
            "--gid",
            uid,
            "--dev-bind",
            "/",
            "/",
            "--",
        ]
    )

    outcome = await locked.run(Request(hostile_code.HEALTHY, [{"n": 1}]))

    assert outcome.items is None
    assert outcome.error is not None
    assert outcome.error.startswith("code nodes cannot run here: bwrap cannot create the sandbox here (bwrap: ")
    assert "apt-get install bubblewrap" in outcome.error
    assert "FLOWTAPE_CODE_ISOLATION=process" in outcome.error


async def test_process_isolation_is_an_explicit_opt_in() -> None:
    outcome = await InProcess().run(Request(hostile_code.HEALTHY, [{"n": 1}], isolation="process"))

    assert outcome.items == [{"n": 2}]


async def test_javascript_sees_nothing_of_the_service_and_leaves_nothing_behind(
    host: InProcess | Unprivileged, data_dir: Path, tcp_server: int
) -> None:
    marker = f"0.{secrets.randbelow(10**12)}"
    probe = {
        "service_pid": "self",
        "paths": [
            str(data_dir),
            str(data_dir / "auth.db"),
            str(ROOT),
            sys.prefix,
            "/run",
            "/home",
            "/usr/lib/node_modules",
        ],
        "targets": [["127.0.0.1", 5432], ["127.0.0.1", 5672], ["127.0.0.1", tcp_server]],
        "marker": marker,
    }

    out = (await host.run(Request(hostile_code.JAVASCRIPT, [probe], params={"language": "javascript"}))).item

    assert out["environ"][str(out["service_pid"])] == "ENOENT"
    for pid, environ in out["environ"].items():
        for secret in (SECRET, DATABASE_PASSWORD, "FLOWTAPE_"):
            assert secret not in environ, f"/proc/{pid}/environ holds {secret}"
    assert out["seen"] == dict.fromkeys(probe["paths"], "absent") | {"/usr/lib/node_modules": "listed: "}
    assert set(out["connected"].values()) == {"ECONNREFUSED"}
    assert out["uid"] in host.seen_uids
    assert out["running"] == 1
    assert with_marker(marker) == []


@pytest.mark.parametrize("bomb", list(hostile_code.JAVASCRIPT_BOMBS))
async def test_javascript_bombs_are_the_nodes_error(host: InProcess | Unprivileged, bomb: str) -> None:
    code, params, error = hostile_code.JAVASCRIPT_BOMBS[bomb]
    since = time.time()

    outcome = await host.run(Request(code, params={"language": "javascript", **params}))

    assert outcome.error == error
    assert processes_left(host.code_uids, since) == []
    healthy = "function run(items) { return items.map((item) => ({ n: item.n + 1 })); }"
    assert (await host.run(Request(healthy, [{"n": 1}], params={"language": "javascript"}))).items == [{"n": 2}]
