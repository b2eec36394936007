"""Where user code runs: inside Linux namespaces that bubblewrap sets up, or (an operator's explicit choice) as a
plain child process.

    namespaces (default)  ``bwrap``: its own user id (65534), PID, mount, network, IPC and UTS namespaces; a
                          read-only file system of the host's ``/usr`` and the interpreter's standard library
                          only (package directories hidden), a private size-bounded ``/tmp``, an empty
                          environment; every process it starts dies with it (the PID namespace ends with it)
    process               a child process in its own session with rlimits: it runs as the service's user, sees
                          its files and its network. For trusted code on machines without user namespaces.

As root, bwrap sets up the namespaces itself and ``setpriv`` drops the code to uid 65534 (host uid 65534, no
capabilities). As any other user, bwrap uses an unprivileged user namespace in which the code is uid 65534
and may not create further user namespaces. :meth:`NamespaceIsolation.probe` tries it once, so a machine
without bwrap or without user namespaces is found at start-up and the ``code`` node says what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from flowtape.connectors import seccomp

IsolationMode = Literal["namespaces", "process"]
#: the code's user id inside its own user namespace (the service not root)
SANDBOX_UID = 65534
#: with the service as root, each run's code is a host user id of its own, from a block per service process:
#: the kernel counts processes per user (RLIMIT_NPROC), so a shared id would let one run's fork bomb, another
#: replica's runs or the browser node's Chromium (65534) use up every other run's processes
SANDBOX_UID_FIRST = 1_000_000
UIDS_PER_PROCESS = 256
#: the uids this process's runs hold now (whichever isolation object launched them)
_UIDS_IN_USE: set[int] = set()
SANDBOX_HOSTNAME = "flowtape-code"
#: size of the private /tmp; files there are also bounded by RLIMIT_FSIZE
TMP_BYTES = 64 * 1024 * 1024
#: processes and threads one run may have at once (RLIMIT_NPROC); a fork bomb stops there
MAX_PROCESSES = 16
PROBE_TIMEOUT_SECONDS = 20.0
#: how long a killed run's namespace may take to empty before its bwrap is killed too
STOP_SECONDS = 5.0
INSTALL_HINT = (
    "install bubblewrap (`apt-get install bubblewrap`, version 0.8 or newer) and allow user namespaces "
    "(see docs/security.md), or set FLOWTAPE_CODE_ISOLATION=process to run code without isolation "
    "(only for trusted code)"
)
_SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: host files a program may read: the dynamic linker's cache and the time zone
_ETC_ALWAYS = ("/etc/ld.so.cache", "/etc/localtime")
#: and, with network access, what name resolution and TLS need
_ETC_NETWORK = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
)


@dataclass(frozen=True)
class Program:
    """What to run and what of the host's file system it needs beyond ``/usr``."""

    argv: tuple[str, ...]
    #: files and directories bound read-only at the same path (an interpreter living outside /usr)
    paths: tuple[Path, ...] = ()
    #: directories replaced by an empty one where they are visible (package directories)
    hidden: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    #: argv is bwrap: its child is the init of the run's PID namespace (whose end ends every process there),
    #: and an exit status of 128 + N means the code died of signal N
    in_namespaces: bool = False
    #: descriptors the child inherits (the seccomp filter bwrap reads)
    pass_fds: tuple[int, ...] = ()


class Isolation(Protocol):
    mode: IsolationMode
    #: processes and threads a run may have (RLIMIT_NPROC); 0: it may not fork
    max_processes: int
    #: whether the kernel counts those per machine (every run's, as uid 65534) rather than per run
    processes_counted_per_machine: bool
    #: how large a file the code may write (RLIMIT_FSIZE); 0: none
    max_file_bytes: int

    def describe(self) -> str:
        """One line for the start-up log: what the code is kept from."""
        ...

    def launch(self, program: Program, *, network: bool) -> AbstractContextManager[Launch]: ...

    async def probe(self, program: Program) -> str | None:
        """None when ``program`` can run here; else what is wrong and what to do."""
        ...


def sandbox_uids(pid: int | None = None) -> range:
    """The host user ids the runs of the service process ``pid`` (this one by default) take as root; PIDs are
    unique on a host, so blocks never overlap (the largest is about 1.07e9, below the 2**32 - 1 limit)."""
    first = SANDBOX_UID_FIRST + ((pid or os.getpid()) % 2**22) * UIDS_PER_PROCESS
    return range(first, first + UIDS_PER_PROCESS)


