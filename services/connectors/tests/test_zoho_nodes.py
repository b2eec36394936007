"""Zoho CRM and Desk against local stand-ins, authenticated by OAuth2 tokens from a local authorization server
(the stand-ins accept only tokens it issued and still honours)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.zoho import ZohoCrmNode, ZohoDeskNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, FakeApi, Zoho, credential, zoho_api
from tests.oauth2_server import FakeAuthorizationServer


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeAuthorizationServer]:
    with FakeAuthorizationServer() as server:
        yield server


@pytest.fixture(scope="module")
def zoho(provider: FakeAuthorizationServer) -> Iterator[tuple[FakeApi, Zoho]]:
    fake = Zoho(provider)
    with zoho_api(fake) as api:
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
