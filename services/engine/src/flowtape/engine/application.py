"""The engine's application layer: what its bus handlers call, built once by :mod:`flowtape.engine.bootstrap`.

Each part is a set of verbs over the logs and read models, in the module named for its concern (runs'
commands, queries and time travel, workflows, pauses, bulk replays, quotas, operations); :class:`Engine`
gathers them, so :mod:`flowtape.engine.bus` takes one object and the wiring between the parts is written once.
Crash recovery and the partitions' ownership are not here: they run on their own, not on a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowtape.engine.bulk_replays import BulkReplays
from flowtape.engine.catalog import NodeCatalog
from flowtape.engine.commands import ExecutionCommands
from flowtape.engine.dead_letters import DeadLetters
from flowtape.engine.pauses import RunPauses
from flowtape.engine.queries import ExecutionQueries
from flowtape.engine.quotas import Quotas
from flowtape.engine.rebuild import Rebuilds
from flowtape.engine.retention import Retention
from flowtape.engine.workflows import Workflows


@dataclass(frozen=True)
class Engine:
    #: what happens to one run: start, cancel, retry, replay, task outcomes, calls (on its partition's owner)
    commands: ExecutionCommands
    #: runs as they stand or stood at any event, lists, events, replay checks (any replica)
    queries: ExecutionQueries
    workflows: Workflows
    #: the node types the connectors announced
    catalog: NodeCatalog
    pauses: RunPauses
    bulk_replays: BulkReplays
    quotas: Quotas
    #: operations: read models rebuilt, dead letters kept and replayed, retention
    rebuilds: Rebuilds
    dead_letters: DeadLetters
    retention: Retention
