"""Every exchange, queue and routing key of Flowtape, declared once.

Services never spell a routing key: they publish a message and :func:`route_of` finds where it goes, and
they subscribe to a :class:`QueueSpec` from this module. Durable queues are quorum queues with a dead-letter
exchange and a delivery limit, so a message that keeps failing ends in ``flowtape.dead-letters``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowtape.common.messages import auth, backups, connectors, engine, ops, pins, triggers, variables
from flowtape.common.messages.base import Message

COMMANDS = "flowtape.commands"
#: executions are spread over this many partitions, each decided by one engine replica at a time. Fixed:
#: every service routes by it, and changing it would move running executions to other partitions
ENGINE_PARTITIONS = 32
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
    #: deliveries are not decoded as Flowtape messages but wrapped in a ``RoutedMessage`` (with the exchange
    #: and routing key they came by); such a queue gets further bindings at run time (``Bus.bind``)
    routed: bool = False


ENGINE_REQUESTS = Route(COMMANDS, "engine.requests")
CONNECTORS_TASKS = Route(COMMANDS, "connectors.tasks")
TRIGGERS_REQUESTS = Route(COMMANDS, "triggers.requests")
CONNECTORS_QUERIES = Route(COMMANDS, "connectors.queries")
CONNECTORS_CREDENTIALS = Route(COMMANDS, "connectors.credentials")
TASK_COMPLETED = Route(EVENTS, "connectors.task.completed")
CATALOG_PUBLISHED = Route(EVENTS, "connectors.catalog.published")
EXECUTION_FINISHED = Route(EVENTS, "engine.execution.finished")
#: the finish of a run whose start's reply answered its caller: no gateway replica waits for it
EXECUTION_ANSWERED = Route(EVENTS, "engine.execution.finished.answered")
#: every finish, answered or not: what execution triggers listen to (bound only while one exists)
EVERY_EXECUTION_FINISHED = "engine.execution.finished.#"
AUTH_REQUESTS = Route(COMMANDS, "auth.requests")
AUTH_AUDIT = Route(COMMANDS, "auth.audit")
AUTH_KEYS_PUBLISHED = Route(EVENTS, "auth.keys.published")
AUTH_USER_CHANGED = Route(EVENTS, "auth.access.user-changed")
AUTH_API_KEY_REVOKED = Route(EVENTS, "auth.access.api-key-revoked")
AUTH_SESSIONS_REVOKED = Route(EVENTS, "auth.access.sessions-revoked")
AUTH_MEMBERSHIPS_CHANGED = Route(EVENTS, "auth.access.memberships-changed")
TRIGGERS_CHANGED = Route(EVENTS, "triggers.registrations.changed")
CANCEL_TASKS = Route(EVENTS, "engine.tasks.cancelled")
WORKFLOW_CHANGED = Route(EVENTS, "engine.workflow.changed")
RUN_PAUSES_CHANGED = Route(EVENTS, "engine.run-pauses.changed")
OPS_STATUS_ASKED = Route(EVENTS, "ops.status.asked")

_ROUTES: dict[type[Message], Route] = {
    engine.CreateWorkflow: ENGINE_REQUESTS,
    engine.UpdateWorkflow: ENGINE_REQUESTS,
    pins.PinNodeOutput: ENGINE_REQUESTS,
    pins.UnpinNodeOutput: ENGINE_REQUESTS,
    engine.DeleteWorkflow: ENGINE_REQUESTS,
    engine.SetWorkflowActive: ENGINE_REQUESTS,
    engine.GetWorkflow: ENGINE_REQUESTS,
    engine.ListWorkflows: ENGINE_REQUESTS,
    engine.ImportWorkflow: ENGINE_REQUESTS,
    engine.DuplicateWorkflow: ENGINE_REQUESTS,
    engine.ListWorkflowVersions: ENGINE_REQUESTS,
    engine.GetExecution: ENGINE_REQUESTS,
    engine.GetExecutionEvents: ENGINE_REQUESTS,
    engine.ListExecutions: ENGINE_REQUESTS,
    engine.ListActiveWorkflows: ENGINE_REQUESTS,
    engine.ReplayCheck: ENGINE_REQUESTS,
    engine.RebuildProjections: ENGINE_REQUESTS,
    engine.RunRetention: ENGINE_REQUESTS,
    engine.GetProjectionStatus: ENGINE_REQUESTS,
    engine.ListDeadLetters: ENGINE_REQUESTS,
    engine.ReplayDeadLetters: ENGINE_REQUESTS,
    connectors.CancelNodeTasks: CANCEL_TASKS,
    engine.SyncWorkflowTriggers: TRIGGERS_REQUESTS,
    triggers.ResolveWebhook: TRIGGERS_REQUESTS,
    triggers.ListTriggers: TRIGGERS_REQUESTS,
    triggers.TriggersChanged: TRIGGERS_CHANGED,
    engine.ExecutionFinished: EXECUTION_FINISHED,
    engine.WorkflowChanged: WORKFLOW_CHANGED,
    engine.RunPausesChanged: RUN_PAUSES_CHANGED,
    engine.PauseRuns: ENGINE_REQUESTS,
    engine.StartBulkReplay: ENGINE_REQUESTS,
    engine.GetBulkReplay: ENGINE_REQUESTS,
    engine.GetRunPauses: ENGINE_REQUESTS,
    engine.GetProjectOf: ENGINE_REQUESTS,
    engine.SetProjectQuotas: ENGINE_REQUESTS,
    engine.GetProjectUsage: ENGINE_REQUESTS,
    connectors.RunNodeTask: CONNECTORS_TASKS,
    connectors.GetNodeCatalog: CONNECTORS_QUERIES,
    connectors.TestNodeStep: CONNECTORS_QUERIES,
    connectors.GetBinary: CONNECTORS_QUERIES,
    connectors.NodeCatalogPublished: CATALOG_PUBLISHED,
    connectors.GetCredentialSealingKey: CONNECTORS_CREDENTIALS,
    connectors.CreateCredential: CONNECTORS_CREDENTIALS,
    connectors.UpdateCredential: CONNECTORS_CREDENTIALS,
    connectors.DeleteCredential: CONNECTORS_CREDENTIALS,
    connectors.GetCredential: CONNECTORS_CREDENTIALS,
    connectors.ListCredentials: CONNECTORS_CREDENTIALS,
    connectors.CheckCredential: CONNECTORS_CREDENTIALS,
    connectors.OpenTriggerCredential: CONNECTORS_CREDENTIALS,
    connectors.StartOAuth2Authorization: CONNECTORS_CREDENTIALS,
    connectors.CompleteOAuth2Authorization: CONNECTORS_CREDENTIALS,
    variables.SetVariable: CONNECTORS_CREDENTIALS,
    variables.UnsetVariable: CONNECTORS_CREDENTIALS,
    variables.ListVariables: CONNECTORS_CREDENTIALS,
    variables.ResolveVariables: CONNECTORS_CREDENTIALS,
    auth.SetUp: AUTH_REQUESTS,
    auth.Login: AUTH_REQUESTS,
    auth.CreateUser: AUTH_REQUESTS,
    auth.GetUser: AUTH_REQUESTS,
    auth.ListUsers: AUTH_REQUESTS,
    auth.UpdateUser: AUTH_REQUESTS,
    auth.CreateApiKey: AUTH_REQUESTS,
    auth.ListApiKeys: AUTH_REQUESTS,
    auth.RevokeApiKey: AUTH_REQUESTS,
    auth.VerifyApiKey: AUTH_REQUESTS,
    auth.GetPublicKeys: AUTH_REQUESTS,
    auth.GetAccessState: AUTH_REQUESTS,
    auth.RotateKeys: AUTH_REQUESTS,
    auth.ListAudit: AUTH_REQUESTS,
    auth.ListSessions: AUTH_REQUESTS,
    auth.RevokeSession: AUTH_REQUESTS,
    auth.RequestPasswordReset: AUTH_REQUESTS,
    auth.ResetPassword: AUTH_REQUESTS,
    auth.RequestEmailVerification: AUTH_REQUESTS,
    auth.VerifyEmail: AUTH_REQUESTS,
    auth.Invite: AUTH_REQUESTS,
    auth.ListInvitations: AUTH_REQUESTS,
    auth.RevokeInvitation: AUTH_REQUESTS,
    auth.AcceptInvitation: AUTH_REQUESTS,
    auth.CreateSsoProvider: AUTH_REQUESTS,
    auth.UpdateSsoProvider: AUTH_REQUESTS,
    auth.DeleteSsoProvider: AUTH_REQUESTS,
    auth.ListSsoProviders: AUTH_REQUESTS,
    auth.GetSsoOptions: AUTH_REQUESTS,
    auth.SetSsoSettings: AUTH_REQUESTS,
    auth.StartSsoSignIn: AUTH_REQUESTS,
    auth.CompleteSsoSignIn: AUTH_REQUESTS,
    auth.CreateProject: AUTH_REQUESTS,
    auth.ListProjects: AUTH_REQUESTS,
    auth.GetProject: AUTH_REQUESTS,
    auth.AddProjectMember: AUTH_REQUESTS,
    auth.RemoveProjectMember: AUTH_REQUESTS,
    auth.ListProjectMembers: AUTH_REQUESTS,
    auth.GetMemberships: AUTH_REQUESTS,
    auth.MembershipsChanged: AUTH_MEMBERSHIPS_CHANGED,
    auth.RecordAudit: AUTH_AUDIT,
    auth.PublicKeysPublished: AUTH_KEYS_PUBLISHED,
    auth.UserAccessChanged: AUTH_USER_CHANGED,
    auth.ApiKeyRevoked: AUTH_API_KEY_REVOKED,
    ops.StatusAsked: OPS_STATUS_ASKED,
    auth.SessionsRevoked: AUTH_SESSIONS_REVOKED,
}


#: messages about one execution, routed to the partition of the execution they name (forks: the new one)
_PARTITION_KEYS: dict[type[Message], Callable[[Any], object]] = {
    engine.StartExecution: lambda m: m.execution_id,
    engine.CancelExecution: lambda m: m.execution_id,
    engine.RetryExecution: lambda m: m.fork_id,
    engine.ReplayExecution: lambda m: m.fork_id,
    connectors.NodeTaskCompleted: lambda m: m.execution_id,
    #: the child's partition starts it; its outcome goes to the caller's partition
    engine.CallWorkflow: lambda m: m.execution_id,
    engine.ChildExecutionFinished: lambda m: m.execution_id,
    engine.ResumeExecution: lambda m: m.execution_id,
    engine.DebugExecution: lambda m: m.execution_id,
    engine.AdmitExecution: lambda m: m.execution_id,
}


def partition_of(execution_id: object) -> int:
    """The partition an execution belongs to, for as long as it exists (a stable hash of its id)."""
    digest = hashlib.blake2b(str(execution_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % ENGINE_PARTITIONS


def partition_route(partition: int) -> Route:
    return Route(COMMANDS, f"engine.partition.{partition:02d}")


def partition_queue(partition: int) -> QueueSpec:
    """The durable queue of one partition: consumed by whichever engine replica owns the partition."""
    route = partition_route(partition)
    return QueueSpec(name=route.routing_key, exchange=route.exchange, binding=route.routing_key)


def is_partitioned(message: type[Message]) -> bool:
    return message in _PARTITION_KEYS


#: backup and restore: the message names the service whose data it is about, and goes to that service
_SERVICE_ROUTED: frozenset[type[Message]] = frozenset(
    {backups.ExportServiceData, backups.CheckServiceEmpty, backups.ImportServiceData, backups.FinishServiceRestore}
)


def _service_route(service: str) -> Route:
    return {
        "engine": ENGINE_REQUESTS,
        "connectors": CONNECTORS_QUERIES,
        "triggers": TRIGGERS_REQUESTS,
        "auth": AUTH_REQUESTS,
    }[service]


def route_of(message: Message | type[Message]) -> Route:
    cls = message if isinstance(message, type) else type(message)
    if cls in _SERVICE_ROUTED:
        if isinstance(message, type):
            raise LookupError(f"{cls.__name__} is routed by the service it names: route a message, not its type")
        return _service_route(message.service)  # type: ignore[attr-defined]
    if isinstance(message, engine.ExecutionFinished) and message.answered:
        return EXECUTION_ANSWERED
    key_of = _PARTITION_KEYS.get(cls)
    if key_of is not None:
        if isinstance(message, type):
            raise LookupError(f"{cls.__name__} is routed by the execution it names: route a message, not its type")
        return partition_route(partition_of(key_of(message)))
    try:
        return _ROUTES[cls]
    except KeyError:
        raise LookupError(f"{cls.__name__} has no route in flowtape.common.topology") from None


def _queue(route: Route, name: str | None = None, *, quorum: bool = True) -> QueueSpec:
    return QueueSpec(name=name or route.routing_key, exchange=route.exchange, binding=route.routing_key, quorum=quorum)


ENGINE_REQUESTS_QUEUE = _queue(ENGINE_REQUESTS, quorum=False)
#: where connectors sent task outcomes before executions were partitioned: drained (forwarded) during upgrades
ENGINE_TASK_RESULTS_QUEUE = _queue(TASK_COMPLETED, "engine.task-results")
ENGINE_CATALOG_QUEUE = _queue(CATALOG_PUBLISHED, "engine.catalog")
CONNECTORS_TASKS_QUEUE = _queue(CONNECTORS_TASKS)
CONNECTORS_QUERIES_QUEUE = _queue(CONNECTORS_QUERIES, quorum=False)
#: the credentials vault's requests: only sealed data and metadata travel here
CONNECTORS_CREDENTIALS_QUEUE = _queue(CONNECTORS_CREDENTIALS, quorum=False)
TRIGGERS_REQUESTS_QUEUE = _queue(TRIGGERS_REQUESTS, quorum=False)
#: finished executions, for execution triggers (error workflows): shared, so one replica handles each. Bound to
#: :data:`EVERY_EXECUTION_FINISHED` at run time, only while some execution trigger exists: otherwise every run
#: would cost a quorum-queue write and a decode that nobody uses (its own binding is a key nobody publishes)
TRIGGERS_EXECUTIONS_QUEUE = QueueSpec(
    name="triggers.execution-finished", exchange=EVENTS, binding="triggers.execution-finished"
)
#: messages on the routing keys message triggers listen to: bound per registration at run time
TRIGGERS_MESSAGES_QUEUE = QueueSpec(
    name="triggers.routed-messages", exchange=EVENTS, binding="triggers.routed-messages", routed=True
)
AUTH_REQUESTS_QUEUE = _queue(AUTH_REQUESTS, quorum=False)
#: the audit trail must not lose an entry: a durable quorum queue
AUTH_AUDIT_QUEUE = _queue(AUTH_AUDIT)
DEAD_LETTER_QUEUE = QueueSpec(name=DEAD_LETTERS, exchange=DEAD_LETTERS, binding="#")


def execution_finished_broadcast(replica: str) -> QueueSpec:
    return QueueSpec(
        name=f"gateway.{replica}.execution-finished",
        exchange=EVENTS,
        binding=EXECUTION_FINISHED.routing_key,
        broadcast=True,
    )


def workflow_changed_broadcast(replica: str) -> QueueSpec:
    """Each engine replica hears every workflow change, to drop the versions it holds in memory."""
    return QueueSpec(
        name=f"engine.{replica}.workflow-changed", exchange=EVENTS, binding=WORKFLOW_CHANGED.routing_key, broadcast=True
    )


def run_pauses_broadcast(replica: str) -> QueueSpec:
    """Each engine replica hears every pause and resume of runs, to hold or release the runs it decides."""
    return QueueSpec(
        name=f"engine.{replica}.run-pauses", exchange=EVENTS, binding=RUN_PAUSES_CHANGED.routing_key, broadcast=True
    )


def cancel_tasks_broadcast(replica: str) -> QueueSpec:
    """Each connectors worker hears every cancellation: any of them may be running the execution's tasks."""
    return QueueSpec(
        name=f"connectors.{replica}.cancellations",
        exchange=EVENTS,
        binding=CANCEL_TASKS.routing_key,
        broadcast=True,
    )


