"""Bus handlers: translate a message into one call on the engine's application services, nothing more.

Commands about one execution arrive on the queue of its partition, consumed only by the replica that holds the
partition (:func:`partition_handlers`, started by :class:`~flowtape.engine.partitions.Partitions`); everything
else (workflows, queries, operations) is served by any replica from the shared queues (:func:`subscribe`).
"""

from __future__ import annotations

from typing import Any

from flowtape.common import views
from flowtape.common.audit import AuditRecorder, workflow_audit
from flowtape.common.bus import Bus
from flowtape.common.bus.base import Handlers
from flowtape.common.messages import engine as msg
from flowtape.common.messages import pins
from flowtape.common.messages.connectors import NodeCatalogPublished, NodeTaskCompleted
from flowtape.common.topology import (
    DEAD_LETTER_QUEUE,
    ENGINE_CATALOG_QUEUE,
    ENGINE_REQUESTS_QUEUE,
    ENGINE_TASK_RESULTS_QUEUE,
    run_pauses_broadcast,
    workflow_changed_broadcast,
)
from flowtape.common.views import ProjectOf
from flowtape.engine.application import Engine
from flowtape.engine.commands import ExecutionCommands
from flowtape.engine.workflows import WorkflowSearch


def partition_handlers(commands: ExecutionCommands) -> Handlers:
    async def start(m: msg.StartExecution) -> Any:
        return await commands.start(m)

    async def cancel(m: msg.CancelExecution) -> Any:
        return await commands.cancel(m.execution_id, m.reason, m.only_if_running)

    async def retry(m: msg.RetryExecution) -> Any:
        return await commands.retry(m.execution_id, m.fork_id)

    async def replay(m: msg.ReplayExecution) -> Any:
        return await commands.replay(m.execution_id, m.from_node, m.workflow_version, m.input, m.fork_id)

    async def task_completed(m: NodeTaskCompleted) -> None:
        await commands.complete_node_task(m)

    async def call_workflow(m: msg.CallWorkflow) -> None:
        await commands.call(m)

    async def child_finished(m: msg.ChildExecutionFinished) -> None:
        await commands.child_finished(m)

    async def resume(m: msg.ResumeExecution) -> Any:
        return await commands.resume(m)

    async def debug(m: msg.DebugExecution) -> Any:
        return await commands.debug(m)

    async def admit(m: msg.AdmitExecution) -> None:
        await commands.admit(m.execution_id)

    return {
        msg.AdmitExecution: admit,
        msg.DebugExecution: debug,
        msg.StartExecution: start,
        msg.CancelExecution: cancel,
        msg.RetryExecution: retry,
        msg.ReplayExecution: replay,
        NodeTaskCompleted: task_completed,
        msg.CallWorkflow: call_workflow,
        msg.ChildExecutionFinished: child_finished,
        msg.ResumeExecution: resume,
    }


