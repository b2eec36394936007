"""Text PostgreSQL cannot store is refused where it enters, naming the field; item data may hold anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import ValidationError

from flowtape.common.errors import InvalidMessage
from flowtape.common.messages import auth, connectors
from flowtape.common.messages.base import decode
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.common.workflow import WorkflowDefinition
from flowtape.gateway.schemas import RunRequest

if TYPE_CHECKING:
    from services.gateway.tests.conftest import Gateway

NUL = "nul\u0000name"
WORKFLOW = {"name": "ok", "nodes": [{"id": "start", "type": "manual_trigger"}]}


def refused_field(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "NUL" in error["message"] or "pattern" in error["message"]  # node ids allow a few characters only
    return str(error["details"][0]["field"])


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/workflows", {**WORKFLOW, "name": NUL}, "body.name"),
        ("PUT", "/api/v1/workflows/w-1", {**WORKFLOW, "name": NUL}, "body.name"),
        ("POST", "/api/v1/workflows", {**WORKFLOW, "nodes": [{"id": NUL, "type": "noop"}]}, "body.nodes.0.id"),
        ("POST", "/api/v1/workflows", {**WORKFLOW, "nodes": [{"id": "n", "type": NUL}]}, "body.nodes.0.type"),
        ("POST", "/api/v1/credentials", {"name": NUL, "type": "http_bearer", "data": {}}, "body.name"),
        ("PUT", "/api/v1/credentials/c-1", {"name": NUL, "data": {}}, "body.name"),
        ("POST", "/api/v1/api-keys", {"name": NUL}, "body.name"),
        ("POST", "/api/v1/users", {"email": f"{NUL}@x.test", "password": "a long password"}, "body.email"),
        ("POST", "/api/v1/auth/setup", {"email": f"{NUL}@x.test", "password": "a long password"}, "body.email"),
        ("POST", "/api/v1/auth/login", {"email": f"{NUL}@x.test", "password": "a long password"}, "body.email"),
    ],
)
async def test_nul_in_stored_text_is_refused_naming_the_field(
    gateway: Gateway, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    # the gateway knows which project w-1 and c-1 are in (as from an earlier request): the body is what it judges
    gateway.runtime.gateway.owners.learn("workflow", "w-1", DEFAULT_PROJECT)
    gateway.runtime.gateway.owners.learn("credential", "c-1", DEFAULT_PROJECT)
    response = await client.request(method, path, json=body, headers=gateway.headers("admin"))
    assert refused_field(response) == field


def test_item_data_may_hold_nul() -> None:
    run = RunRequest.model_validate({"input": [{"text": "a\u0000b", "nested": {"k\u0000": ["\u0000"]}}]})
    assert run.input[0]["text"] == "a\u0000b"


def test_services_refuse_it_too_when_a_message_carries_it() -> None:
    """A message sent around the gateway (another client of the bus, an older gateway) is refused by the
    service that would store it, as a contract failure that is dead-lettered with its reason."""
    with pytest.raises(ValidationError, match="NUL"):
        WorkflowDefinition.model_validate({**WORKFLOW, "name": NUL})
    for message in (
        auth.CreateApiKey(key_id="k" * 16, key_hash="0" * 64, name="n", actor=auth.Actor(kind="cli")),
        auth.Login(email="a@b.c", sealed_password="x"),
        connectors.CreateCredential(name="n", type="http_bearer", sealed_data="x"),
    ):
        raw = message.encode().replace(b'"n"', b'"n\\u0000"').replace(b'"a@b.c"', b'"a\\u0000@b.c"')
        with pytest.raises(InvalidMessage, match="NUL"):
            decode(raw)