def isolation_for(mode: IsolationMode) -> Isolation:
    return NamespaceIsolation() if mode == "namespaces" else ProcessIsolation()


def _environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


class ProcessIsolation:
    """The weaker mode: a child process of the service's user, in a fresh temporary directory."""

    mode: IsolationMode = "process"
    max_processes = 0
    processes_counted_per_machine = False
    max_file_bytes = 0

    def describe(self) -> str:
        return (
            "code nodes run as plain child processes (FLOWTAPE_CODE_ISOLATION=process): they run as this "
            "service's user and can read its files and use its network; use it for trusted code only"
        )

    @contextmanager
    def launch(self, program: Program, *, network: bool) -> Iterator[Launch]:
        with tempfile.TemporaryDirectory(prefix="flowtape-code-") as workdir:
            env = _environment(workdir)
            env["PATH"] = os.environ.get("PATH", os.defpath)
            yield Launch(list(program.argv), env, workdir)

    async def probe(self, program: Program) -> str | None:
        return None


@dataclass
class NamespaceIsolation:
    """bubblewrap around each run; ``bwrap`` and ``setpriv`` are looked up on PATH unless given."""

    bwrap: str | None = None
    setpriv: str | None = None
    #: the code's uid in its user namespace (the service not root); as root each run takes its own host uid
    uid: int = SANDBOX_UID
    tmp_bytes: int = TMP_BYTES
    max_processes: int = MAX_PROCESSES
    mode: IsolationMode = field(default="namespaces", init=False)

    def __post_init__(self) -> None:
        self.bwrap = self.bwrap or shutil.which("bwrap")
        self.setpriv = self.setpriv or shutil.which("setpriv")

    def describe(self) -> str:
        how = "bwrap sets up the namespaces as root" if self.as_root else "in an unprivileged user namespace"
        return (
            f"code nodes run isolated (FLOWTAPE_CODE_ISOLATION=namespaces): {self.bwrap}, as {self._whom()}, "
            f"{how}; own PID, mount, network, IPC and UTS namespaces, read-only /usr, private /tmp"
        )

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    #: each run is a user of its own (a host uid as root, a user namespace otherwise): counted per run
    processes_counted_per_machine = False

    def _whom(self) -> str:
        if self.as_root:
            uids = sandbox_uids()
            return f"a host uid of its own per run ({uids.start}-{uids.stop - 1})"
        return f"uid {self.uid}"

    @contextmanager
    def _run_uid(self) -> Iterator[int]:
        """A uid no other run of this process has now; given back when the run's namespace is gone."""
        if not self.as_root:
            yield self.uid
            return
        uid = next((uid for uid in sandbox_uids() if uid not in _UIDS_IN_USE), None)
        if uid is None:
            raise RuntimeError(f"more than {UIDS_PER_PROCESS} code runs at once in one process")
        _UIDS_IN_USE.add(uid)
        try:
            yield uid
        finally:
            _UIDS_IN_USE.discard(uid)

    @property
    def max_file_bytes(self) -> int:
        return self.tmp_bytes

    @contextmanager
    def launch(self, program: Program, *, network: bool) -> Iterator[Launch]:
        with _seccomp_filter() as filter_fd, self._run_uid() as uid:
            fds = () if filter_fd is None else (filter_fd,)
            argv = self.command(program, network=network, seccomp_fd=filter_fd, uid=uid)
            yield Launch(argv, _environment("/tmp"), "/", in_namespaces=True, pass_fds=fds)

    def command(
        self, program: Program, *, network: bool, seccomp_fd: int | None = None, uid: int | None = None
    ) -> list[str]:
        """``uid``: the host uid the code drops to as root (the probe's and tests' default: the first one)."""
        if self.bwrap is None:
            raise FileNotFoundError("bwrap")
        uid_text = str(self.uid)
        host_uid = str(uid if uid is not None else sandbox_uids().start)
        argv = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not network:
            argv.append("--unshare-net")
        if not self.as_root:
            argv += ["--unshare-user", "--disable-userns", "--uid", uid_text, "--gid", uid_text]
        argv += ["--die-with-parent", "--new-session", "--hostname", SANDBOX_HOSTNAME]
        argv += _file_system(program, network=network, tmp_bytes=self.tmp_bytes)
        argv += ["--chdir", "/", "--clearenv"]
        for name, value in _environment("/tmp").items():
            argv += ["--setenv", name, value]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        argv.append("--")
        if self.as_root:
            if self.setpriv is None:
                raise FileNotFoundError("setpriv")
            argv += [
                self.setpriv,
                f"--reuid={host_uid}",
                f"--regid={host_uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
        return argv + list(program.argv)

    async def probe(self, program: Program) -> str | None:
        if self.bwrap is None:
            return f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
        if self.as_root and self.setpriv is None:
            return f"setpriv (util-linux) is not installed, needed to drop root for user code: {INSTALL_HINT}"
        with self.launch(program, network=False) as launch:
            try:
                process = await spawn(launch)
            except OSError as exc:
                return f"bwrap cannot be started ({exc}): {INSTALL_HINT}"
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                    _, stderr = await process.communicate()
            except TimeoutError:
                return f"bwrap did not finish a trial run within {PROBE_TIMEOUT_SECONDS:g} s: {INSTALL_HINT}"
            finally:
                await stop(process, launch)
        if process.returncode != 0:
            said = stderr.decode(errors="replace").strip()[-500:] or f"exit status {process.returncode}"
            return f"bwrap cannot create the sandbox here ({said}): {INSTALL_HINT}"
        return None


@contextmanager
def _seccomp_filter() -> Iterator[int | None]:
    """A descriptor holding the :mod:`seccomp <flowtape.connectors.seccomp>` filter, None where there is none."""
    compiled = seccomp.program()
    if compiled is None:
        yield None
        return
    fd = os.memfd_create("flowtape-seccomp", 0)
    try:
        os.write(fd, compiled)
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def _file_system(program: Program, *, network: bool, tmp_bytes: int) -> list[str]:
    """bwrap operations for a root of: /usr, the program's paths, a few /etc files, /proc, /dev and /tmp."""
    ops = ["--ro-bind", "/usr", "/usr"]
    bound = [Path("/usr")]
    made: set[Path] = {Path("/")}

    def parents(path: Path) -> list[str]:
        # bwrap makes missing parents 0700 when run as root: make them traversable first
        created: list[str] = []
        for parent in reversed(path.parents):
            if parent in made or any(parent.is_relative_to(tree) for tree in bound):
                continue
            made.add(parent)
            created += ["--perms", "0755", "--dir", str(parent)]
        return created

    for name in _SYSTEM_DIRS:
        path = Path("/") / name
        if path.is_symlink():
            ops += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            ops += ["--ro-bind", str(path), str(path)]
            bound.append(path)
    etc = _ETC_ALWAYS + (_ETC_NETWORK if network else ())
    for path in [*program.paths, *(Path(name) for name in etc)]:
        if not path.exists() or any(path.is_relative_to(tree) for tree in bound):
            continue
        ops += parents(path)
        ops += ["--ro-bind", str(path), str(path)]
        bound.append(path)
    for path in program.hidden:
        if path.is_dir() and any(path.is_relative_to(tree) for tree in bound):
            ops += ["--tmpfs", str(path), "--remount-ro", str(path)]
    ops += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    ops += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    return [*ops, "--remount-ro", "/"]


async def spawn(launch: Launch) -> asyncio.subprocess.Process:
    """Start the run's process; cancelled meanwhile, it is stopped (with its namespace) before re-raising."""
    spawning = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            start_new_session=True,
            pass_fds=launch.pass_fds,
        )
    )
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await stop(await spawning, launch)
        raise


async def stop(process: asyncio.subprocess.Process, launch: Launch) -> None:
    """Kill what is left of a run and wait for it: in namespaces its PID namespace's init first, since bwrap
    exits only once that init and so every process of the namespace are gone; then the session the run
    started in (in process mode that reaps whatever the code forked without leaving it)."""
    if launch.in_namespaces:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                while process.returncode is None:
                    killed = _kill_inits(process.pid)
                    if killed is None:
                        break  # no /proc/PID/task/PID/children here: the group kill below must do
                    if killed:
                        await process.wait()
                    else:
                        await asyncio.sleep(0.01)  # bwrap has not started the namespace's init yet
    _kill_group(process.pid)
    if process.returncode is None:
        await process.wait()


def kill(process: asyncio.subprocess.Process, launch: Launch) -> None:
    """SIGKILL the run now, without waiting (:func:`stop` waits)."""
    if not (launch.in_namespaces and _kill_inits(process.pid)):
        _kill_group(process.pid)


def _kill_inits(pid: int) -> bool | None:
    """SIGKILL the children of ``pid`` (bwrap's: the namespace's init): whether there were any, None when the
    kernel cannot tell."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(child), signal.SIGKILL)
    return bool(children)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
