"""Every exchange, queue and routing key of Flowtape, declared once.

Services never spell a routing key: they publish a message and :func:`route_of` finds where it goes, and
they subscribe to a :class:`QueueSpec` from this module. Durable queues are quorum queues with a dead-letter
exchange and a delivery limit, so a message that keeps failing ends in ``flowtape.dead-letters``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowtape.common.messages import connectors, engine
from flowtape.common.messages.base import Message

COMMANDS = "flowtape.commands"
EVENTS = "flowtape.events"
DEAD_LETTERS = "flowtape.dead-letters"
DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class Route:
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class QueueSpec:
    """A durable, shared queue (competing consumers) bound to one exchange by one routing key pattern.

    ``broadcast`` queues are the opposite: one private, transient queue per process, for notifications
    every replica must see (e.g. each gateway replica waiting on its own clients' executions).
    """

    name: str
    exchange: str
    binding: str
    broadcast: bool = False
    delivery_limit: int = DELIVERY_LIMIT
    #: request queues are classic (no quorum fsync on the query path): a requester that gets no reply
    #: retries or reports, so the message need not outlive a broker restart
    quorum: bool = True


ENGINE_REQUESTS = Route(COMMANDS, "engine.requests")
CONNECTORS_TASKS = Route(COMMANDS, "connectors.tasks")
CONNECTORS_QUERIES = Route(COMMANDS, "connectors.queries")
TASK_COMPLETED = Route(EVENTS, "connectors.task.completed")
CATALOG_PUBLISHED = Route(EVENTS, "connectors.catalog.published")
EXECUTION_FINISHED = Route(EVENTS, "engine.execution.finished")

_ROUTES: dict[type[Message], Route] = {
    engine.CreateWorkflow: ENGINE_REQUESTS,
    engine.UpdateWorkflow: ENGINE_REQUESTS,
    engine.DeleteWorkflow: ENGINE_REQUESTS,
    engine.SetWorkflowActive: ENGINE_REQUESTS,
    engine.GetWorkflow: ENGINE_REQUESTS,
    engine.ListWorkflows: ENGINE_REQUESTS,
    engine.ListWorkflowVersions: ENGINE_REQUESTS,
    engine.StartExecution: ENGINE_REQUESTS,
    engine.GetExecution: ENGINE_REQUESTS,
    engine.GetExecutionEvents: ENGINE_REQUESTS,
    engine.ListExecutions: ENGINE_REQUESTS,
    engine.ExecutionFinished: EXECUTION_FINISHED,
    connectors.RunNodeTask: CONNECTORS_TASKS,
    connectors.GetNodeCatalog: CONNECTORS_QUERIES,
    connectors.NodeTaskCompleted: TASK_COMPLETED,
    connectors.NodeCatalogPublished: CATALOG_PUBLISHED,
}


def route_of(message: Message | type[Message]) -> Route:
    cls = message if isinstance(message, type) else type(message)
    try:
        return _ROUTES[cls]
    except KeyError:
        raise LookupError(f"{cls.__name__} has no route in flowtape.common.topology") from None


def _queue(route: Route, name: str | None = None, *, quorum: bool = True) -> QueueSpec:
    return QueueSpec(name=name or route.routing_key, exchange=route.exchange, binding=route.routing_key, quorum=quorum)


ENGINE_REQUESTS_QUEUE = _queue(ENGINE_REQUESTS, quorum=False)
ENGINE_TASK_RESULTS_QUEUE = _queue(TASK_COMPLETED, "engine.task-results")
ENGINE_CATALOG_QUEUE = _queue(CATALOG_PUBLISHED, "engine.catalog")
CONNECTORS_TASKS_QUEUE = _queue(CONNECTORS_TASKS)
CONNECTORS_QUERIES_QUEUE = _queue(CONNECTORS_QUERIES, quorum=False)
DEAD_LETTER_QUEUE = QueueSpec(name=DEAD_LETTERS, exchange=DEAD_LETTERS, binding="#")


def execution_finished_broadcast(replica: str) -> QueueSpec:
    return QueueSpec(
        name=f"gateway.{replica}.execution-finished",
        exchange=EVENTS,
        binding=EXECUTION_FINISHED.routing_key,
        broadcast=True,
    )
