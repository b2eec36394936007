"""Workflow static data: a small key-value store per workflow, kept across its runs and written through a log.

Each workflow's store is an event-sourced aggregate (:class:`WorkflowData`, in the workflows' event store), so
every change is recorded and the store can be read as it stood at any time. Executions are partitioned over
engine replicas but a workflow's store is not: two runs on two replicas may change it at once, so every
``static_data`` node runs as one optimistic transaction — its changes are saved in one event against the
version it read, and a save that meets a newer version (another replica's change) runs the node again on the
store as it now is. No increment is lost and none counted twice.

A node's run is idempotent per attempt: the store remembers the outcome of its latest operations by task key,
so a run dispatched again after a crash (its outcome saved here, not yet in the execution's log) gets the
same outcome instead of incrementing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from flowtape.common.errors import NodeError
from flowtape.common.limits import json_size
from flowtape.common.nodes.control import MAX_STATIC_DATA_BYTES, MAX_STATIC_DATA_KEYS
from flowtape.common.nodes.sdk import NodeContext, NodeResult, NodeType, execute_node
from flowtape.engine.store import LogWriter

log = logging.getLogger("flowtape.engine")

Items = list[dict[str, Any]]
_DATA_IDS = UUID("5b0e4d8c-2f7a-4c1e-8b6d-9a3f1e2c7d40")
#: operations whose outcome is remembered for a repeat of the same attempt
REMEMBERED = 256
#: saves tried before a node fails for a store that keeps changing under it
ATTEMPTS = 8


def data_id(workflow_id: str) -> UUID:
    return uuid5(_DATA_IDS, workflow_id)


class WorkflowData(Aggregate):
    @event("WorkflowDataCreated")
    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self.values: dict[str, Any] = {}
        self.recent: OrderedDict[str, dict[str, Items]] = OrderedDict()

    @classmethod
    def new(cls, workflow_id: str) -> WorkflowData:
        created: WorkflowData = cls._create(cls.WorkflowDataCreated, id=data_id(workflow_id), workflow_id=workflow_id)  # type: ignore[attr-defined]
        return created

    @event("StaticDataChanged")
    def change(self, task: str, values: dict[str, Any], deleted: list[str], ports: dict[str, Items]) -> None:
        """One node attempt's changes (keys set, keys deleted) and the outcome it gave its run."""
        self.values.update(values)
        for key in deleted:
            self.values.pop(key, None)
        self.recent[task] = ports
        while len(self.recent) > REMEMBERED:
            self.recent.popitem(last=False)


class Transaction:
    """What a static_data node sees while it runs: the store with its own changes applied, saved all at once."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)
        self.changed: dict[str, Any] = {}
        self.deleted: set[str] = set()

    def get(self, key: str) -> Any:
        return self._values.get(key)

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value
        self.changed[key] = value
        self.deleted.discard(key)

    def delete(self, key: str) -> Any:
        previous = self._values.pop(key, None)
        self.changed.pop(key, None)
        self.deleted.add(key)
        return previous

    def increment(self, key: str, by: float) -> float:
        current = self._values.get(key, 0)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise NodeError(f"key {key!r} holds {type(current).__name__}, not a number: it cannot be incremented")
        total = current + by
        if isinstance(current, int) and float(by).is_integer():
            total = int(total)
        self.set(key, total)
        return total

    def check(self) -> None:
        if len(self._values) > MAX_STATIC_DATA_KEYS:
            raise NodeError(f"a workflow's static data holds at most {MAX_STATIC_DATA_KEYS} keys")
        if json_size(self._values, MAX_STATIC_DATA_BYTES) > MAX_STATIC_DATA_BYTES:
            raise NodeError(f"a workflow's static data holds at most {MAX_STATIC_DATA_BYTES // 1024} KiB of JSON")


class StaticDataStore:
    """Runs ``static_data`` nodes against their workflow's store (see the module docstring)."""

    def __init__(self, app: Application[Any], writer: LogWriter) -> None:
        self._app = app
        self._writer = writer
        self._cache: dict[str, WorkflowData] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(
        self, node: NodeType[Any], params: dict[str, Any], ctx: NodeContext, items: Items, task: str
    ) -> NodeResult:
        workflow_id = ctx.workflow_id
        async with self._locks.setdefault(workflow_id, asyncio.Lock()):
            for _ in range(ATTEMPTS):
                data = await self._load(workflow_id)
                remembered = data.recent.get(task)
                if remembered is not None:
                    return NodeResult(remembered)
                transaction = Transaction(data.values)
                result = await execute_node(node, params, replace(ctx, static_data=transaction), items)
                if not transaction.changed and not transaction.deleted:
                    return result  # reads only: nothing to save, nothing to repeat differently
                transaction.check()
                data.change(task, transaction.changed, sorted(transaction.deleted), result.ports)
                try:
                    await self._writer.save(data)
                except IntegrityError:
                    self._cache.pop(workflow_id, None)  # another replica changed it: read it again
                    continue
                except Exception:
                    self._cache.pop(workflow_id, None)
                    raise
                self._cache[workflow_id] = data
                return result
        raise NodeError(f"the static data of workflow {workflow_id} kept changing while this node ran; try again")

    async def values(self, workflow_id: str) -> dict[str, Any]:
        async with self._locks.setdefault(workflow_id, asyncio.Lock()):
            return dict((await self._load(workflow_id)).values)

    async def _load(self, workflow_id: str) -> WorkflowData:
        """The store as this replica last saw it, brought up to date with what others saved since."""
        cached = self._cache.get(workflow_id)
        if cached is None:
            try:
                loaded: WorkflowData = await asyncio.to_thread(self._app.repository.get, data_id(workflow_id))
            except AggregateNotFoundError:
                return WorkflowData.new(workflow_id)
            self._cache[workflow_id] = loaded
            return loaded
        newer = await asyncio.to_thread(lambda: list(self._app.events.get(cached.id, gt=cached.version)))
        current: Any = cached
        for stored in newer:
            current = stored.mutate(current)  # type: ignore[attr-defined]
        return current  # type: ignore[no-any-return]
