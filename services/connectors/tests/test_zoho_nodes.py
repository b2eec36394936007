"""Zoho CRM and Desk against local stand-ins, authenticated by OAuth2 tokens from a local authorization server
(the stand-ins accept only tokens it issued and still honours)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.zoho import ZohoCrmNode, ZohoDeskNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, FakeApi, Recorded, credential
from tests.oauth2_server import FakeAuthorizationServer


class Zoho:
    def __init__(self, provider: FakeAuthorizationServer) -> None:
        self.provider = provider
        self.leads: dict[str, dict[str, Any]] = {"1001": {"id": "1001", "Last_Name": "Lovelace", "Email": "ada@x.io"}}
        self.tickets: dict[str, dict[str, Any]] = {}

    def ok(self, request: Recorded) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Zoho-oauthtoken ")
        issued = self.provider.tokens.get(token)
        return issued is not None and issued.expires_at > time.time()

    def crm(self, request: Recorded) -> tuple[int, Any]:
        if not self.ok(request):
            return 401, {"code": "INVALID_TOKEN", "message": "invalid oauth token"}
        parts = request.path.split("/")[3:]  # /crm/v6/<module>[/<id>|/search]
        if request.method == "GET" and parts[-1] == "search":
            email = request.query.get("email")
            found = [lead for lead in self.leads.values() if lead["Email"] == email]
            return (200, {"data": found, "info": {"count": len(found)}}) if found else (204, None)
        if request.method == "GET":
            lead = self.leads.get(parts[1])
            return (200, {"data": [lead]}) if lead else (404, {"code": "INVALID_URL_PATTERN"})
        record = request.body["data"][0]
        if "Last_Name" not in record and request.method == "POST":
            return 400, {
                "data": [
                    {
                        "code": "MANDATORY_NOT_FOUND",
                        "details": {"api_name": "Last_Name"},
                        "message": "required field not found",
                        "status": "error",
                    }
                ]
            }
        record_id = parts[1] if request.method == "PUT" else str(1001 + len(self.leads))
        self.leads.setdefault(record_id, {"id": record_id}).update(record)
        return 200 if request.method == "PUT" else 201, {
            "data": [{"code": "SUCCESS", "details": {"id": record_id}, "message": "record added", "status": "success"}]
        }

    def desk(self, request: Recorded) -> tuple[int, Any]:
        if not self.ok(request) or request.headers.get("orgid") != "777":
            return 401, {"errorCode": "INVALID_OAUTH"}
        parts = request.path.split("/")[3:]  # /api/v1/tickets[/<id>|/search]
        if request.method == "POST":
            ticket = {"id": str(500 + len(self.tickets)), "status": "Open", **request.body}
            self.tickets[ticket["id"]] = ticket
            return 200, ticket
        if parts[-1] == "search":
            found = [t for t in self.tickets.values() if t.get("email") == request.query.get("email")]
            return (200, {"data": found, "count": len(found)}) if found else (204, None)
        ticket = self.tickets[parts[1]]
        if request.method == "PATCH":
            ticket.update(request.body)
        return 200, ticket


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeAuthorizationServer]:
    with FakeAuthorizationServer() as server:
        yield server


@pytest.fixture(scope="module")
def zoho(provider: FakeAuthorizationServer) -> Iterator[tuple[FakeApi, Zoho]]:
    fake = Zoho(provider)
    with FakeApi(
        {
            "GET /crm/": fake.crm,
            "POST /crm/": fake.crm,
            "PUT /crm/": fake.crm,
            "GET /api/v1/": fake.desk,
            "POST /api/v1/": fake.desk,
            "PATCH /api/v1/": fake.desk,
        }
    ) as api:
        yield api, fake


@pytest.fixture
async def calls() -> AsyncIterator[ApiCalls]:
    connections = Connections(LOCAL_SERVERS)
    yield ApiCalls(connections)
    await connections.close()


def context(provider: FakeAuthorizationServer) -> NodeContext:
    zoho_app = credential("zoho", "oauth2", provider.credential_data("client_credentials"))
    return NodeContext(
        execution_id="e", workflow_id="w", workflow_version=1, node_id="z", credentials=Credentials(zoho_app)
    )


async def test_crm_records_get_create_update_search(zoho: tuple[FakeApi, Zoho], provider, calls: ApiCalls) -> None:
    api, _ = zoho
    node, ctx = ZohoCrmNode(calls), context(provider)
    base = {"credential": "zoho", "base_url": f"{api.url}/crm/v6", "module": "Leads"}

    async def crm(items: list[dict[str, Any]] | None = None, **params: Any) -> list[Any]:
        return (await execute_node(node, {**base, **params}, ctx, items or [{}])).ports["main"]

    [lead] = await crm(operation="get", record_id="1001")
    [created] = await crm(
        [{"name": "Hopper"}], operation="create", record={"Last_Name": "{{ item.name }}", "Email": "grace@x.io"}
    )
    [updated] = await crm(operation="update", record_id=created["id"], record={"Company": "Navy"})
    found = await crm(operation="search", email="grace@x.io")
    none = await crm(operation="search", email="nobody@x.io")

    assert lead["Last_Name"] == "Lovelace"
    assert created == {"id": "1002", "status": "success", "message": "record added"} and updated["id"] == "1002"
    assert found == [{"id": "1002", "Last_Name": "Hopper", "Email": "grace@x.io", "Company": "Navy"}]
    assert none == []
    assert api.sent("/crm/v6/Leads")[0].headers["authorization"].startswith("Zoho-oauthtoken at-")
    with pytest.raises(NodeError, match=r"Zoho CRM create Leads failed: HTTP 400.*MANDATORY_NOT_FOUND"):
        await crm(operation="create", record={"Email": "x@x.io"})


async def test_desk_tickets_and_a_401_refreshes_the_token(
    zoho: tuple[FakeApi, Zoho], provider, calls: ApiCalls
) -> None:
    api, _ = zoho
    node, ctx = ZohoDeskNode(calls), context(provider)
    base = {"credential": "zoho", "base_url": f"{api.url}/api/v1", "org_id": "777"}

    async def desk(**params: Any) -> list[Any]:
        return (await execute_node(node, {**base, **params}, ctx, [{}])).ports["main"]

    [ticket] = await desk(operation="create", ticket={"subject": "Printer on fire", "email": "ada@x.io"})
    before = provider.grants["client_credentials"]
    provider.expire_all()
    [patched] = await desk(operation="update", ticket_id=ticket["id"], ticket={"status": "Closed"})
    found = await desk(operation="search", search={"email": "ada@x.io"})
    [got] = await desk(operation="get", ticket_id=ticket["id"])

    assert ticket["status"] == "Open" and patched["status"] == "Closed" == got["status"]
    assert [t["id"] for t in found] == [ticket["id"]]
    assert provider.grants["client_credentials"] == before + 1, "one new token after the 401"


def test_the_data_centre_picks_the_domain() -> None:
    from flowtape.connectors.nodes.zoho import ZohoCrmParams, ZohoDeskParams

    assert (
        ZohoCrmParams(credential="z", operation="get", module="Leads", record_id="1", data_centre="eu").data_centre
        == "eu"
    )
    with pytest.raises(ValueError):
        ZohoDeskParams(credential="z", operation="get", org_id="1", ticket_id="1", data_centre="mars")  # type: ignore[arg-type]
