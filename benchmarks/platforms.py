"""The platform under test, started for one benchmark and torn down after it.

Distributed: the five services as separate OS processes on a private RabbitMQ vhost and PostgreSQL database
(the same ``tests/infra.py`` context managers the end-to-end tests use). Embedded: ``flowtape up`` on a
temporary data directory. Both listen on 127.0.0.1 only, and both yield a :class:`Target` that names the
gateway URL and the process id of every service, so that memory can be read and profilers attached.
"""

from __future__ import annotations

import os
import subprocess
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

    def rss_mb(self) -> dict[str, float]:
        """Resident memory per service process, children included (e.g. a code sandbox still running)."""
        result: dict[str, float] = {}
        for name, pid in self.pids.items():
            process = psutil.Process(pid)
            total = process.memory_info().rss
            for child in process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            result[name] = total / (1024 * 1024)
        return result

    def tail_logs(self, chars: int = 3000) -> str:
        parts = []
        for log in self.logs:
            if log.exists():
                parts.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)


def _clean_env() -> dict[str, str]:
    """The caller's environment without FLOWTAPE_* settings: the platform runs with its defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}


@contextmanager
def distributed() -> Iterator[Target]:
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
            print(platform.logs())
            raise
        finally:
            platform.stop_all()


@contextmanager
def embedded() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="flowtape-bench-embedded-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = workdir / "embedded.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [FLOWTAPE, "up", "--data-dir", str(workdir / "data"), "--port", str(port), "--host", "127.0.0.1"],
                env=_clean_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=workdir,  # no stray .env from the caller's directory
            )
        target = Target(mode="embedded", url=url, pids={"embedded": process.pid}, logs=[log])
        try:
            wait_ready(url, timeout=START_TIMEOUT, process=process)
            yield target
        except BaseException:
            print(target.tail_logs())
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


PLATFORMS = {"embedded": embedded, "distributed": distributed}