def triggers_changed_broadcast(owner: str, replica: str) -> QueueSpec:
    """Every gateway and triggers replica hears every registration change on a queue of its own."""
    return QueueSpec(
        name=f"{owner}.{replica}.triggers-changed",
        exchange=EVENTS,
        binding=TRIGGERS_CHANGED.routing_key,
        broadcast=True,
    )


def auth_events_broadcast(service: str, replica: str) -> QueueSpec:
    """Every replica of ``service`` hears every auth event (keys published, access changed) on its own queue."""
    return QueueSpec(name=f"{service}.{replica}.auth-events", exchange=EVENTS, binding="auth.#", broadcast=True)


def status_broadcast(service: str, replica: str) -> QueueSpec:
    """Every replica of every service hears ``flowtape admin status`` asking, on a queue of its own."""
    return QueueSpec(
        name=f"{service}.{replica}.status", exchange=EVENTS, binding=OPS_STATUS_ASKED.routing_key, broadcast=True
    )


#: the durable queues the platform consumes, whose depth and consumers ``flowtape admin status`` shows
def work_queues() -> list[QueueSpec]:
    return [
        ENGINE_REQUESTS_QUEUE,
        ENGINE_CATALOG_QUEUE,
        *(partition_queue(p) for p in range(ENGINE_PARTITIONS)),
        CONNECTORS_TASKS_QUEUE,
        CONNECTORS_QUERIES_QUEUE,
        CONNECTORS_CREDENTIALS_QUEUE,
        TRIGGERS_REQUESTS_QUEUE,
        TRIGGERS_EXECUTIONS_QUEUE,
        AUTH_REQUESTS_QUEUE,
        AUTH_AUDIT_QUEUE,
        DEAD_LETTER_QUEUE,
    ]
