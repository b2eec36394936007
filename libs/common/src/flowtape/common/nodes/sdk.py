"""What a node type is: a versioned class with a pydantic parameter model and an async ``run``.

Connectors run every node type; the engine may evaluate the ``pure`` ones inline (deterministic, no I/O,
no user code), so both go through :func:`execute_node`, which renders expressions and validates
parameters the same way in either place.

A node that needs a secret takes a credential's id or name as a parameter and asks ``ctx.credential(ref)``
at run time: the workflow and the execution log hold only the reference. Whatever the node puts in its
output or error that contains a secret of a credential it used is replaced by ``[redacted]`` before the
outcome is recorded, so a node must not transform secrets into its output (hashing, encoding) either.

A node that is not ``deterministic`` (ids, random values, the clock) still has its output recorded like any
other, so replay and time travel show the values the run really used. A per-item node's error names the item
(``item 3: ...``); a node's own errors should name the field.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from flowtape.common.binary import Binaries
from flowtape.common.credentials import CredentialData
from flowtape.common.errors import InvalidInput, NodeError, OutputTooLarge, PayloadTooLarge
from flowtape.common.limits import Limits, check_items, check_output
from flowtape.common.messages.connectors import NodeExample, task_key

__all__ = [
    "MAIN",
    "Credential",
    "CredentialResolver",
    "Item",
    "NodeContext",
    "NodeExample",
    "NodeParams",
    "NodeResult",
    "NodeType",
    "execute_node",
    "resolve_params",
]

Item = dict[str, Any]
MAIN = "main"


class NodeParams(BaseModel):
    """Base of every parameter model: unknown keys are an error, so typos surface at save time."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=NodeParams)


@dataclass(frozen=True)
class Credential:
    """A credential a node asked for: its typed data holds secret fields as ``SecretStr``."""

    id: str
    name: str
    data: CredentialData = field(repr=False)

    @property
    def type(self) -> str:
        return self.data.type_name

    def reveal(self) -> dict[str, Any]:
        """Every field in clear (a ``generic`` credential's fields are all secret)."""
        return self.data.reveal()


class StaticData(Protocol):
    """A workflow's small key-value store, as the ``static_data`` node sees it during one run of the node.

    The engine keeps it: the node's changes are saved at once when it finishes (or not at all), so a run that
    fails half way changes nothing, and two runs incrementing one key never lose an increment.
    """

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> Any: ...

    def increment(self, key: str, by: float) -> float: ...


class CredentialResolver(Protocol):
    """Finds a credential by id or name for one node task (the connectors inject one per task)."""

    async def __call__(self, ref: str) -> Credential: ...


