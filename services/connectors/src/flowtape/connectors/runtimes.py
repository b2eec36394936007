"""The languages a ``code`` node runs, each as a program for :mod:`flowtape.connectors.isolation`: the
interpreter, the runner that speaks the sandbox's protocol, and what of the host the interpreter needs.

- Python is the interpreter the service itself runs on, but only its standard library: ``-I -S`` keeps
  site-packages off ``sys.path`` and every package directory is hidden in the sandbox, so neither the
  service's virtual environment nor anything installed beside the interpreter can be imported. Its runner
  sets its own rlimits.
- JavaScript is the machine's Node.js with its built-in modules only (global module directories hidden).
  Node cannot set rlimits on itself, so ``prlimit`` sets them before it starts; ``memory_mb`` bounds the
  JavaScript heap, and the address space is that plus the ~700 MB V8 reserves up front.
"""

from __future__ import annotations

import functools
import glob
import shutil
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flowtape.connectors.isolation import Program

_PACKAGE_DIRS = ("site-packages", "dist-packages")
#: where Debian and source builds keep Python packages outside the interpreter's own prefix
_SYSTEM_PACKAGE_GLOBS = ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages")
#: where npm and Debian keep Node.js packages that ``require`` could otherwise find
_NODE_PACKAGE_DIRS = ("/usr/lib/node_modules", "/usr/local/lib/node_modules", "/usr/share/nodejs", "/usr/lib/nodejs")
#: address space V8 reserves before any code runs (measured: Node 20 starts from ~700 MB)
NODE_BASE_ADDRESS_SPACE = 1024 * 1024 * 1024
NODE_OPEN_FILES = 64  # Node holds ~20 descriptors of its own


class LanguageUnavailable(Exception):
    """The interpreter for a language is not installed here."""


@dataclass(frozen=True)
class RunLimits:
    memory_bytes: int
    cpu_seconds: int
    #: processes and threads (RLIMIT_NPROC); None: not limited
    max_processes: int | None
    max_file_bytes: int


class Runtime(Protocol):
    language: str
    #: threads the interpreter starts by itself: a process limit of 0 would keep it from starting
    threads: int

    def program(self, limits: RunLimits) -> Program: ...


@dataclass(frozen=True)
class PythonRuntime:
    language = "python"
    threads = 1
    run: Program
    probe: Program

    def program(self, limits: RunLimits) -> Program:
        return self.run  # the runner reads the limits from its payload and sets them itself


@dataclass(frozen=True)
class NodeRuntime:
    language = "javascript"
    threads = 8
    node: str
    prlimit: str
    runner: str
    paths: tuple[Path, ...]
    hidden: tuple[Path, ...]

    def program(self, limits: RunLimits) -> Program:
        memory_mb = max(1, limits.memory_bytes // (1024 * 1024))
        rlimits = [
            f"--as={NODE_BASE_ADDRESS_SPACE + limits.memory_bytes}",
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
            f"--nofile={NODE_OPEN_FILES}",
            f"--fsize={limits.max_file_bytes}",
            "--core=0",
        ]
        if limits.max_processes is not None:
            rlimits.append(f"--nproc={limits.max_processes}")
        node = [self.node, f"--max-old-space-size={memory_mb}", "--v8-pool-size=1", "-e", self.runner]
        # the runner reports on descriptor 3; what the code writes to 1 goes to stderr, the logs
        shell = ("/bin/sh", "-c", 'exec 3>&1 1>&2 && exec "$@"', "flowtape-code")
        return Program(argv=(*shell, self.prlimit, *rlimits, "--", *node), paths=self.paths, hidden=self.hidden)


@functools.cache
def python_runtime() -> PythonRuntime:
    runner = (Path(__file__).parent / "sandbox_runner.py").read_text(encoding="utf-8")
    executable = python_executable()
    return PythonRuntime(
        run=_python_program(executable, ("-I", "-S", "-B", "-c", runner)),
        probe=_python_program(executable, ("-I", "-S", "-B", "-c", "pass")),
    )


def node_runtime() -> NodeRuntime:
    """Node.js from PATH; :class:`LanguageUnavailable` when it (or prlimit) is not installed."""
    node, prlimit = shutil.which("node"), shutil.which("prlimit")
    if node is None:
        raise LanguageUnavailable(
            "JavaScript code nodes need Node.js, which is not installed here: install it (`apt-get install nodejs`)"
        )
    if prlimit is None:
        raise LanguageUnavailable("JavaScript code nodes need prlimit (util-linux), which is not installed here")
    return _node_runtime(node, prlimit)


@functools.cache
def _node_runtime(node: str, prlimit: str) -> NodeRuntime:
    runner = (Path(__file__).parent / "sandbox_runner.js").read_text(encoding="utf-8")
    real = Path(node).resolve()
    prefix = real.parent.parent
    hidden = {Path(path) for path in _NODE_PACKAGE_DIRS} | {prefix / "lib" / "node_modules"}
    return NodeRuntime(
        node=str(real),
        prlimit=prlimit,
        runner=runner,
        paths=(real, Path(prlimit).resolve()),
        hidden=tuple(sorted(hidden)),
    )


def runtime_for(language: str) -> Runtime:
    if language == "javascript":
        return node_runtime()
    return python_runtime()


def python_executable() -> Path:
    """The base interpreter (never a virtual environment's copy or link), at its real path."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / version
    if candidate.exists():
        return candidate
    return Path(getattr(sys, "_base_executable", sys.executable)).resolve()


def _python_program(executable: Path, arguments: tuple[str, ...]) -> Program:
    stdlib = Path(sysconfig.get_path("stdlib"))
    paths = [executable, stdlib]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        library = Path(str(sysconfig.get_config_var("LIBDIR"))) / str(sysconfig.get_config_var("INSTSONAME"))
        if library.exists():
            paths.append(library)
    hidden = {stdlib / name for name in _PACKAGE_DIRS}
    hidden.update(Path(path) for pattern in _SYSTEM_PACKAGE_GLOBS for path in glob.glob(pattern))
    hidden.update(Path(path) for path in site.getsitepackages())
    if sys.prefix != sys.base_prefix:
        hidden.add(Path(sys.prefix))  # the service's virtual environment, should it lie under a bound tree
    return Program(argv=(str(executable), *arguments), paths=tuple(paths), hidden=tuple(sorted(hidden)))
