"""Bus handlers of the connectors: node tasks (competing consumers) and catalog queries."""

from __future__ import annotations

from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.messages.connectors import CancelNodeTasks, GetNodeCatalog, RunNodeTask
from flowtape.common.topology import CONNECTORS_QUERIES_QUEUE, CONNECTORS_TASKS_QUEUE, cancel_tasks_broadcast
from flowtape.connectors.application import NodeRunner


def subscribe(bus: Bus, runner: NodeRunner, concurrency: int, replica: str) -> None:
    async def run(task: RunNodeTask) -> None:
        completed = await runner.handle(task)
        if completed is not None:
            await bus.publish(completed)

    async def cancel(command: CancelNodeTasks) -> None:
        runner.cancel(command.execution_id)

    async def catalog(_: GetNodeCatalog) -> Any:
        return runner.catalog()

    bus.subscribe(CONNECTORS_TASKS_QUEUE, {RunNodeTask: run}, prefetch=concurrency)
    bus.subscribe(CONNECTORS_QUERIES_QUEUE, {GetNodeCatalog: catalog}, prefetch=4)
    bus.subscribe(cancel_tasks_broadcast(replica), {CancelNodeTasks: cancel}, prefetch=16)