@dataclass(frozen=True)
class NodeContext:
    """Everything a node may know about the run it is part of."""

    execution_id: str
    workflow_id: str
    workflow_version: int
    node_id: str
    attempt: int = 1
    trigger: list[Item] = field(default_factory=list)
    node_outputs: Mapping[str, list[Item]] = field(default_factory=dict)
    timeout_seconds: float | None = None
    request: Mapping[str, Any] | None = None
    #: the workflow's ``settings`` (e.g. ``code_network``)
    workflow_settings: Mapping[str, Any] = field(default_factory=dict)
    #: set by the connectors; None where no credentials are at hand (pure nodes evaluated by the engine)
    credentials: CredentialResolver | None = field(default=None, repr=False, compare=False)
    #: the platform's bounds on item data (``FLOWTAPE_MAX_*``): nodes that can amplify data check against them
    limits: Limits = field(default_factory=Limits, repr=False, compare=False)
    #: which run of the node in its execution (a node inside a loop body runs once per batch)
    run: int = 1
    #: the resume URLs of the workflow's wait-for-call nodes by node id (``execution.resume_urls``)
    resume_urls: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: set by the engine for the ``static_data`` node only
    static_data: StaticData | None = field(default=None, repr=False, compare=False)
    #: set by the connectors: where binary data on items is kept (:mod:`flowtape.common.binary`)
    binary_store: Binaries | None = field(default=None, repr=False, compare=False)
    #: ``vars`` in expressions: the values the run recorded (the connectors fill in secret ones)
    variables: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def binaries(self) -> Binaries:
        """The binary store of this task; a NodeError where there is none (outside the connectors)."""
        if self.binary_store is None:
            raise NodeError("binary data is available only to nodes run by the connectors")
        return self.binary_store

    async def credential(self, ref: str, *types: str) -> Credential:
        """The credential with this id or name; a NodeError when there is none or it is not of ``types``."""
        if self.credentials is None:
            raise NodeError("credentials are available only to nodes run by the connectors")
        found = await self.credentials(ref)
        if types and found.type not in types:
            raise NodeError(f"credential {found.name!r} is of type {found.type}; this node needs {' or '.join(types)}")
        return found

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries of the same attempt: send it to side-effecting APIs."""
        return task_key(self.execution_id, self.node_id, self.attempt, self.run)

    def check_output(self, items: Any, what: str = "the output") -> None:
        """Fail the node clearly when ``items`` pass the platform's depth or size limits.

        For nodes whose output can be much larger than their input (padding, splitting, generating): check
        before handing the result on, so no parameter makes the platform build what it cannot store.
        """
        try:
            check_items(items, self.limits, what=what)
        except (InvalidInput, PayloadTooLarge) as exc:
            raise OutputTooLarge(exc.message, exc.details) from exc


@dataclass(frozen=True)
class NodeResult:
    """Items emitted on each output port."""

    ports: dict[str, list[Item]]

    @classmethod
    def on(cls, items: list[Item], port: str = MAIN) -> NodeResult:
        return cls({port: items})

    def merged_with(self, other: NodeResult) -> NodeResult:
        ports = {name: list(items) for name, items in self.ports.items()}
        for name, items in other.ports.items():
            ports.setdefault(name, []).extend(items)
        return NodeResult(ports)


class NodeType(Generic[P]):
    """Subclass, set the class attributes, implement ``run_item`` (per_item) or ``run`` (batch)."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    category: ClassVar[str] = "core"
    description: ClassVar[str] = ""
    # ``builtins.type``: inside this class body ``type`` is the ClassVar above
    Params: ClassVar[builtins.type[NodeParams]]
    ports: ClassVar[tuple[str, ...]] = (MAIN,)
    mode: ClassVar[Literal["per_item", "batch"]] = "per_item"
    #: deterministic and free of I/O: the engine may evaluate it inline
    pure: ClassVar[bool] = False
    #: starts a workflow; receives the trigger items as its input
    trigger: ClassVar[bool] = False
    #: parameter names whose values are not rendered as expressions (e.g. source code)
    raw_params: ClassVar[tuple[str, ...]] = ()
    #: the same parameters and items always give the same output; False for ids, random values and the clock,
    #: whose recorded output a replay must reuse instead of evaluating again
    deterministic: ClassVar[bool] = True
    #: runnable examples shown in the catalog; a test runs each as a one-node workflow and compares the output
    examples: ClassVar[tuple[NodeExample, ...]] = ()

    @classmethod
    def output_ports(cls, raw_params: Mapping[str, Any]) -> tuple[str, ...]:
        """The ports a node with these (unrendered) parameters may emit on: edges may leave only from these.

        ``ports`` for most types; types whose ports are named by their parameters (``switch``) override it.
        """
        return cls.ports

    async def run(self, ctx: NodeContext, params: P, items: list[Item]) -> NodeResult:
        raise NotImplementedError

    async def run_item(self, ctx: NodeContext, params: P, item: Item) -> NodeResult:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalog entry: what `GET /api/v1/nodes` shows and what validation checks against."""
        return {
            "type": cls.type,
            "version": cls.version,
            "category": cls.category,
            "description": cls.description,
            "params_schema": cls.Params.model_json_schema(),
            "ports": list(cls.ports),
            "pure": cls.pure,
            "deterministic": cls.deterministic,
            "trigger": cls.trigger,
            "examples": [example.model_dump(mode="json") for example in cls.examples],
        }


class _NodesInScope(Mapping[str, dict[str, list[Item]]]):
    """``nodes["<id>"].output`` in expressions, built on access: a node late in a long chain does not copy
    every earlier node's output into its scope."""

    def __init__(self, outputs: Mapping[str, list[Item]]) -> None:
        self._outputs = outputs

    def __getitem__(self, node_id: str) -> dict[str, list[Item]]:
        return {"output": self._outputs[node_id]}

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)


