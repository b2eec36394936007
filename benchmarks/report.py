"""The results table (rich on a terminal, markdown with ``--markdown``), the targets, and the machine."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from benchmarks.profile import Hotspots

MET = "met"
NOT_MET = "NOT met"
NA = "n/a"


@dataclass
class Row:
    mode: str
    scenario: str
    runs: str = ""
    p50: str = ""
    p99: str = ""
    mean: str = ""
    rate: str = ""
    rss: str = ""
    target: str = ""
    verdict: str = ""
    notes: str = ""


NUMERIC = {"runs", "p50", "p99", "mean", "rate", "rss"}
COLUMNS = (
    ("mode", "mode"),
    ("scenario", "scenario"),
    ("runs", "runs ok/err"),
    ("p50", "p50 ms"),
    ("p99", "p99 ms"),
    ("mean", "mean ms"),
    ("rate", "exec/s"),
    ("rss", "RSS MB"),
    ("target", "target"),
    ("verdict", "verdict"),
    ("notes", "notes"),
)


@dataclass
class CpuRow:
    mode: str
    executions: int
    per_service_ms: dict[str, float]  # CPU ms per execution
    client_ms: float
    postgres_ms: float  # every PostgreSQL process, machine-wide
    rabbitmq_ms: float  # RabbitMQ (beam.smp), machine-wide
    busy: float  # share of the machine's CPUs busy during the phase, anyone's work
    others: float  # share of the machine's CPUs used by processes other than ours, PostgreSQL and RabbitMQ
    wall: float


@dataclass
class Report:
    options: str
    rows: list[Row] = field(default_factory=list)
    cpu: list[CpuRow] = field(default_factory=list)
    hotspots: dict[str, list[Hotspots]] = field(default_factory=dict)  # mode -> per service
    failures: list[str] = field(default_factory=list)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    if ok is None:
        return NA
    return MET if ok else NOT_MET


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "code": _revision(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{model}, {os.cpu_count()} logical CPUs (nproc)",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load": "load average at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _revision() -> str:
    """The commit measured, and whether the platform's code had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "libs", "services", "src", "pyproject.toml", "uv.lock"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not commit:
        return "unknown (no git)"
    return f"{commit} + uncommitted changes" if dirty else commit


def print_rich(report: Report, info: dict[str, str]) -> None:
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(f"[bold]Flowtape benchmarks[/] — {info['date']} — {info['cpu']}, {info['memory']} RAM")
    console.print(f"[dim]code {info['code']}; {report.options}; {info['load']}[/]")
    table = Table()
    shown = [(key, title) for key, title in COLUMNS if key != "notes"]
    for key, title in shown:
        table.add_column(title, justify="right" if key in NUMERIC else "left", overflow="fold")
    notes: list[str] = []
    for row in report.rows:
        colour = {MET: "green", NOT_MET: "red"}.get(row.verdict, "dim")
        cells = [getattr(row, key) for key, _ in shown]
        cells[[key for key, _ in shown].index("verdict")] = f"[{colour}]{row.verdict}[/]"
        if row.notes:
            notes.append(row.notes)
            cells[1] += f" [{len(notes)}]"
        table.add_row(*cells)
    console.print(table)
    for i, note in enumerate(notes, 1):
        console.print(f"  [{i}] {note}", highlight=False, markup=False)
    if report.cpu:
        cpu = Table(title="CPU per execution in the concurrent phase (ms of CPU time, user+system)")
        services = _services(report)
        for title in _cpu_header(services):
            cpu.add_column(title, justify="left" if title == "mode" else "right", overflow="fold")
        for entry in report.cpu:
            cpu.add_row(*_cpu_cells(entry, services))
        console.print(cpu)
    for mode, spots in report.hotspots.items():
        for spot in spots:
            if not spot.samples:
                continue
            hot = Table(title=f"py-spy, {mode} / {spot.service}: {spot.samples} samples (non-idle)")
            hot.add_column("own time: file:function", overflow="fold")
            hot.add_column("share", justify="right")
            hot.add_column("inclusive (Flowtape code)", overflow="fold")
            hot.add_column("share", justify="right")
            for i in range(max(len(spot.own), len(spot.inclusive))):
                own = spot.own[i] if i < len(spot.own) else ("", None)
                inc = spot.inclusive[i] if i < len(spot.inclusive) else ("", None)
                hot.add_row(own[0], _pct(own[1]), inc[0], _pct(inc[1]))
            console.print(hot)
            console.print("  by package: " + ", ".join(f"{name} {_pct(share)}" for name, share in spot.packages))
    for failure in report.failures:
        console.print(f"[red]{failure}[/]")


