"""The built-in node types that need no I/O: triggers, data shaping and flow control, and the data library.

All are ``pure`` (deterministic, no I/O, no user code), so the engine may evaluate them inline. Triggers only
pass on the items the triggers service (or a manual run) starts the execution with; ``wait`` passes its items
on too, since the engine itself implements the durable pause its parameters describe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from flowtape.common.nodes.control import CONTROL_NODES
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = [
    "CORE_NODES",
    "ExecutionTriggerNode",
    "ExecutionTriggerParams",
    "IfNode",
    "IfParams",
    "ManualTriggerNode",
    "ManualTriggerParams",
    "MergeNode",
    "MergeParams",
    "MessageTriggerNode",
    "MessageTriggerParams",
    "NoopNode",
    "NoopParams",
    "RespondNode",
    "RespondParams",
    "ScheduleNode",
    "ScheduleParams",
    "SetNode",
    "SetParams",
    "SwitchNode",
    "SwitchParams",
    "SwitchRule",
    "WaitNode",
    "WaitParams",
    "WebhookNode",
    "WebhookParams",
]

_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0", ""})
_PORT_NAME = r"^[A-Za-z0-9_.\-]+$"


def _as_condition(value: Any) -> Any:
    """Truthiness for what expressions return; text only when it spells a boolean.

    Arbitrary text is refused rather than taken as true: a condition written without braces
    (``"item.n > 10"``) would otherwise always pass.
    """
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise ValueError(
            f"expected a boolean, got the text {value[:80]!r}; write an expression such as "
            "{{ item.status == 'paid' }}"
        )
    if isinstance(value, int | float | list | dict):
        return bool(value)
    return value


#: a boolean parameter that also accepts what a condition expression may produce (see :func:`_as_condition`)
Condition = Annotated[bool, BeforeValidator(_as_condition)]


def _passed_on(items: list[Item]) -> NodeResult:
    return NodeResult.on(list(items))


# --- triggers ------------------------------------------------------------------------------------------


class ManualTriggerParams(NodeParams):
    """No parameters: the items come from ``POST /workflows/{id}/run`` (or ``flowtape run --input``)."""


class ManualTriggerNode(NodeType[ManualTriggerParams]):
    """Starts a workflow run by hand; emits the run's input items unchanged."""

    type = "manual_trigger"
    category = "trigger"
    description = "Starts the workflow when it is run by hand or through the API; emits the input items."
    Params = ManualTriggerParams
    mode = "batch"
    pure = True
    trigger = True
    examples = (
        NodeExample(
            title="The run's input, unchanged",
            params={},
            input=[{"order": 1}, {"order": 2}],
            output={"main": [{"order": 1}, {"order": 2}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: ManualTriggerParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


_WEBHOOK_PATH = re.compile(r"^[A-Za-z0-9._~\-]+(?:/[A-Za-z0-9._~\-]+)*$")


class WebhookParams(NodeParams):
    """Where and how the workflow listens for HTTP requests (served at ``<METHOD> /hooks/<path>``)."""

    path: str = Field(
        min_length=1,
        max_length=500,
        description="The path after /hooks/, e.g. 'orders' or 'shop/orders'; leading and trailing '/' are "
        "dropped. Letters, digits and . _ ~ - in '/'-separated segments.",
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="POST", description="The HTTP method the webhook answers (case-insensitive)."
    )
    respond: Literal["immediately", "last_node"] = Field(
        default="immediately",
        description="'immediately': 202 with the execution id. 'last_node': wait for the execution and "
        "answer with the last node's output, or with what a respond node builds.",
    )
    secret: str | None = Field(
        default=None,
        min_length=1,
        description="If set, requests must carry X-Flowtape-Signature: sha256=<hex HMAC-SHA256 of the body>.",
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="With respond 'last_node': how long to wait for the execution before answering 504.",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _strip_slashes(cls, value: Any) -> Any:
        return value.strip().strip("/") if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not _WEBHOOK_PATH.fullmatch(value) or any(part in {".", ".."} for part in value.split("/")):
            raise ValueError("path segments may hold only letters, digits and . _ ~ - (and not be . or ..)")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class WebhookNode(NodeType[WebhookParams]):
    """Starts a workflow on an HTTP request; emits the request body as items (see API.md, "Webhooks")."""

    type = "webhook"
    category = "trigger"
    description = "Starts the workflow on an HTTP request to /hooks/<path>; emits the request body as items."
    Params = WebhookParams
    mode = "batch"
    pure = True
    trigger = True
    examples = (
        NodeExample(
            title="POST /hooks/orders with a JSON body",
            params={"path": "orders", "method": "POST"},
            input=[{"order": 7, "total": 30}],
            output={"main": [{"order": 7, "total": 30}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: WebhookParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?#]+$")


class ScheduleParams(NodeParams):
    """When the workflow runs by itself: a cron expression or a fixed interval, exactly one of them."""

    cron: str | None = Field(
        default=None,
        description="A cron expression of 5 fields (minute hour day month weekday) or 6 (seconds first).",
        examples=["0 9 * * MON-FRI"],
    )
    interval: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Run every this many seconds.")
    timezone: str = Field(default="UTC", description="The IANA time zone cron fields are read in.")
    catch_up: Literal["none", "latest", "all"] = Field(
        default="none",
        description="Ticks missed while the platform was down: skip them, run the latest one, or run all.",
    )

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) not in (5, 6) or not all(_CRON_FIELD.fullmatch(field) for field in fields):
            raise ValueError("a cron expression has 5 or 6 space-separated fields, e.g. '*/5 * * * *'")
        return " ".join(fields)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris'") from exc
        return value

    @model_validator(mode="after")
    def _exactly_one_timing(self) -> Self:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of 'cron' or 'interval'")
        return self


class ScheduleNode(NodeType[ScheduleParams]):
    """Starts a workflow on a schedule; the trigger item carries ``scheduled_at`` and ``fired_at``."""

    type = "schedule"
    category = "trigger"
    description = "Starts the workflow on a cron schedule or every N seconds."
    Params = ScheduleParams
    mode = "batch"
    pure = True
    trigger = True
    examples = (
        NodeExample(
            title="Weekdays at nine",
            params={"cron": "0 9 * * MON-FRI", "timezone": "Europe/Paris"},
            input=[{"scheduled_at": "2026-03-02T08:00:00+00:00", "fired_at": "2026-03-02T08:00:00.120000+00:00"}],
            output={
                "main": [{"scheduled_at": "2026-03-02T08:00:00+00:00", "fired_at": "2026-03-02T08:00:00.120000+00:00"}]
            },
        ),
    )

    async def run(self, ctx: NodeContext, params: ScheduleParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


_ROUTING_PATTERN = re.compile(r"^(?:[A-Za-z0-9_\-]+|\*|#)(?:\.(?:[A-Za-z0-9_\-]+|\*|#))*$")


FinalStatus = Literal["succeeded", "failed", "cancelled"]


def _only_failed() -> list[FinalStatus]:
    return ["failed"]


class ExecutionTriggerParams(NodeParams):
    """Which finished executions start this workflow: the way to build error workflows."""

    workflow_ids: list[str] = Field(
        default_factory=list,
        description="Workflows whose executions are watched; empty: every workflow except this one and other "
        "workflows started by execution triggers (so two such workflows cannot start each other forever).",
    )
    statuses: list[FinalStatus] = Field(
        default_factory=_only_failed,
        min_length=1,
        description="The final statuses that start this workflow; by default only 'failed'.",
    )


class ExecutionTriggerNode(NodeType[ExecutionTriggerParams]):
    """Starts a workflow when another workflow's execution finishes; emits one item describing that execution:
    ``execution_id``, ``workflow_id``, ``workflow_version``, ``status``, ``error``."""

    type = "execution_trigger"
    category = "trigger"
    description = "Starts the workflow when an execution of another workflow finishes (e.g. fails)."
    Params = ExecutionTriggerParams
    mode = "batch"
    pure = True
    trigger = True
    examples = (
        NodeExample(
            title="Another workflow's run failed",
            params={"statuses": ["failed"]},
            input=[
                {
                    "execution_id": "e-1",
                    "workflow_id": "w-1",
                    "workflow_version": 3,
                    "status": "failed",
                    "error": "node charge failed: card declined",
                }
            ],
            output={
                "main": [
                    {
                        "execution_id": "e-1",
                        "workflow_id": "w-1",
                        "workflow_version": 3,
                        "status": "failed",
                        "error": "node charge failed: card declined",
                    }
                ]
            },
        ),
    )

    async def run(self, ctx: NodeContext, params: ExecutionTriggerParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


class MessageTriggerParams(NodeParams):
    """The Flowtape exchange and routing key pattern this workflow listens on."""

    exchange: Literal["flowtape.events", "flowtape.commands"] = Field(
        default="flowtape.events", description="A Flowtape-declared topic exchange."
    )
    routing_key: str = Field(
        min_length=1,
        max_length=255,
        description="A routing key or topic pattern ('*' one word, '#' any number), e.g. 'shop.order.*'.",
    )

    @field_validator("routing_key")
    @classmethod
    def _check_routing_key(cls, value: str) -> str:
        if not _ROUTING_PATTERN.fullmatch(value):
            raise ValueError("a routing key is dot-separated words of letters, digits, _ and -, or * and #")
        return value


class MessageTriggerNode(NodeType[MessageTriggerParams]):
    """Starts a workflow for each message published on a routing key; a JSON object payload is the item, a
    list of objects the items, anything else ``{"body": text}``."""

    type = "message_trigger"
    category = "trigger"
    description = "Starts the workflow when a message is published on a routing key of a Flowtape exchange."
    Params = MessageTriggerParams
    mode = "batch"
    pure = True
    trigger = True
    examples = (
        NodeExample(
            title="Every order event",
            params={"routing_key": "shop.order.*"},
            input=[{"order": 7, "event": "created"}],
            output={"main": [{"order": 7, "event": "created"}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: MessageTriggerParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


# --- data ----------------------------------------------------------------------------------------------


class SetParams(NodeParams):
    """Fields to write into each item; values are usually expressions over ``item``."""

    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Top-level keys to set on each item (a dotted key such as 'a.b' is one key, not a path).",
    )
    keep_only_set: bool = Field(
        default=False, description="Emit only the fields set here instead of merging them into the item."
    )


class SetNode(NodeType[SetParams]):
    """Merges ``fields`` into each item (rendered per item, so ``{{ item.n * 2 }}`` sees that item)."""

    type = "set"
    category = "core"
    description = "Sets fields on each item."
    Params = SetParams
    pure = True
    examples = (
        NodeExample(
            title="Double a number",
            params={"fields": {"doubled": "{{ item.n * 2 }}", "source": "api"}},
            input=[{"n": 21}],
            output={"main": [{"n": 21, "doubled": 42, "source": "api"}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: SetParams, item: Item) -> NodeResult:
        updated = {} if params.keep_only_set else dict(item)
        updated.update(params.fields)
        return NodeResult.on([updated])


class NoopParams(NodeParams):
    """No parameters."""


class NoopNode(NodeType[NoopParams]):
    """Passes its items on unchanged: a named junction or placeholder in a graph."""

    type = "noop"
    category = "core"
    description = "Does nothing: passes the items on unchanged."
    Params = NoopParams
    mode = "batch"
    pure = True
    examples = (NodeExample(title="Items pass through", params={}, input=[{"n": 1}], output={"main": [{"n": 1}]}),)

    async def run(self, ctx: NodeContext, params: NoopParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


class RespondParams(NodeParams):
    """The HTTP response a webhook with ``respond: last_node`` sends back."""

    status: int = Field(default=200, ge=100, le=599, description="The HTTP status code.")
    headers: dict[str, str] = Field(default_factory=dict, description="Response headers.")
    body: Any = Field(
        default=None,
        description="The response body; if omitted, the input items (a single item as that object).",
    )


class RespondNode(NodeType[RespondParams]):
    """Builds the webhook response: one item ``{"status", "headers", "body"}``."""

    type = "respond"
    category = "core"
    description = "Builds the response a webhook with respond 'last_node' returns."
    Params = RespondParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="201 with a body built from the item",
            params={"status": 201, "headers": {"location": "/orders/{{ item.id }}"}, "body": {"id": "{{ item.id }}"}},
            input=[{"id": 7}],
            output={"main": [{"status": 201, "headers": {"location": "/orders/7"}, "body": {"id": 7}}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: RespondParams, items: list[Item]) -> NodeResult:
        body: Any = params.body
        if body is None:
            body = items[0] if len(items) == 1 else list(items)
        return NodeResult.on([{"status": params.status, "headers": dict(params.headers), "body": body}])


# --- flow ----------------------------------------------------------------------------------------------


class IfParams(NodeParams):
    """The condition each item is tested with."""

    condition: Condition = Field(
        description="Usually an expression such as {{ item.n > 10 }}. None, 0, empty lists and objects "
        "and 'false'/'no'/'off'/'' count as false; other text is refused."
    )


class IfNode(NodeType[IfParams]):
    """Sends each item to port ``true`` or ``false``."""

    type = "if"
    category = "flow"
    description = "Routes each item to 'true' or 'false' by a condition."
    Params = IfParams
    ports = ("true", "false")
    pure = True
    examples = (
        NodeExample(
            title="Big and small orders",
            params={"condition": "{{ item.total > 100 }}"},
            input=[{"total": 250}, {"total": 20}],
            output={"true": [{"total": 250}], "false": [{"total": 20}]},
        ),
    )

    async def run_item(self, ctx: NodeContext, params: IfParams, item: Item) -> NodeResult:
        chosen = "true" if params.condition else "false"
        return NodeResult({port: [item] if port == chosen else [] for port in self.ports})


class SwitchRule(BaseModel):
    """One branch of a switch: items whose condition holds go to ``port``."""

    model_config = ConfigDict(extra="forbid")

    port: str = Field(
        min_length=1,
        max_length=128,
        pattern=_PORT_NAME,
        description="The output port (a literal name; edges leave the switch from it).",
    )
    condition: Condition = Field(description="Usually an expression over item, e.g. {{ item.kind == 'a' }}.")


class SwitchParams(NodeParams):
    """Rules tried in order for each item; the first whose condition holds picks the port."""

    rules: list[SwitchRule] = Field(min_length=1, description="Tried in order; the first match wins.")
    fallback: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=_PORT_NAME,
        description="The port for items no rule matches; without it such items are dropped.",
    )


class SwitchNode(NodeType[SwitchParams]):
    """Routes each item to the port of the first rule it matches.

    Its ports are named by its parameters, so ``ports`` is ``("*",)`` in the catalog and
    :meth:`output_ports` gives the real ones: the rules' ports, then the fallback.
    """

    type = "switch"
    category = "flow"
    description = "Routes each item to the port of the first matching rule (or to the fallback port)."
    Params = SwitchParams
    ports = ("*",)
    pure = True
    examples = (
        NodeExample(
            title="Route by country",
            params={
                "rules": [
                    {"port": "france", "condition": "{{ item.country == 'FR' }}"},
                    {"port": "germany", "condition": "{{ item.country == 'DE' }}"},
                ],
                "fallback": "other",
            },
            input=[{"country": "DE"}, {"country": "FR"}, {"country": "IT"}],
            output={"france": [{"country": "FR"}], "germany": [{"country": "DE"}], "other": [{"country": "IT"}]},
        ),
    )

    @classmethod
    def output_ports(cls, raw_params: Mapping[str, Any]) -> tuple[str, ...]:
        rules = raw_params.get("rules")
        names = [rule.get("port") for rule in rules if isinstance(rule, Mapping)] if isinstance(rules, list) else []
        names.append(raw_params.get("fallback"))
        return tuple(dict.fromkeys(name for name in names if isinstance(name, str) and name))

    async def run_item(self, ctx: NodeContext, params: SwitchParams, item: Item) -> NodeResult:
        ports: dict[str, list[Item]] = {rule.port: [] for rule in params.rules}
        if params.fallback is not None:
            ports.setdefault(params.fallback, [])
        chosen = next((rule.port for rule in params.rules if rule.condition), params.fallback)
        if chosen is not None:
            ports[chosen].append(item)
        return NodeResult(ports)


class MergeParams(NodeParams):
    """How the branches that reach this node are combined."""

    mode: Literal["append"] = Field(
        default="append",
        description="'append': the items of every incoming branch, branch after branch in edge order.",
    )


class MergeNode(NodeType[MergeParams]):
    """Joins branches: the engine runs it once every incoming branch that ran has finished.

    The engine hands over the branches' items already concatenated in edge order; ``append`` passes them on.
    """

    type = "merge"
    category = "flow"
    description = "Waits for every incoming branch that ran and emits all their items, branch after branch."
    Params = MergeParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="One branch's items pass on",
            params={"mode": "append"},
            input=[{"n": 1}, {"n": 2}],
            output={"main": [{"n": 1}, {"n": 2}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: MergeParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


#: how long a wait for a call waits when its ``timeout_seconds`` is not given: a week
DEFAULT_CALL_TIMEOUT_SECONDS = 7 * 24 * 3600.0


class WaitParams(NodeParams):
    """How long to pause: a duration, a point in time, or until a resume URL is called (with a timeout)."""

    seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="Pause this long.")
    until: datetime | None = Field(
        default=None,
        description="Pause until this ISO 8601 time; a time without an offset is read as UTC.",
    )
    resume: Literal["time", "webhook"] = Field(
        default="time",
        description="'time': wait for 'seconds' or 'until'. 'webhook': wait until the node's unique resume URL "
        "is called (POST /hooks/resume/<token>, shown in the node's output while it waits and in "
        "execution.resume_urls); the call's JSON body arrives on each item as 'resume'.",
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=366 * 24 * 3600,
        allow_inf_nan=False,
        description="With resume 'webhook': fail the node (see on_error) when no call came this long "
        "(default: a week).",
    )

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _exactly_one_delay(self) -> Self:
        if self.resume == "webhook":
            if self.seconds is not None or self.until is not None:
                raise ValueError("a wait for a call takes 'timeout_seconds', not 'seconds' or 'until'")
        elif (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of 'seconds' or 'until' (or resume: 'webhook')")
        elif self.timeout_seconds is not None:
            raise ValueError("'timeout_seconds' is for resume: 'webhook'")
        return self


class WaitNode(NodeType[WaitParams]):
    """Pauses the execution durably; the engine schedules the resumption, the node passes items on."""

    type = "wait"
    category = "flow"
    description = "Pauses the execution for a duration, until a time, or until its resume URL is called."
    Params = WaitParams
    mode = "batch"
    pure = True
    examples = (
        NodeExample(
            title="Pause, then go on with the same items",
            params={"seconds": 0.1},
            input=[{"n": 1}],
            output={"main": [{"n": 1}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: WaitParams, items: list[Item]) -> NodeResult:
        return _passed_on(items)


#: triggers, data shaping and flow control: the node types the first version shipped
CORE_NODES: tuple[type[NodeType[Any]], ...] = (
    ManualTriggerNode,
    WebhookNode,
    ScheduleNode,
    SetNode,
    IfNode,
    SwitchNode,
    MergeNode,
    NoopNode,
    RespondNode,
    WaitNode,
    ExecutionTriggerNode,
    MessageTriggerNode,
)


if TYPE_CHECKING:
    BUILTIN_NODES: tuple[type[NodeType[Any]], ...]


def __getattr__(name: str) -> Any:
    """``BUILTIN_NODES``: every node type that needs no I/O, the core ones, the flow control the engine
    carries out (loop, execute_workflow, stop_and_error, static_data) and the data library (filter, sort, text,
    dates...). Built on first use, so a service that only reads trigger parameters (the triggers, the
    gateway) does not load the library and what it imports (regex, XML, HTML parsers)."""
    if name == "BUILTIN_NODES":
        from flowtape.common.nodes.library import LIBRARY_NODES

        nodes: tuple[type[NodeType[Any]], ...] = (*CORE_NODES, *CONTROL_NODES, *LIBRARY_NODES)
        globals()["BUILTIN_NODES"] = nodes
        return nodes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
