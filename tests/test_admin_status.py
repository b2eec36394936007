"""``flowtape admin status`` against the platform as separate processes: every replica with its version,
readiness and partitions, the queues' depths, and exit codes scripts can rely on (0 ready, 1 degraded,
2 broker or database unreachable)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowtape.common.topology import ENGINE_PARTITIONS
from tests.infra import FLOWTAPE, Platform, free_port, running_platform, wait_ready


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    workdir: Path = tmp_path_factory.mktemp("status")
    with running_platform(workdir, "flowtape-status", "flowtape_status") as platform:
        yield platform


def status(platform: Platform, *args: str, **env: str) -> tuple[int, str, str]:
    environment = platform.env("cli", 0)
    environment.update(env)
    done = subprocess.run(
        [FLOWTAPE, "admin", "status", *args], env=environment, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def test_a_ready_platform_reports_every_replica(platform: Platform) -> None:
    code, out, err = status(platform, "--json", "--wait", "30")
    report: dict[str, Any] = json.loads(out)
    assert code == 0, (out, err)
    assert report["state"] == "ready" and report["problems"] == []
    services = sorted(r["service"] for r in report["replicas"])
    assert services == ["auth", "connectors", "engine", "gateway", "triggers"]
    for replica in report["replicas"]:
        assert replica["ready"] is True and replica["checks"]["broker"] is True
        assert replica["version"] and replica["version"] != "unknown"
    (engine,) = [r for r in report["replicas"] if r["service"] == "engine"]
    assert sorted(engine["partitions"]) == list(range(ENGINE_PARTITIONS))
    queues = {q["queue"]: q for q in report["queues"]}
    assert queues["connectors.tasks"]["consumers"] >= 1
    assert queues["engine.partition.00"]["consumers"] == 1
    assert queues["flowtape.dead-letters"]["messages"] is not None

    code, out, _ = status(platform)  # the table for a terminal
    assert code == 0 and "connectors" in out and "engine.partition.31" in out


def test_a_missing_service_is_degraded_and_says_what_to_do(platform: Platform) -> None:
    platform.stop("connectors")
    try:
        code, out, _ = status(platform, "--json")
        report = json.loads(out)
        assert code == 1 and report["state"] == "degraded"
        assert report["problems"] == ["no replica of connectors answered: start it (flowtape serve connectors)"]
    finally:
        process = platform.start("connectors")
        wait_ready(process.url, process=process.popen)
    assert status(platform, "--wait", "30")[0] == 0


def test_an_unreachable_broker_or_database_exits_2_with_a_message(platform: Platform) -> None:
    nowhere = free_port()
    code, out, _ = status(platform, "--json", FLOWTAPE_AMQP_URL=f"amqp://guest:secret-pw@127.0.0.1:{nowhere}/")
    report = json.loads(out)
    assert code == 2 and report["state"] == "unreachable"
    (problem,) = report["problems"]
    assert problem.startswith(f"cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:{nowhere}/")
    assert "FLOWTAPE_AMQP_URL" in problem and "secret-pw" not in out

    code, out, _ = status(
        platform, "--json", FLOWTAPE_DATABASE_URL=f"postgresql://postgres:secret-pw@127.0.0.1:{nowhere}/flowtape"
    )
    report = json.loads(out)
    assert code == 2 and report["state"] == "unreachable"
    assert any("cannot reach the database" in p and "FLOWTAPE_DATABASE_URL" in p for p in report["problems"])
    assert "secret-pw" not in out