def _pct(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.0f}%"


def _services(report: Report) -> list[str]:
    names: list[str] = []
    for entry in report.cpu:
        for name in entry.per_service_ms:
            if name not in names:
                names.append(name)
    return names


def _cpu_cells(entry: CpuRow, services: list[str]) -> list[str]:
    cells = [entry.mode]
    cells += [fmt(entry.per_service_ms.get(name), 2) if name in entry.per_service_ms else "" for name in services]
    cells.append(fmt(sum(entry.per_service_ms.values()), 2))
    cells.append(fmt(entry.client_ms, 2))
    cells.append(fmt(entry.postgres_ms, 2))
    cells.append(fmt(entry.rabbitmq_ms, 2))
    cells.append(f"{entry.busy * 100:.0f}%")
    cells.append(f"{entry.others * 100:.0f}%")
    return cells


def _cpu_header(services: list[str]) -> list[str]:
    return [
        "mode",
        *services,
        "all services",
        "load generator",
        "PostgreSQL (machine-wide)",
        "RabbitMQ (machine-wide)",
        "machine CPU busy",
        "of which other processes",
    ]


def _md_table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---:" if i in right else "---" for i in range(len(header))) + " |")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: Report, info: dict[str, str]) -> str:
    out = [
        f"Flowtape benchmarks — {info['date']}",
        "",
        f"- code: {info['code']}",
        f"- machine: {info['cpu']}, {info['memory']} RAM, {info['os']}, Python {info['python']}",
        f"- {info['load']}",
        f"- options: {report.options}",
        "",
    ]
    right = {i for i, (key, _) in enumerate(COLUMNS) if key in NUMERIC}
    out.append(
        _md_table(
            [title for _, title in COLUMNS],
            [[getattr(row, key) for key, _ in COLUMNS] for row in report.rows],
            right,
        )
    )
    if report.cpu:
        services = _services(report)
        out += ["", "CPU per execution in the concurrent phase (ms of CPU time, user+system):", ""]
        header = _cpu_header(services)
        out.append(_md_table(header, [_cpu_cells(e, services) for e in report.cpu], set(range(1, len(header)))))
    for mode, spots in report.hotspots.items():
        for spot in spots:
            if not spot.samples:
                continue
            out += ["", f"py-spy, {mode} / {spot.service}: {spot.samples} samples (non-idle)", ""]
            rows = []
            for i in range(max(len(spot.own), len(spot.inclusive))):
                own = spot.own[i] if i < len(spot.own) else ("", None)
                inc = spot.inclusive[i] if i < len(spot.inclusive) else ("", None)
                rows.append(
                    [f"`{own[0]}`" if own[0] else "", _pct(own[1]), f"`{inc[0]}`" if inc[0] else "", _pct(inc[1])]
                )
            out.append(
                _md_table(["own time: file:function", "share", "inclusive (Flowtape code)", "share"], rows, {1, 3})
            )
            out += ["", "by package (own time): " + ", ".join(f"{n} {_pct(s)}" for n, s in spot.packages)]
    for failure in report.failures:
        out += ["", f"**failure:** {failure}"]
    return "\n".join(out) + "\n"