def _scope(ctx: NodeContext, items: list[Item], item: Item | None) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "item": item if item is not None else (items[0] if items else {}),
        "items": items,
        "trigger": ctx.trigger,
        "nodes": _NodesInScope(ctx.node_outputs),
        "execution": {
            "id": ctx.execution_id,
            "workflow_id": ctx.workflow_id,
            "workflow_version": ctx.workflow_version,
            "resume_urls": dict(ctx.resume_urls),
        },
        "vars": dict(ctx.variables),
    }
    if ctx.request is not None:
        scope["request"] = dict(ctx.request)
    return scope


def expression_scope(ctx: NodeContext, items: list[Item], item: Item | None = None) -> dict[str, Any]:
    """What an expression about ``item`` (one of ``items``, the input of ``ctx``'s node) sees, as in its params."""
    return _scope(ctx, items, item)


def _validated(node: type[NodeType[Any]], raw: Mapping[str, Any], scope: dict[str, Any]) -> NodeParams:
    from flowtape.common.expressions import render

    rendered = {key: (value if key in node.raw_params else render(value, scope)) for key, value in raw.items()}
    try:
        return node.Params.model_validate(rendered)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
        )
        raise NodeError(f"invalid parameters for {node.type}: {problems}") from exc


async def execute_node(
    node: NodeType[Any],
    raw_params: Mapping[str, Any],
    ctx: NodeContext,
    items: list[Item],
    limits: Limits | None = None,
) -> NodeResult:
    """Render the parameters (per item for per_item nodes), validate them and run the node.

    An output beyond ``limits`` (by default the context's) fails the node
    (:class:`~flowtape.common.errors.OutputTooLarge`) here, before anything serializes or records it.
    """
    cls = type(node)
    if cls.mode == "batch":
        params = _validated(cls, raw_params, _scope(ctx, items, None))
        result = await node.run(ctx, params, items)
    else:
        ports: dict[str, list[Item]] = {}
        for index, item in enumerate(items):
            try:
                params = _validated(cls, raw_params, _scope(ctx, items, item))
                emitted = await node.run_item(ctx, params, item)
            except NodeError as exc:
                raise _at_item(exc, index, len(items)) from exc.__cause__
            for port, port_items in emitted.ports.items():
                ports.setdefault(port, []).extend(port_items)
        result = NodeResult(ports)
    check_output(result.ports, limits or ctx.limits, ctx.node_id)
    return result


def _at_item(exc: NodeError, index: int, count: int) -> NodeError:
    """The same error, its message saying which input item it was about (when there were several)."""
    if count > 1 and not exc.message.startswith("item "):
        exc.message = f"item {index}: {exc.message}"
        exc.args = (exc.message,)
        if exc.details is None:
            exc.details = {"item": index}
        elif isinstance(exc.details, dict):
            exc.details = {**exc.details, "item": index}
    return exc


def resolve_params(
    node: type[NodeType[Any]], raw_params: Mapping[str, Any], ctx: NodeContext, items: list[Item]
) -> NodeParams:
    """The node's parameters rendered once against all its input items (as a batch node sees them)."""
    return _validated(node, raw_params, _scope(ctx, items, None))
