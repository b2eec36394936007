"""Bus handlers of the connectors: node tasks (competing consumers), catalog queries and the credentials vault."""

from __future__ import annotations

from typing import Any

from flowtape.common.audit import AuditRecorder
from flowtape.common.bus import Bus
from flowtape.common.bus.base import Handlers
from flowtape.common.messages import connectors as msg
from flowtape.common.messages import variables as var
from flowtape.common.messages.connectors import CancelNodeTasks, GetNodeCatalog, RunNodeTask
from flowtape.common.topology import (
    CONNECTORS_CREDENTIALS_QUEUE,
    CONNECTORS_QUERIES_QUEUE,
    CONNECTORS_TASKS_QUEUE,
    cancel_tasks_broadcast,
)
from flowtape.connectors.application import NodeRunner
from flowtape.connectors.binaries import BinaryStore
from flowtape.connectors.credential_checks import CredentialChecks
from flowtape.connectors.oauth2 import OAuth2Authorizations
from flowtape.connectors.variables import Variables
from flowtape.connectors.vault import Vault

CredentialCommand = msg.CreateCredential | msg.UpdateCredential | msg.DeleteCredential


def subscribe(
    bus: Bus,
    runner: NodeRunner,
    vault: Vault,
    binaries: BinaryStore,
    checks: CredentialChecks,
    authorizations: OAuth2Authorizations,
    variables: Variables,
    concurrency: int,
    replica: str,
    backup: Handlers | None = None,
) -> None:
    """``backup``: the backup-and-restore handlers, answered on the queries queue too."""

    async def run(task: RunNodeTask) -> None:
        completed = await runner.handle(task)
        if completed is not None:
            await bus.publish(completed)

    async def cancel(command: CancelNodeTasks) -> None:
        runner.cancel(command.execution_id)

    async def catalog(_: GetNodeCatalog) -> Any:
        return runner.catalog()

    async def test_step(query: msg.TestNodeStep) -> Any:
        completed = await runner.run(query.task)
        return completed.model_dump(mode="json", include={"outcome", "ports", "error", "error_code"})

    async def binary(query: msg.GetBinary) -> Any:
        return await binaries.download(query.binary_id, query.workflow_id)

    async def sealing_key(_: msg.GetCredentialSealingKey) -> Any:
        return vault.sealing_key()

    audit = AuditRecorder(bus)  # the entry goes out once the credential is stored, before the answer

    async def audited(command: CredentialCommand, action: str, credential: msg.CredentialView) -> msg.CredentialView:
        details = {"name": credential.name, "type": credential.type}
        await audit.record(
            command, command.actor, action, target_type="credential", target_id=credential.id, details=details
        )
        return credential

    async def create(command: msg.CreateCredential) -> Any:
        return await audited(command, "credential.created", await vault.create(command))

    async def update(command: msg.UpdateCredential) -> Any:
        return await audited(command, "credential.updated", await vault.update(command))

    async def delete(command: msg.DeleteCredential) -> Any:
        return await audited(command, "credential.deleted", await vault.delete(command.credential_id))

    async def get(query: msg.GetCredential) -> Any:
        return await vault.get(query.credential_id)

    async def list_all(query: msg.ListCredentials) -> Any:
        return await vault.list(query.limit, query.cursor, query.project_ids)

    async def check(query: msg.CheckCredential) -> Any:
        return await checks.check(query.credential_id)

    async def for_trigger(query: msg.OpenTriggerCredential) -> Any:
        return await vault.open_for_trigger(query)

    async def authorize(command: msg.StartOAuth2Authorization) -> Any:
        return await authorizations.start(command)

    async def authorized(command: msg.CompleteOAuth2Authorization) -> Any:
        return await authorizations.complete(command)

    async def set_variable(command: var.SetVariable) -> Any:
        view = await variables.set(command)
        details = {"name": view.name, "workflow_id": view.workflow_id, "secret": view.secret}
        await audit.record(
            command, command.actor, "variable.set", target_type="variable", target_id=view.name, details=details
        )
        return view

    async def unset_variable(command: var.UnsetVariable) -> Any:
        view = await variables.unset(command)
        details = {"name": view.name, "workflow_id": view.workflow_id}
        await audit.record(
            command, command.actor, "variable.unset", target_type="variable", target_id=view.name, details=details
        )
        return view

    async def list_variables(query: var.ListVariables) -> Any:
        return await variables.list(query.workflow_id, query.project_id)

    async def resolve_variables(query: var.ResolveVariables) -> Any:
        return await variables.resolve(query.workflow_id, query.project_id)

    bus.subscribe(CONNECTORS_TASKS_QUEUE, {RunNodeTask: run}, prefetch=concurrency)
    bus.subscribe(
        CONNECTORS_QUERIES_QUEUE,
        {**(backup or {}), GetNodeCatalog: catalog, msg.GetBinary: binary, msg.TestNodeStep: test_step},
        prefetch=4,
    )
    bus.subscribe(
        CONNECTORS_CREDENTIALS_QUEUE,
        {
            msg.GetCredentialSealingKey: sealing_key,
            msg.CreateCredential: create,
            msg.UpdateCredential: update,
            msg.DeleteCredential: delete,
            msg.GetCredential: get,
            msg.ListCredentials: list_all,
            msg.CheckCredential: check,
            msg.OpenTriggerCredential: for_trigger,
            msg.StartOAuth2Authorization: authorize,
            msg.CompleteOAuth2Authorization: authorized,
            var.SetVariable: set_variable,
            var.UnsetVariable: unset_variable,
            var.ListVariables: list_variables,
            var.ResolveVariables: resolve_variables,
        },
        prefetch=8,
    )
    bus.subscribe(cancel_tasks_broadcast(replica), {CancelNodeTasks: cancel}, prefetch=16)
