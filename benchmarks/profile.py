"""Where the time goes: CPU seconds per service during a phase, and optional py-spy sampling profiles.

``--profile DIR`` attaches ``py-spy record`` (sampling, non-blocking, idle threads excluded) to every service
process for the sequential and the concurrent chain phases and writes one collapsed-stack file per phase and
service into DIR (``<mode>-<phase>-<service>.txt``, for flame graph tools), and the report summarises each:
the hottest functions by own time, Flowtape's functions by inclusive time, and own time by package.

py-spy is a development tool, not a dependency: ``uv pip install py-spy`` into the venv (a later ``uv sync``
removes it again) or put it on PATH. Profiling costs CPU on a small machine, so the numbers of a profiled run
are not the ones to quote.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process (and its children, live or reaped) has used so far."""
    result: dict[str, float] = {}
    for name, pid in pids.items():
        times = psutil.Process(pid).cpu_times()
        result[name] = times.user + times.system + times.children_user + times.children_system
    return result


INFRA_NAMES = ("postgres", "beam.smp")


def infra_cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds of every PostgreSQL and RabbitMQ process on the machine (shared with anyone else's load),
    each with its process name."""
    result: dict[int, tuple[str, float]] = {}
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] in INFRA_NAMES:
                times = process.cpu_times()
                # the postmaster's children_* hold the time of backends that have exited
                seconds = times.user + times.system + times.children_user + times.children_system
                result[process.pid] = (process.info["name"], seconds)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return result


def infra_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds used between two readings, per process name (``postgres``, ``beam.smp``)."""
    used = dict.fromkeys(INFRA_NAMES, 0.0)
    for pid, (name, seconds) in after.items():
        used[name] += max(0.0, seconds - before.get(pid, (name, 0.0))[1])
    return used


def machine_busy(before: Any, after: Any) -> tuple[float, float]:
    """Share of all CPUs busy between two ``psutil.cpu_times()`` readings (anyone's work, not only ours),
    and the CPU seconds the machine had in that time (wall time x CPUs)."""
    fields = [f for f in after._fields if f not in ("guest", "guest_nice")]  # already counted in user/nice
    total = sum(getattr(after, f) - getattr(before, f) for f in fields)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
    return (1 - idle / total if total > 0 else 0.0), total


def own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


@dataclass
class Recorder:
    """py-spy record on each pid until :meth:`stop`; one collapsed-stack file per service."""

    directory: Path
    pids: dict[str, int]
    label: str
    rate: int = 100
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def start(self) -> None:
        binary = py_spy()
        if binary is None:
            raise RuntimeError("--profile needs py-spy: `uv pip install py-spy` (or put it on PATH)")
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            out = self.directory / f"{self.label}-{name}.txt"
            log = (self.directory / f"{self.label}-{name}.py-spy.log").open("wb")
            self.files[name] = out
            self.processes[name] = subprocess.Popen(
                [
                    binary,
                    "record",
                    "--pid",
                    str(pid),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--rate",
                    str(self.rate),
                    "--nonblocking",
                    "--full-filenames",
                    "--subprocesses",
                    "--duration",
                    "900",  # an upper bound only: stop() ends it
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        time.sleep(1.0)  # let the samplers attach before the load starts

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Hotspots:
    service: str
    samples: int
    own: list[tuple[str, float]]  # "file:function" -> share of samples spent in that frame itself
    inclusive: list[tuple[str, float]]  # Flowtape's own functions -> share of samples with it on the stack
    packages: list[tuple[str, float]]  # own time grouped by package


def _where(file: str) -> str:
    """A short, stable name for a source file: flowtape/..., <package>/..., or the stdlib module."""
    path = file.replace("\\", "/")
    if "/flowtape/" in path:
        return "flowtape/" + path.rsplit("/flowtape/", 1)[1]
    if "site-packages/" in path:
        return path.rsplit("site-packages/", 1)[1]
    match = re.search(r"python3\.\d+/(.*)$", path)
    return match.group(1) if match else path


def _package(where: str) -> str:
    parts = where.split("/")
    if parts[0] == "flowtape" and len(parts) > 1:
        return "flowtape." + parts[1].removesuffix(".py")
    if parts[0].endswith(".py"):
        return "stdlib:" + parts[0].removesuffix(".py")
    if len(parts) > 1 and parts[0] in {"asyncio", "json", "logging", "concurrent", "email", "http", "urllib"}:
        return "stdlib:" + parts[0]
    return parts[0]


def summarize(service: str, path: Path, top: int = 8) -> Hotspots:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [f for f in stack.split(";") if f]
            # the first frame is "process <pid>:..." or "thread ..." with --subprocesses/threads; skip non-frames
            frames = [f for f in frames if _FRAME.match(f)]
            if not frames:
                continue
            samples += count
            leaf = _FRAME.match(frames[-1])
            assert leaf is not None
            where = _where(leaf.group("file"))
            own[f"{where}:{leaf.group('func')}"] += count
            packages[_package(where)] += count
            seen = set()
            for frame in frames:
                match = _FRAME.match(frame)
                assert match is not None
                frame_where = _where(match.group("file"))
                if frame_where.startswith("flowtape/") and "/cli/" not in frame_where:
                    seen.add(f"{frame_where}:{match.group('func')}")
            for name in seen:
                inclusive[name] += count
    if samples == 0:
        return Hotspots(service, 0, [], [], [])

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / samples) for name, n in counter.most_common(top)]

    return Hotspots(service, samples, shares(own), shares(inclusive), shares(packages))
