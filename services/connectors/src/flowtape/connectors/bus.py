"""Bus handlers of the connectors: node tasks (competing consumers) and catalog queries."""

from __future__ import annotations

from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.messages.connectors import GetNodeCatalog, RunNodeTask
from flowtape.common.topology import CONNECTORS_QUERIES_QUEUE, CONNECTORS_TASKS_QUEUE
from flowtape.connectors.application import NodeRunner


def subscribe(bus: Bus, runner: NodeRunner, concurrency: int) -> None:
    async def run(task: RunNodeTask) -> None:
        await bus.publish(await runner.run(task))

    async def catalog(_: GetNodeCatalog) -> Any:
        return runner.catalog()

    bus.subscribe(CONNECTORS_TASKS_QUEUE, {RunNodeTask: run}, prefetch=concurrency)
    bus.subscribe(CONNECTORS_QUERIES_QUEUE, {GetNodeCatalog: catalog}, prefetch=4)
