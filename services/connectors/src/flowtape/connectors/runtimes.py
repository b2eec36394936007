"""The languages a ``code`` node runs, each as a program for :mod:`flowtape.connectors.isolation`: the
interpreter, the runner that speaks the sandbox's protocol, and what of the host the interpreter needs.

Python is the interpreter the service itself runs on, but only its standard library: ``-I -S`` keeps
site-packages off ``sys.path`` and every package directory is hidden in the sandbox, so neither the
service's virtual environment nor anything installed beside the interpreter can be imported.
"""

from __future__ import annotations

import functools
import glob
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from flowtape.connectors.isolation import Program

_PACKAGE_DIRS = ("site-packages", "dist-packages")
#: where Debian and source builds keep Python packages outside the interpreter's own prefix
_SYSTEM_PACKAGE_GLOBS = ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages")


@dataclass(frozen=True)
class Runtime:
    language: str
    program: Program


@functools.cache
def python_runtime() -> Runtime:
    runner = (Path(__file__).parent / "sandbox_runner.py").read_text(encoding="utf-8")
    executable = python_executable()
    return Runtime("python", _python_program(executable, ("-I", "-S", "-B", "-c", runner)))


def python_probe() -> Program:
    """The interpreter starting and exiting at once: what the isolation's trial run executes."""
    return _python_program(python_executable(), ("-I", "-S", "-B", "-c", "pass"))


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
