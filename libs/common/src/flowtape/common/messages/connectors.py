"""Messages the connectors own: node tasks, their completions, the node catalog and the credentials vault.

Credential data crosses the bus only *sealed*, the way passwords do for auth: a compact JWE (``ECDH-ES`` +
``A256GCM``) to the sealing key the connectors publish (``GetCredentialSealingKey``), whose plaintext is
``{"data": {...}, "iat": <unix time>}``; the connectors refuse a seal older than a couple of minutes. So a
broker's disk or a dead-letter queue holds nothing that opens without the connectors' key. No message the
connectors send ever holds credential data: replies carry metadata only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.credentials import CredentialType
from flowtape.common.limits import StoredText
from flowtape.common.messages.auth import Actor
from flowtape.common.messages.base import JsonItems, Message
from flowtape.common.projects import DEFAULT_PROJECT

CREDENTIAL_SEALING_ALGORITHM = "ECDH-ES"
CREDENTIAL_SEALING_ENCRYPTION = "A256GCM"


def task_key(execution_id: str, node_id: str, attempt: int, run: int = 1) -> str:
    """Stable across redeliveries of one attempt; a node's later runs (loop batches) get keys of their own."""
    if run == 1:
        return f"{execution_id}:{node_id}:{attempt}"
    return f"{execution_id}:{node_id}#{run}:{attempt}"


class RunNodeTask(Message):
    """Run one attempt of one node. ``idempotency_key`` is stable across redeliveries of the attempt."""

    type_name = "connectors.RunNodeTask.v1"
    kind = "command"
    execution_id: str
    workflow_id: str
    workflow_version: int
    node_id: str
    node_type: str
    params: dict[str, Any]
    items: JsonItems
    attempt: int = 1
    trigger: JsonItems = Field(default_factory=list)
    node_outputs: dict[str, JsonItems] = Field(default_factory=dict)
    timeout_seconds: float | None = None
    #: the webhook request that started the run, in scope of expressions as ``request``
    request: dict[str, Any] | None = None
    #: the workflow's ``settings``: what the workflow allows its nodes (e.g. ``code_network``)
    workflow_settings: dict[str, Any] = Field(default_factory=dict)
    #: the version of ``node_type`` the workflow was saved with (None: the earliest registered)
    node_version: int | None = None
    #: which run of the node in its execution (a node inside a loop body runs once per batch)
    run: int = 1
    #: the resume URLs of the workflow's wait-for-call nodes, in scope of expressions as ``execution.resume_urls``
    resume_urls: dict[str, str] = Field(default_factory=dict)
    #: the run's recorded ``vars`` (secret ones as a placeholder), and which of them the connectors fill in
    variables: dict[str, str] = Field(default_factory=dict)
    secret_variables: list[str] = Field(default_factory=list)
    #: the run's project: the node may use that project's credentials and variables only
    project_id: str = DEFAULT_PROJECT

    @property
    def idempotency_key(self) -> str:
        return task_key(self.execution_id, self.node_id, self.attempt, self.run)


class TestNodeStep(Message):
    """Run one node once, now, outside any execution (the editor's "test step"): answered with the outcome as a
    :class:`NodeTaskCompleted` would carry it (outputs redacted as always); nothing is recorded anywhere."""

    type_name = "connectors.TestNodeStep.v1"
    kind = "query"
    task: RunNodeTask


class NodeTaskCompleted(Message):
    """The outcome of a node task, success or failure, as the worker saw it."""

    type_name = "connectors.NodeTaskCompleted.v1"
    execution_id: str
    node_id: str
    attempt: int
    outcome: Literal["succeeded", "failed"]
    ports: dict[str, JsonItems] = Field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    #: a failure the remote side asked to retry later (HTTP 429 with Retry-After): the engine schedules the
    #: next attempt no sooner than this many seconds, even without a retry policy
    retry_after_seconds: float | None = Field(default=None, ge=0)
    started_at: datetime
    finished_at: datetime
    #: the task's ``run`` (a late outcome of an earlier batch of a loop is told apart by it)
    run: int = 1


