"""Messages the triggers service owns: webhook resolution, the registration listing and its change notice.

``SyncWorkflowTriggers`` (engine → triggers) lives in :mod:`flowtape.common.messages.engine` beside the
activation commands that send it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.messages.base import Message


class WebhookRoute(BaseModel):
    """What the gateway needs to serve one webhook: the reply data of :class:`ResolveWebhook`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    workflow_id: str
    #: the registered version: the gateway starts exactly this one, so ``respond_nodes`` match it
    version: int
    method: str
    path: str
    respond: Literal["immediately", "last_node"] = "immediately"
    secret: str | None = None
    timeout_seconds: float | None = None
    #: ids of the version's ``respond`` nodes: the response is the one among them that finished last
    respond_nodes: list[str] = Field(default_factory=list)


class ResolveWebhook(Message):
    """Gateway → triggers: which active workflow serves ``<method> /hooks/<path>``? Answered with a
    :class:`WebhookRoute` (as data) or NotFound."""

    type_name = "triggers.ResolveWebhook.v1"
    kind = "query"
    method: str
    path: str


class ListTriggers(Message):
    """Gateway → triggers: every registration with its last and next fire time (and its workflow's project)."""

    type_name = "triggers.ListTriggers.v1"
    kind = "query"
    #: only registrations of these projects' workflows (None: every project, [] none)
    project_ids: list[str] | None = None


class TriggersChanged(Message):
    """Published after a registration was added, replaced or removed: gateways drop their webhook cache,
    triggers replicas reload their schedules and event subscriptions."""

    type_name = "triggers.TriggersChanged.v1"
    workflow_id: str
