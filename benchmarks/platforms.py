"""The platform under test, started for one benchmark and torn down after it.

Distributed: the five services as separate OS processes on a private RabbitMQ vhost and PostgreSQL database
(the same ``tests/infra.py`` context managers the end-to-end tests use). Embedded: ``flowtape up`` on a
temporary data directory. Both listen on 127.0.0.1 only, and both yield a :class:`Target` that names the
gateway URL and the process id of every service, so that memory can be read and profilers attached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.infra import FLOWTAPE, SERVICES, Platform, free_port, postgres_database, rabbitmq_vhost, wait_ready

START_TIMEOUT = 180.0


@dataclass
class Target:
    mode: str
    url: str
    #: service name -> pid of the process that runs it ("embedded" -> the one process)
    pids: dict[str, int]
    logs: list[Path]

    def memory_mb(self) -> dict[str, tuple[float, float]]:
        """(RSS, USS) per service process in MB, children included (e.g. a code sandbox still running).

        RSS counts every resident page, shared library pages included; USS only the pages no other process
        shares, i.e. what stopping the service would give back.
        """
        result: dict[str, tuple[float, float]] = {}
        for name, pid in self.pids.items():
            process = psutil.Process(pid)
            rss = uss = 0
            for member in [process, *process.children(recursive=True)]:
                try:
                    info = member.memory_full_info()
                except psutil.NoSuchProcess:
                    continue
                rss += info.rss
                uss += getattr(info, "uss", info.rss)
            result[name] = (rss / 2**20, uss / 2**20)
        return result

    def tail_logs(self, chars: int = 3000) -> str:
        parts = []
        for log in self.logs:
            if log.exists():
                parts.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


BYTECODE_CACHE = Path(tempfile.gettempdir()) / "flowtape-bench-pycache"
#: what the services import at start-up (the rest is compiled into the cache on first use)
WARM_IMPORTS = (
    "flowtape.cli.main",
    "flowtape.cli.hosts",
    "flowtape.common.bus.memory",
    "flowtape.common.bus.rabbit",
    "flowtape.common.expressions",
    *(f"flowtape.{service}.bootstrap" for service in SERVICES),
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_impl",
    "uvicorn.lifespan.on",
    "uvicorn.loops.uvloop",
)


def use_bytecode_cache() -> None:
    """Let the services load compiled bytecode, as the production image does (it compiles at build time).

    The development shell may set PYTHONDONTWRITEBYTECODE, and then every service start compiles ~1000
    modules from source: seconds of CPU per process and a few MB more RSS. The compiled files go to a cache
    outside the repository (PYTHONPYCACHEPREFIX), warmed here by importing what the services import.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(BYTECODE_CACHE)
    script = (
        "import importlib\n"
        f"for name in {WARM_IMPORTS!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        pass\n"
    )
    subprocess.run([sys.executable, "-c", script], env=_clean_env(), capture_output=True, timeout=300, check=False)


#: the embedded platform's settings beside its defaults (the distributed one takes tests/infra.py's)
EMBEDDED_SETTINGS = {
    # the http_request scenario calls the benchmark's own echo server on 127.0.0.1
    "FLOWTAPE_EGRESS_ALLOW": "127.0.0.1",
    # one client signed in as one admin sends far more than the default 1200 requests a minute: a load test
    # measures the platform, not its abuse limits (the distributed platform raises them the same way)
    "FLOWTAPE_RATE_LIMIT_API": "1000000/minute",
    "FLOWTAPE_RATE_LIMIT_ANONYMOUS": "1000000/minute",
    "FLOWTAPE_RATE_LIMIT_WEBHOOK": "1000000/minute",
}


def _clean_env() -> dict[str, str]:
    """The caller's environment without FLOWTAPE_* settings: the platform runs with its defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}


def _keep(directory: Path | None, logs: list[Path], mode: str) -> None:
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for log in logs:
        if log.exists():
            shutil.copyfile(log, directory / f"{mode}-{log.name}")


@contextmanager
def distributed(keep_logs: Path | None = None) -> Iterator[Target]:
    with (
        tempfile.TemporaryDirectory(prefix="flowtape-bench-") as tmp,
        rabbitmq_vhost("flowtape-bench") as amqp_url,
        postgres_database("flowtape_bench") as database_url,
    ):
        platform = Platform(amqp_url=amqp_url, database_url=database_url, workdir=Path(tmp))
        target: Target | None = None
        try:
            # start_all() with a longer wait: five interpreters importing at once on a busy 2-core machine
            for service in SERVICES:
                platform.start(service)
            for process in platform.processes.values():
                wait_ready(process.url, timeout=START_TIMEOUT, process=process.popen)
            target = Target(
                mode="distributed",
                url=platform.gateway,
                pids={name: p.popen.pid for name, p in platform.processes.items()},
                logs=[p.log for p in platform.processes.values()],
            )
            yield target
        except BaseException:
            print(platform.logs(), file=sys.stderr)
            raise
        finally:
            platform.stop_all()
            _keep(keep_logs, [p.log for p in platform.processes.values()], "distributed")


@contextmanager
def embedded(keep_logs: Path | None = None) -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="flowtape-bench-embedded-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = workdir / "embedded.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [FLOWTAPE, "up", "--data-dir", str(workdir / "data"), "--port", str(port), "--host", "127.0.0.1"],
                env={**_clean_env(), **EMBEDDED_SETTINGS},
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=workdir,  # no stray .env from the caller's directory
            )
        target = Target(mode="embedded", url=url, pids={"embedded": process.pid}, logs=[log])
        try:
            wait_ready(url, timeout=START_TIMEOUT, process=process)
            yield target
        except BaseException:
            print(target.tail_logs(), file=sys.stderr)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _keep(keep_logs, [log], "embedded")


PLATFORMS = {"embedded": embedded, "distributed": distributed}