def subscribe(bus: Bus, replica: str, engine: Engine, backup: Handlers | None = None) -> None:
    """``backup``: the backup-and-restore handlers, answered on the requests queue too."""
    workflows, queries, catalog, pauses = engine.workflows, engine.queries, engine.catalog, engine.pauses
    rebuilds, dead_letters, retention = engine.rebuilds, engine.dead_letters, engine.retention
    bulk_replays, quotas = engine.bulk_replays, engine.quotas
    audit = AuditRecorder(bus)  # the entry goes out once the write is saved, before the answer

    async def create(m: msg.CreateWorkflow) -> Any:
        workflow = await workflows.create_workflow(m.definition, m.project_id)
        await audit.record(m, m.actor, "workflow.created", **workflow_audit(workflow))
        return workflow

    async def update(m: msg.UpdateWorkflow) -> Any:
        workflow = await workflows.update_workflow(m.workflow_id, m.definition)
        await audit.record(m, m.actor, "workflow.updated", **workflow_audit(workflow))
        return workflow

    async def delete(m: msg.DeleteWorkflow) -> Any:
        deleted = await workflows.delete_workflow(m.workflow_id)
        await audit.record(m, m.actor, "workflow.deleted", target_type="workflow", target_id=m.workflow_id)
        return deleted

    async def set_active(m: msg.SetWorkflowActive) -> Any:
        workflow = await workflows.set_active(m.workflow_id, m.active)
        action = "workflow.activated" if m.active else "workflow.deactivated"
        await audit.record(m, m.actor, action, **workflow_audit(workflow))
        return workflow

    async def pin_output(m: pins.PinNodeOutput) -> Any:
        workflow = await workflows.pin_output(m.workflow_id, m.node_id, m.port, m.items)
        audited = workflow_audit(workflow)
        audited["details"] = {**audited["details"], "node": m.node_id}
        await audit.record(m, m.actor, "workflow.output_pinned", **audited)
        return workflow

    async def unpin_output(m: pins.UnpinNodeOutput) -> Any:
        workflow = await workflows.unpin_output(m.workflow_id, m.node_id)
        audited = workflow_audit(workflow)
        audited["details"] = {**audited["details"], "node": m.node_id}
        await audit.record(m, m.actor, "workflow.output_unpinned", **audited)
        return workflow

    async def get_workflow(m: msg.GetWorkflow) -> Any:
        return await workflows.get_workflow(m.workflow_id, m.version)

    async def list_workflows(m: msg.ListWorkflows) -> Any:
        search = WorkflowSearch(name=m.name, tag=m.tag, node_type=m.node_type)
        return await workflows.list_workflows(m.limit, m.cursor, search, m.project_ids)

    async def import_workflow(m: msg.ImportWorkflow) -> Any:
        imported = await workflows.import_workflow(m.workflow_id, m.definition, m.as_copy, m.project_id, m.project_ids)
        workflow = views.Workflow.model_validate(imported["workflow"])
        audited = workflow_audit(workflow)
        audited["details"] = {**audited["details"], "outcome": imported["outcome"], "source_id": str(m.workflow_id)}
        await audit.record(m, m.actor, "workflow.imported", **audited)
        return imported

    async def duplicate_workflow(m: msg.DuplicateWorkflow) -> Any:
        workflow = await workflows.duplicate_workflow(m.workflow_id, m.name, m.project_id)
        await audit.record(m, m.actor, "workflow.created", **workflow_audit(workflow))
        return workflow

    async def list_versions(m: msg.ListWorkflowVersions) -> Any:
        return await workflows.list_versions(m.workflow_id)

    async def list_active(_: msg.ListActiveWorkflows) -> Any:
        return await workflows.list_active_workflows()

    async def replay_check(m: msg.ReplayCheck) -> Any:
        return await queries.replay_check(m)

    async def get_execution(m: msg.GetExecution) -> Any:
        return await queries.get(m.execution_id, m.at)

    async def get_events(m: msg.GetExecutionEvents) -> Any:
        return await queries.events(m.execution_id, m.after)

    async def list_executions(m: msg.ListExecutions) -> Any:
        return await queries.summaries(m)

    async def rebuild(_: msg.RebuildProjections) -> Any:
        return rebuilds.start()

    async def run_retention(m: msg.RunRetention) -> Any:
        return await retention.run(dry_run=m.dry_run, limit=m.limit)

    async def rebuild_status(_: msg.GetProjectionStatus) -> Any:
        return await rebuilds.status()

    async def list_dead_letters(m: msg.ListDeadLetters) -> Any:
        return await dead_letters.recent(m.limit, m.include_replayed)

    async def replay_dead_letters(m: msg.ReplayDeadLetters) -> Any:
        return await dead_letters.replay(m.ids)

    async def pause_runs(m: msg.PauseRuns) -> Any:
        state = await pauses.set(m.workflow_id, m.paused)
        action = "runs.paused" if m.paused else "runs.resumed"
        scope = "workflow" if m.workflow_id else "platform"
        await audit.record(m, m.actor, action, target_type=scope, target_id=m.workflow_id)
        return state

    async def start_bulk_replay(m: msg.StartBulkReplay) -> Any:
        job = await bulk_replays.start(m)
        details = {"dry_run": m.dry_run, "runs": job.total, "canary": job.canary, "job": job.id}
        await audit.record(
            m, m.actor, "executions.bulk_replay", target_type="workflow", target_id=m.workflow_id, details=details
        )
        return job

    async def get_bulk_replay(m: msg.GetBulkReplay) -> Any:
        return await bulk_replays.get(m.job_id)

    async def project_of(m: msg.GetProjectOf) -> Any:
        if m.kind_of == "workflow":
            return ProjectOf(project_id=await workflows.project_of(m.id))
        if m.kind_of == "bulk_replay":  # a bulk replay is its workflow's project's
            return ProjectOf(project_id=(await bulk_replays.get(m.id)).project_id)
        return ProjectOf(project_id=await queries.project_of(m.id))

    async def set_quotas(m: msg.SetProjectQuotas) -> Any:
        usage = await quotas.set(m.project_id, m.quotas)
        details = m.quotas.model_dump()
        await audit.record(
            m, m.actor, "project.quotas_set", target_type="project", target_id=m.project_id, details=details
        )
        return usage

    async def get_usage(m: msg.GetProjectUsage) -> Any:
        return await quotas.usage(m.project_id)

    async def get_pauses(_: msg.GetRunPauses) -> Any:
        return await pauses.state()

    async def pauses_changed(_: msg.RunPausesChanged) -> None:
        await pauses.changed()

    async def forward_to_partition(m: NodeTaskCompleted) -> None:
        """An outcome sent where they went before executions were partitioned (connectors of an older
        version, during an upgrade): on to the partition that decides its execution."""
        await bus.publish(m)

    async def catalog_published(m: NodeCatalogPublished) -> None:
        catalog.replace(m.nodes)

    async def workflow_changed(m: msg.WorkflowChanged) -> None:
        workflows.forget(m.workflow_id)

    bus.subscribe(
        ENGINE_REQUESTS_QUEUE,
        {
            **(backup or {}),
            msg.CreateWorkflow: create,
            msg.UpdateWorkflow: update,
            msg.DeleteWorkflow: delete,
            msg.SetWorkflowActive: set_active,
            msg.GetWorkflow: get_workflow,
            pins.PinNodeOutput: pin_output,
            pins.UnpinNodeOutput: unpin_output,
            msg.ListWorkflows: list_workflows,
            msg.ImportWorkflow: import_workflow,
            msg.DuplicateWorkflow: duplicate_workflow,
            msg.ListWorkflowVersions: list_versions,
            msg.ListActiveWorkflows: list_active,
            msg.ReplayCheck: replay_check,
            msg.GetExecution: get_execution,
            msg.GetExecutionEvents: get_events,
            msg.ListExecutions: list_executions,
            msg.RebuildProjections: rebuild,
            msg.GetProjectionStatus: rebuild_status,
            msg.RunRetention: run_retention,
            msg.ListDeadLetters: list_dead_letters,
            msg.ReplayDeadLetters: replay_dead_letters,
            msg.PauseRuns: pause_runs,
            msg.GetRunPauses: get_pauses,
            msg.StartBulkReplay: start_bulk_replay,
            msg.GetBulkReplay: get_bulk_replay,
            msg.GetProjectOf: project_of,
            msg.SetProjectQuotas: set_quotas,
            msg.GetProjectUsage: get_usage,
        },
        prefetch=64,
    )
    bus.subscribe(ENGINE_TASK_RESULTS_QUEUE, {NodeTaskCompleted: forward_to_partition}, prefetch=16)
    bus.subscribe(ENGINE_CATALOG_QUEUE, {NodeCatalogPublished: catalog_published}, prefetch=1)
    bus.subscribe(workflow_changed_broadcast(replica), {msg.WorkflowChanged: workflow_changed}, prefetch=16)
    bus.subscribe(run_pauses_broadcast(replica), {msg.RunPausesChanged: pauses_changed}, prefetch=4)
    bus.subscribe_raw(DEAD_LETTER_QUEUE, dead_letters.keep, prefetch=4)
