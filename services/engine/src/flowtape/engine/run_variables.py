"""The variables a run records: asked of the connectors (who own them) once, when the run starts.

The plain values and the names of the secret ones go into the run's ``ExecutionStarted`` (its trigger
metadata), so the run's state, time travel and every replay of it show the values it used, whatever happens to
the variables afterwards. A secret variable is recorded as a placeholder: its value never reaches the engine
or the log; the connectors fill it in for the node tasks that use it. A workflow whose parameters never
mention ``vars`` costs no round trip.
"""

from __future__ import annotations

import re
from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.messages.variables import SECRET_PLACEHOLDER, ResolvedVariables, ResolveVariables
from flowtape.engine.domain.graph import WorkflowGraph

_MENTIONS_VARS = re.compile(r"\bvars\b")


def recorded_variables(meta: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = meta.get("variables") or {}
    return values


def secret_variables(meta: dict[str, Any]) -> list[str]:
    names: list[str] = meta.get("secret_variables") or []
    return names


class RunVariables:
    def __init__(self, bus: Bus, timeout: float = 10.0) -> None:
        self._bus = bus
        self._timeout = timeout

    async def for_start(self, workflow_id: str, graph: WorkflowGraph, project_id: str) -> dict[str, Any]:
        """What a new run of ``graph`` adds to its trigger metadata: nothing when no parameter says ``vars``."""
        if not _MENTIONS_VARS.search(graph.params_text):
            return {}
        resolved = ResolvedVariables.model_validate(
            await self._bus.ask(ResolveVariables(workflow_id=workflow_id, project_id=project_id), timeout=self._timeout)
        )
        values = {**resolved.plain, **{name: SECRET_PLACEHOLDER for name in resolved.secret}}
        return {"variables": values, "secret_variables": resolved.secret}
