"""The ``code`` node: the user's ``run(items)`` in an isolated process with time and memory limits.

``run(items)`` receives all input items and returns the output items; a ``run(items, ctx)`` also receives
``{"execution_id", "workflow_id", "workflow_version", "node_id", "attempt", "idempotency_key"}``. It is
Python (the standard library only) or, with ``"language": "javascript"``, JavaScript on Node.js (its
built-in modules only; ``run`` may be async in both). What the code prints is kept (truncated) in the
error details when it fails and logged at debug level when it succeeds.

The code has no network unless the workflow's ``settings.code_network`` is true *and* the operator lets
workflows ask for it (``FLOWTAPE_CODE_NETWORK=per_workflow``): then it shares the host's network.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.sandbox import (
    InterpreterMissing,
    IsolationUnavailable,
    MemoryLimitExceeded,
    Sandbox,
    SandboxError,
    SandboxLimits,
    TimeLimitExceeded,
    UserCodeFailed,
)

logger = logging.getLogger(__name__)

#: the workflow setting that asks for network access for the workflow's code nodes
NETWORK_SETTING = "code_network"


class CodeParams(NodeParams):
    language: Literal["python", "javascript"] = Field(default="python", description="The language of code")
    code: str = Field(
        min_length=1,
        max_length=1_000_000,
        description="Source defining run(items) (or run(items, ctx)) that returns a list of items",
    )
    timeout_seconds: float = Field(default=10, gt=0, le=300, description="Wall-clock limit in seconds")
    memory_mb: int = Field(default=256, ge=16, le=4096, description="Memory the code may allocate, in MB")


class CodeNode(NodeType[CodeParams]):
    """Runs user Python over the whole batch of input items."""

    type = "code"
    category = "code"
    description = (
        "Run Python (standard library only) or JavaScript (Node.js built-ins only) in an isolated process: "
        "run(items) returns the output items."
    )
    Params = CodeParams
    mode = "batch"
    raw_params = ("code",)
    examples = (
        NodeExample(
            title="Add a field in Python",
            params={"code": "def run(items):\n    return [{**i, 'total': i['price'] * i['qty']} for i in items]\n"},
            input=[{"price": 2.5, "qty": 4}],
            output={"main": [{"price": 2.5, "qty": 4, "total": 10.0}]},
        ),
    )

    def __init__(self, sandbox: Sandbox | None = None, *, network_allowed: bool = False) -> None:
        """``network_allowed``: whether a workflow's ``settings.code_network`` may give code the network."""
        self._sandbox = sandbox or Sandbox()
        self._network_allowed = network_allowed

    async def run(self, ctx: NodeContext, params: CodeParams, items: list[Item]) -> NodeResult:
        limits = SandboxLimits(timeout_seconds=params.timeout_seconds, memory_mb=params.memory_mb)
        network = ctx.workflow_settings.get(NETWORK_SETTING) is True
        if network and not self._network_allowed:
            raise NodeError(
                f"the workflow's settings.{NETWORK_SETTING} asks for network access, which this platform does "
                "not give code nodes (an operator allows it with FLOWTAPE_CODE_NETWORK=per_workflow)"
            )
        try:
            outcome = await self._sandbox.run(
                params.code, items, limits=limits, context=_context(ctx), network=network, language=params.language
            )
        except (IsolationUnavailable, InterpreterMissing) as exc:
            raise NodeError(str(exc), details={"logs": ""}) from None
        except SandboxError as exc:
            raise NodeError(_message(exc), details=_details(exc)) from None
        if outcome.logs:
            logger.debug("code node %s of execution %s printed:\n%s", ctx.node_id, ctx.execution_id, outcome.logs)
        return NodeResult.on(outcome.items)


def _context(ctx: NodeContext) -> dict[str, Any]:
    return {
        "execution_id": ctx.execution_id,
        "workflow_id": ctx.workflow_id,
        "workflow_version": ctx.workflow_version,
        "node_id": ctx.node_id,
        "attempt": ctx.attempt,
        "idempotency_key": ctx.idempotency_key,
    }


def _message(exc: SandboxError) -> str:
    if isinstance(exc, TimeLimitExceeded):
        return f"code node exceeded its time limit of {exc.seconds:g} s"
    if isinstance(exc, MemoryLimitExceeded):
        return f"code node exceeded its memory limit of {exc.megabytes} MB"
    return str(exc)


def _details(exc: SandboxError) -> dict[str, Any]:
    details: dict[str, Any] = {"logs": exc.logs}
    if isinstance(exc, UserCodeFailed):
        details.update(exception=exc.exc_type, line=exc.line, traceback=exc.traceback)
    return details