class NodeExample(BaseModel):
    """A runnable example of a node type: these params on this ``input`` emit this ``output`` (items by port).

    Each example runs as a one-node workflow after a ``manual_trigger`` (``input`` is the run's input) and a
    test compares what the node emits on every port with ``output``; an example with an ``error`` shows a node
    that fails the run (``stop_and_error``), and the test checks the run's error holds that text.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, description="What the example shows, in a few words.")
    params: dict[str, Any] = Field(default_factory=dict)
    input: list[dict[str, Any]] = Field(default_factory=list)
    output: dict[str, list[dict[str, Any]]] = Field(description="The items the node emits, by port.")
    error: str | None = Field(default=None, description="The run fails with an error holding this text.")


class NodeCatalogEntry(BaseModel):
    """One node type as the catalog describes it (``NodeType.describe()``; ``GET /api/v1/nodes``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    version: int
    category: str
    description: str
    params_schema: dict[str, Any]
    ports: list[str]
    #: evaluated by the engine inline (deterministic or not, no I/O)
    pure: bool = False
    #: False for ids, random values and the clock: a replay reuses their recorded output
    deterministic: bool = True
    trigger: bool = False
    examples: list[NodeExample] = Field(default_factory=list)


class NodeCatalogPublished(Message):
    """The node types a connectors worker can run; the engine validates workflows against it.

    Each entry has the shape of :class:`NodeCatalogEntry` (kept as plain objects on the wire, so a newer
    worker's extra fields reach the engine and gateway untouched).
    """

    type_name = "connectors.NodeCatalogPublished.v1"
    nodes: list[dict[str, Any]]


class GetNodeCatalog(Message):
    type_name = "connectors.GetNodeCatalog.v1"
    kind = "query"


class CancelNodeTasks(Message):
    """Stop every running task of an execution (it was cancelled or timed out); sent to all workers."""

    type_name = "connectors.CancelNodeTasks.v1"
    kind = "command"
    execution_id: str


# ---- the credentials vault (connectors.credentials: request/reply)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CredentialView(_Frozen):
    """What anyone but a running node may know of a credential: never its data."""

    id: str
    name: str
    type: CredentialType
    project_id: str = DEFAULT_PROJECT
    created_at: datetime
    updated_at: datetime


class CredentialPage(_Frozen):
    items: list[CredentialView]
    next_cursor: str | None = None


class SealingKey(_Frozen):
    """The public JWK (with ``kid``, ``use: enc`` and ``alg``) credential data must be sealed to."""

    jwk: dict[str, Any]


class GetCredentialSealingKey(Message):
    type_name = "connectors.GetCredentialSealingKey.v1"
    kind = "query"


class CreateCredential(Message):
    """Answered with a :class:`CredentialView`; Conflict when the name is taken, InvalidCredential when the
    data does not fit the type."""

    type_name = "connectors.CreateCredential.v1"
    kind = "command"
    name: StoredText
    type: str
    sealed_data: str
    #: the project it belongs to, for good (names are unique within a project)
    project_id: str = DEFAULT_PROJECT
    #: the caller, so that the vault writes the audit entry once the change is stored
    actor: Actor | None = None


class UpdateCredential(Message):
    """Replace a credential's data (and optionally its name); its type stays."""

    type_name = "connectors.UpdateCredential.v1"
    kind = "command"
    credential_id: str
    sealed_data: str
    name: StoredText | None = None
    #: the caller, so that the vault writes the audit entry once the change is stored
    actor: Actor | None = None


class DeleteCredential(Message):
    type_name = "connectors.DeleteCredential.v1"
    kind = "command"
    credential_id: str
    #: the caller, so that the vault writes the audit entry once the change is stored
    actor: Actor | None = None


class GetCredential(Message):
    type_name = "connectors.GetCredential.v1"
    kind = "query"
    credential_id: str


class ListCredentials(Message):
    """Credentials by name, a page at a time."""

    type_name = "connectors.ListCredentials.v1"
    kind = "query"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None
    #: only credentials of these projects (None: every project, [] none)
    project_ids: list[str] | None = None


class CheckCredential(Message):
    """Does the credential work? Answered with a :class:`CredentialCheck`; the connectors try it for real
    (connect to the database, authenticate to the SMTP server, call the credential's ``test_url``)."""

    type_name = "connectors.CheckCredential.v1"
    kind = "query"
    credential_id: str


class CredentialCheck(_Frozen):
    """The answer to :class:`CheckCredential`: never the data, and a message with every secret redacted."""

    ok: bool
    #: what was tried and what came of it, e.g. "connected to db.internal:5432 and ran SELECT 1"
    message: str
    #: False when the type has nothing the connectors could try (e.g. an ``api_key`` without an API to call)
    testable: bool = True


class OpenTriggerCredential(Message):
    """Triggers → connectors: the data of the credential a trigger subscribes with (an ``mqtt`` one), sealed to
    the asking replica's own public key (``reply_jwk``, ECDH-ES + A256GCM), so the reply opens only there.
    Answered with a :class:`SealedCredential`; NodeError-like InvalidInput for another type."""

    type_name = "connectors.OpenTriggerCredential.v1"
    kind = "query"
    #: id or name, as the trigger node names it
    credential: str
    reply_jwk: dict[str, Any]
    #: the trigger's workflow's project: a credential of another project is not found
    project_id: str = DEFAULT_PROJECT


class SealedCredential(_Frozen):
    type: CredentialType
    sealed_data: str


class StartOAuth2Authorization(Message):
    """Gateway → connectors: begin the authorization-code flow of an ``oauth2`` credential. Answered with an
    :class:`OAuth2Authorization`: the URL to send the user to, with a fresh state and a PKCE challenge."""

    type_name = "connectors.StartOAuth2Authorization.v1"
    kind = "command"
    credential_id: str
    #: where the authorization server sends the user back: the gateway's callback route
    redirect_uri: str


class OAuth2Authorization(_Frozen):
    authorization_url: str
    state: str
    expires_at: datetime


class CompleteOAuth2Authorization(Message):
    """Gateway → connectors: the authorization server sent the user back to the callback. The state names
    the flow (once, within ten minutes); the code is exchanged, with the PKCE verifier, for tokens kept
    encrypted. Answered with the :class:`CredentialView` of the now authorized credential."""

    type_name = "connectors.CompleteOAuth2Authorization.v1"
    kind = "command"
    state: str
    code: str | None = None
    #: the authorization server's ``error`` (and ``error_description``) when the user declined or it failed
    error: str | None = None
    error_description: str | None = None


# ---- binary data on items (connectors.queries: request/reply)


class GetBinary(Message):
    """Gateway → connectors: the bytes of binary data a run's item refers to. ``workflow_id`` is the workflow of
    the execution the caller may read: data of another workflow answers NotFound, as unknown data does.
    Answered with a :class:`BinaryContent`."""

    type_name = "connectors.GetBinary.v1"
    kind = "query"
    binary_id: str
    workflow_id: str


class BinaryContent(_Frozen):
    id: str
    mime_type: str
    file_name: str | None = None
    size: int
    #: the bytes, base64-encoded (a message body is JSON)
    data: str
