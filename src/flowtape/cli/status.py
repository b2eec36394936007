"""``flowtape admin status``: every service replica of a running platform, asked over the bus.

The command asks on RabbitMQ (a broadcast every replica hears), collects the answers for a moment, and reads
the depth and consumers of the platform's queues. Exit codes, for scripts and probes: 0 all ready, 1 degraded
(a service missing or a replica not ready), 2 the broker or the database unreachable.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.table import Table

from flowtape.common.messages.base import decode
from flowtape.common.messages.ops import ReplicaStatus, StatusAsked
from flowtape.common.settings import SERVICES, Settings
from flowtape.common.topology import route_of, work_queues

console = Console()
READY, DEGRADED, UNREACHABLE = 0, 1, 2
#: how long replicas are given to answer
ANSWER_SECONDS = 2.0
REPORTED = {"service", "replica", "version", "ready", "checks", "partitions"}


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def _database_problem(url: str | None) -> str | None:
    if not url or not url.startswith(("postgresql", "postgres")):
        return None  # SQLite files: nothing to reach
    import asyncpg

    plain = url.replace("postgresql+asyncpg://", "postgresql://").replace("postgresql+psycopg://", "postgresql://")
    try:
        connection = await asyncpg.connect(plain, timeout=5)
    except Exception as exc:
        return (
            f"cannot reach the database at {_redacted(url)} ({type(exc).__name__}: {exc}); is PostgreSQL running "
            "and is FLOWTAPE_DATABASE_URL right?"
        )
    await connection.close()
    return None


async def gather(amqp_url: str, database_url: str | None) -> dict[str, Any]:
    """The platform as it answers now (see the module docstring for ``state``)."""
    import aio_pika

    report: dict[str, Any] = {"state": "ready", "problems": [], "replicas": [], "queues": []}
    try:
        connection = await asyncio.wait_for(aio_pika.connect(amqp_url), timeout=10)
    except Exception as exc:
        report["state"] = "unreachable"
        report["problems"].append(
            f"cannot reach RabbitMQ at {_redacted(amqp_url)} ({type(exc).__name__}: {exc}); is it running and is "
            "FLOWTAPE_AMQP_URL right (user, password, virtual host)?"
        )
        return report
    async with connection:
        channel = await connection.channel()
        replies = await channel.declare_queue(f"ops.status.{uuid.uuid4().hex[:12]}", exclusive=True, auto_delete=True)
        asked = StatusAsked(reply_queue=replies.name)
        route = route_of(asked)
        exchange = await channel.get_exchange(route.exchange, ensure=False)
        await exchange.publish(
            aio_pika.Message(asked.encode(), content_type="application/json", type=asked.type_name),
            routing_key=route.routing_key,
        )
        deadline = time.monotonic() + ANSWER_SECONDS
        while time.monotonic() < deadline:
            message = await replies.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            status = decode(message.body)
            if isinstance(status, ReplicaStatus):
                report["replicas"].append(status.model_dump(mode="json", include=REPORTED))
        for spec in work_queues():
            queue_channel = await connection.channel()
            try:
                declared = await queue_channel.declare_queue(spec.name, passive=True)
            except Exception:
                report["queues"].append({"queue": spec.name, "messages": None, "consumers": None})
                continue
            result = declared.declaration_result
            report["queues"].append(
                {"queue": spec.name, "messages": result.message_count, "consumers": result.consumer_count}
            )
            await queue_channel.close()
    problem = await _database_problem(database_url)
    if problem is not None:
        report["state"] = "unreachable"
        report["problems"].append(problem)
        return report
    report["replicas"].sort(key=lambda r: (r["service"], r["replica"]))
    answered = {r["service"] for r in report["replicas"]}
    for service in SERVICES:
        if service not in answered:
            report["problems"].append(f"no replica of {service} answered: start it (flowtape serve {service})")
    for replica in report["replicas"]:
        if not replica["ready"]:
            failing = ", ".join(name for name, ok in replica["checks"].items() if not ok)
            report["problems"].append(
                f"{replica['service']} replica {replica['replica']} is not ready ({failing}); see its log"
            )
    if report["problems"]:
        report["state"] = "degraded"
    return report


def _print(report: dict[str, Any]) -> None:
    replicas = Table(title=f"Flowtape: {report['state']}")
    for column in ("service", "replica", "version", "ready", "partitions"):
        replicas.add_column(column)
    for replica in report["replicas"]:
        partitions = replica.get("partitions")
        replicas.add_row(
            replica["service"],
            replica["replica"],
            replica["version"],
            "yes" if replica["ready"] else "NO: " + ", ".join(k for k, ok in replica["checks"].items() if not ok),
            "" if partitions is None else f"{len(partitions)} ({', '.join(map(str, partitions))})",
        )
    if report["replicas"]:
        console.print(replicas)
    if report["queues"]:
        queues = Table(title="queues")
        for column in ("queue", "messages", "consumers"):
            queues.add_column(column)
        for queue in report["queues"]:
            if queue["messages"] is None:
                queues.add_row(queue["queue"], "missing", "")
            else:
                queues.add_row(queue["queue"], str(queue["messages"]), str(queue["consumers"]))
        console.print(queues)
    for problem in report["problems"]:
        console.print(f"[red]{problem}[/]")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    wait: Annotated[float, typer.Option("--wait", help="ask again until ready, for up to this many seconds")] = 0.0,
) -> None:
    """Every service replica with its version, readiness, partitions, and the queues' depths (exit 0 ready,
    1 degraded, 2 broker or database unreachable)."""
    settings = Settings()
    amqp_url = settings.amqp_url or "amqp://guest:guest@127.0.0.1:5672/"
    deadline = time.monotonic() + wait
    while True:
        report = asyncio.run(gather(amqp_url, settings.database_url))
        if report["state"] == "ready" or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print(report)
    raise typer.Exit(code={"ready": READY, "degraded": DEGRADED, "unreachable": UNREACHABLE}[report["state"]])
