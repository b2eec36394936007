"""Bus handlers: translate a message into one call on the :class:`Engine`, nothing more."""

from __future__ import annotations

from typing import Any

from flowtape.common.bus import Bus
from flowtape.common.messages import engine as msg
from flowtape.common.messages.connectors import NodeCatalogPublished, NodeTaskCompleted
from flowtape.common.topology import ENGINE_CATALOG_QUEUE, ENGINE_REQUESTS_QUEUE, ENGINE_TASK_RESULTS_QUEUE
from flowtape.engine.application import Engine
from flowtape.engine.catalog import NodeCatalog


def subscribe(bus: Bus, engine: Engine, catalog: NodeCatalog) -> None:
    async def create(m: msg.CreateWorkflow) -> Any:
        return await engine.create_workflow(m.definition)

    async def update(m: msg.UpdateWorkflow) -> Any:
        return await engine.update_workflow(m.workflow_id, m.definition)

    async def delete(m: msg.DeleteWorkflow) -> Any:
        return await engine.delete_workflow(m.workflow_id)

    async def set_active(m: msg.SetWorkflowActive) -> Any:
        return await engine.set_active(m.workflow_id, m.active)

    async def get_workflow(m: msg.GetWorkflow) -> Any:
        return await engine.get_workflow(m.workflow_id, m.version)

    async def list_workflows(m: msg.ListWorkflows) -> Any:
        return await engine.list_workflows(m.limit, m.cursor)

    async def list_versions(m: msg.ListWorkflowVersions) -> Any:
        return await engine.list_versions(m.workflow_id)

    async def start(m: msg.StartExecution) -> Any:
        return await engine.start_execution(m)

    async def get_execution(m: msg.GetExecution) -> Any:
        return await engine.get_execution(m.execution_id, m.at)

    async def get_events(m: msg.GetExecutionEvents) -> Any:
        return await engine.get_events(m.execution_id, m.after)

    async def list_executions(m: msg.ListExecutions) -> Any:
        return await engine.list_executions(m)

    async def task_completed(m: NodeTaskCompleted) -> None:
        await engine.complete_node_task(m)

    async def catalog_published(m: NodeCatalogPublished) -> None:
        catalog.replace(m.nodes)

    bus.subscribe(
        ENGINE_REQUESTS_QUEUE,
        {
            msg.CreateWorkflow: create,
            msg.UpdateWorkflow: update,
            msg.DeleteWorkflow: delete,
            msg.SetWorkflowActive: set_active,
            msg.GetWorkflow: get_workflow,
            msg.ListWorkflows: list_workflows,
            msg.ListWorkflowVersions: list_versions,
            msg.StartExecution: start,
            msg.GetExecution: get_execution,
            msg.GetExecutionEvents: get_events,
            msg.ListExecutions: list_executions,
        },
        prefetch=64,
    )
    bus.subscribe(ENGINE_TASK_RESULTS_QUEUE, {NodeTaskCompleted: task_completed}, prefetch=64)
    bus.subscribe(ENGINE_CATALOG_QUEUE, {NodeCatalogPublished: catalog_published}, prefetch=1)
