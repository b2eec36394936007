"""Test a step: run one node of a workflow once, with given items or the input it had in a past run, and see its
output, without starting an execution. The connectors run it as they run any node task (credentials, the SSRF
guard, redaction), but nothing is recorded: no log, no projection, no trigger."""

from __future__ import annotations

import uuid
from typing import Any

from flowtape.common.errors import InvalidWorkflow, NotFound
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import RunNodeTask, TestNodeStep
from flowtape.common.messages.variables import SECRET_PLACEHOLDER, ResolvedVariables, ResolveVariables
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.gateway.clients import Platform

#: how long a tested step may run when the node names no timeout
DEFAULT_STEP_TIMEOUT = 60.0


def _refused(field: str, message: str) -> InvalidWorkflow:
    return InvalidWorkflow(message, [{"field": field, "message": message}])


class StepTests:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    async def test(
        self,
        workflow_id: str,
        node_id: str,
        *,
        items: list[dict[str, Any]] | None,
        execution_id: str | None,
        version: int | None,
        ignore_pin: bool = False,
    ) -> dict[str, Any]:
        workflow = await self._platform.ask(msg.GetWorkflow(workflow_id=workflow_id, version=version))
        node = next((n for n in workflow["nodes"] if n["id"] == node_id), None)
        if node is None:
            raise NotFound(f"workflow {workflow_id} (version {workflow['version']}) has no node {node_id!r}")
        trigger: list[dict[str, Any]] = []
        pinned: dict[str, dict[str, list[dict[str, Any]]]] = workflow.get("pinned") or {}
        # in a test, the other nodes' pinned outputs are in scope of expressions (a past run's replace them)
        outputs = {nid: [item for out in ports.values() for item in out] for nid, ports in pinned.items()}
        project = workflow.get("project_id") or DEFAULT_PROJECT
        resolved = ResolvedVariables.model_validate(
            await self._platform.ask(ResolveVariables(workflow_id=workflow_id, project_id=project))
        )
        variables = {**resolved.plain, **{name: SECRET_PLACEHOLDER for name in resolved.secret}}
        if execution_id is not None:
            execution = await self._platform.ask(msg.GetExecution(execution_id=execution_id))
            # the past run's variables, as it recorded them (its secret ones filled in as they are now)
            variables = execution.get("variables") or variables
            if execution["workflow_id"] != workflow_id:
                raise _refused("execution_id", f"execution {execution_id} is not a run of workflow {workflow_id}")
            recorded = execution["nodes"].get(node_id) or {}
            if items is None:
                if recorded.get("input") is None:
                    raise _refused("execution_id", f"node {node_id!r} received no input in execution {execution_id}")
                items = recorded["input"]
            outputs = {nid: run["output"] for nid, run in execution["nodes"].items() if run.get("output") is not None}
            targets = {edge["to"] for edge in workflow["edges"]}
            starts = [n["id"] for n in workflow["nodes"] if n["id"] not in targets]
            trigger = next((outputs[s] for s in starts if s in outputs), [])
        if node_id in pinned and not ignore_pin:
            return self._answer(workflow, node, items or [], {"outcome": "succeeded", "ports": pinned[node_id]}, True)
        if items is None:
            raise _refused("items", "give the items to test the step with, or an execution_id to take its input from")
        timeout = float(node.get("timeout_seconds") or DEFAULT_STEP_TIMEOUT)
        task = RunNodeTask(
            execution_id=f"step-test-{uuid.uuid4()}",
            workflow_id=workflow_id,
            workflow_version=workflow["version"],
            node_id=node_id,
            node_type=node["type"],
            node_version=node.get("version"),
            params=node.get("params", {}),
            items=items,
            trigger=trigger or items,
            node_outputs=outputs,
            timeout_seconds=timeout,
            workflow_settings=workflow.get("settings", {}),
            project_id=project,
            variables=variables,
            secret_variables=[name for name, value in variables.items() if value == SECRET_PLACEHOLDER],
        )
        outcome = await self._platform.ask(TestNodeStep(task=task), timeout=timeout + 10)
        return self._answer(workflow, node, items, outcome, False)

    @staticmethod
    def _answer(
        workflow: dict[str, Any],
        node: dict[str, Any],
        items: list[dict[str, Any]],
        outcome: dict[str, Any],
        pinned: bool,
    ) -> dict[str, Any]:
        ports = outcome.get("ports") or {}
        return {
            "workflow_id": workflow["id"],
            "workflow_version": workflow["version"],
            "node": node["id"],
            "type": node["type"],
            "pinned": pinned,
            "status": outcome["outcome"],
            "input": items,
            "ports": ports,
            "output": ports.get("main", next(iter(ports.values()), [])) if ports else None,
            "error": outcome.get("error"),
            "error_code": outcome.get("error_code"),
        }
