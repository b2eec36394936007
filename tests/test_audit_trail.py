"""End to end: the service that makes a change writes its audit entry, from the actor the command carries
(issue 15, item 7).

The commands go straight onto the bus, with no gateway anywhere: the entries that appear in auth's trail can
only come from the engine (workflows) and the connectors' vault (credentials). A command delivered twice with
the same effect is recorded once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from flowtape.common.bus.rabbit import RabbitBus
from flowtape.common.messages import connectors as vault_msg
from flowtape.common.messages import engine as msg
from flowtape.common.messages.auth import Actor
from flowtape.gateway.vault import seal
from tests import workflows
from tests.infra import Platform


def on_the_bus(platform: Platform, commands: list[Any]) -> list[Any]:
    """Ask each command in turn over RabbitMQ (each ``(factory)`` gets the answers so far) and return the answers."""

    async def asking() -> list[Any]:
        bus = RabbitBus(platform.amqp_url, service="test-audit")
        await bus.start()
        answers: list[Any] = []
        try:
            for make in commands:
                answers.append(await bus.ask(make(answers), timeout=30))
        finally:
            await bus.stop()
        return answers

    return asyncio.run(asking())


def trail_of(api: httpx.Client, target_id: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
        mine = [e for e in items if e["target_id"] == target_id]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def test_the_engine_writes_the_audit_entries_of_workflow_commands_sent_without_a_gateway(
    api: httpx.Client, platform: Platform
) -> None:
    actor = Actor(kind="api_key", user_id=f"u{uuid.uuid4().hex[:8]}", email="bus@flowtape.test", key_id="k123")
    definition = workflows.chain(2, name="audited-on-the-bus")
    activations: list[msg.SetWorkflowActive] = []

    def activate(answers: list[Any]) -> msg.SetWorkflowActive:
        if not activations:
            activations.append(msg.SetWorkflowActive(workflow_id=answers[0]["id"], active=True, actor=actor))
        return activations[0]

    answers = on_the_bus(
        platform,
        [
            lambda _: msg.CreateWorkflow(definition=definition, actor=actor),
            lambda a: msg.UpdateWorkflow(workflow_id=a[0]["id"], definition=workflows.chain(3), actor=actor),
            activate,
            activate,  # the same command again (a redelivery) with the same effect: one entry
            lambda a: msg.DeleteWorkflow(workflow_id=a[0]["id"], actor=actor),
            lambda _: msg.CreateWorkflow(definition=definition),  # no actor (e.g. an internal caller): no entry
        ],
    )
    workflow_id = answers[0]["id"]
    trail = trail_of(api, workflow_id, 4)
    assert [e["action"] for e in trail] == [
        "workflow.deleted",
        "workflow.activated",
        "workflow.updated",
        "workflow.created",
    ], trail
    assert all(e["actor"]["user_id"] == actor.user_id and e["actor"]["key_id"] == "k123" for e in trail), trail
    assert trail[1]["details"]["version"] == 2 and trail[3]["details"]["name"] == "audited-on-the-bus"
    assert trail_of(api, answers[5]["id"], 1, timeout=3) == []


def test_the_vault_writes_the_audit_entries_of_credential_commands_sent_without_a_gateway(
    api: httpx.Client, platform: Platform
) -> None:
    actor = Actor(kind="user", user_id=f"u{uuid.uuid4().hex[:8]}", email="vault@flowtape.test")
    name = f"audited-{uuid.uuid4().hex[:6]}"

    def sealed(answers: list[Any]) -> str:
        return seal({"token": "a-token-never-shown"}, answers[0]["jwk"])

    answers = on_the_bus(
        platform,
        [
            lambda _: vault_msg.GetCredentialSealingKey(),
            lambda a: vault_msg.CreateCredential(name=name, type="http_bearer", sealed_data=sealed(a), actor=actor),
            lambda a: vault_msg.UpdateCredential(credential_id=a[1]["id"], sealed_data=sealed(a), actor=actor),
            lambda a: vault_msg.DeleteCredential(credential_id=a[1]["id"], actor=actor),
        ],
    )
    credential_id = answers[1]["id"]
    trail = trail_of(api, credential_id, 3)
    assert [e["action"] for e in trail] == ["credential.deleted", "credential.updated", "credential.created"], trail
    assert all(e["actor"]["user_id"] == actor.user_id for e in trail)
    assert trail[0]["details"] == {"name": name, "type": "http_bearer"}
    assert "a-token-never-shown" not in str(trail)
