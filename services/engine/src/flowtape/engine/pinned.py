"""Pinned outputs in test runs: a node whose output is pinned in the workflow's draft is recorded as having
produced it (a ``NodeCopied`` event, as a fork copies its parent's nodes) and is never run.

Only a run started with ``StartExecution.test`` (the editor's test run) does this; its ``ExecutionStarted``
says so (``trigger_meta.test`` and ``trigger_meta.pinned``, the nodes that were not run).
"""

from __future__ import annotations

from flowtape.engine.domain.execution import Execution
from flowtape.engine.domain.graph import WorkflowGraph
from flowtape.engine.domain.workflow import Workflow


def pinned_nodes(graph: WorkflowGraph, workflow: Workflow) -> list[str]:
    """The nodes of the run's version whose output is pinned, in graph order."""
    return [node_id for node_id in graph.order if node_id in workflow.pinned]


def use_pinned_outputs(execution: Execution, workflow: Workflow, nodes: list[str]) -> None:
    for node_id in nodes:
        execution.copy_node(node_id, "succeeded", None, workflow.pinned[node_id])
