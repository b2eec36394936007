"""The ``zoho_crm`` and ``zoho_desk`` nodes: records (CRM modules) and tickets (Desk) — get, create, update,
search — over an ``oauth2`` credential (Zoho's accounts server: ``https://accounts.zoho.<dc>/oauth/v2/token``).

Zoho runs separate data centres; ``data_centre`` picks the API's domain, and ``base_url`` overrides it (a
local stand-in, or a domain Zoho adds later). The access token goes as ``Authorization: Zoho-oauthtoken``,
refreshed by the connection layer before expiry and on a 401.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls, ApiResponse, joined

DataCentre = Literal["com", "eu", "in", "com.au", "jp", "ca", "sa", "com.cn"]
Operation = Literal["get", "create", "update", "search"]
_MODULE = r"^[A-Za-z][A-Za-z0-9_]{0,99}$"
_ID = r"^[0-9A-Za-z_\-]{1,64}$"


def zoho_auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}"}


class _ZohoParams(NodeParams):
    credential: str = Field(min_length=1, description="an oauth2 credential authorized against Zoho's accounts server")
    data_centre: DataCentre = Field(default="com", description="the Zoho data centre the organisation lives in")
    base_url: str | None = Field(default=None, description="overrides the data centre's API URL")
    operation: Operation


class ZohoCrmParams(_ZohoParams):
    module: str = Field(pattern=_MODULE, description="Leads, Contacts, Accounts, Deals, or a custom module's API name")
    record_id: str | None = Field(default=None, pattern=_ID, description="get, update")
    record: dict[str, Any] | None = Field(default=None, description="create, update: the fields")
    criteria: str | None = Field(
        default=None, max_length=2000, description="search: e.g. (Email:equals:{{ item.email }})"
    )
    email: str | None = Field(default=None, description="search by e-mail instead")
    word: str | None = Field(default=None, description="search by a word instead")
    per_page: int = Field(default=200, ge=1, le=200)

    @model_validator(mode="after")
    def _needs(self) -> ZohoCrmParams:
        if self.operation in ("get", "update") and not self.record_id:
            raise ValueError(f"{self.operation} needs 'record_id'")
        if self.operation in ("create", "update") and not self.record:
            raise ValueError(f"{self.operation} needs 'record'")
        if self.operation == "search" and not (self.criteria or self.email or self.word):
            raise ValueError("search needs 'criteria', 'email' or 'word'")
        return self


class ZohoDeskParams(_ZohoParams):
    org_id: str = Field(pattern=_ID, description="the Desk organisation's id (sent as the orgId header)")
    ticket_id: str | None = Field(default=None, pattern=_ID, description="get, update")
    ticket: dict[str, Any] | None = Field(default=None, description="create, update: the ticket's fields")
    search: dict[str, str] | None = Field(
        default=None, description="search: field filters, e.g. {'email': '{{ item.email }}', 'status': 'Open'}"
    )
    limit: int = Field(default=100, ge=1, le=100)

    @model_validator(mode="after")
    def _needs(self) -> ZohoDeskParams:
        if self.operation in ("get", "update") and not self.ticket_id:
            raise ValueError(f"{self.operation} needs 'ticket_id'")
        if self.operation in ("create", "update") and not self.ticket:
            raise ValueError(f"{self.operation} needs 'ticket'")
        if self.operation == "search" and not self.search:
            raise ValueError("search needs 'search'")
        return self


def _written(what: str, answer: ApiResponse) -> Item:
    entries = (answer.body or {}).get("data") or [] if isinstance(answer.body, dict) else []
    if not entries:
        raise NodeError(f"{what}: Zoho answered without a result: {answer.text[:200]}")
    entry = entries[0]
    if str(entry.get("status", "")).lower() != "success":
        raise NodeError(
            f"{what} failed: {entry.get('code')}: {entry.get('message')} {entry.get('details') or ''}".strip()
        )
    return {"id": (entry.get("details") or {}).get("id"), "status": "success", "message": entry.get("message")}


class ZohoCrmNode(NodeType[ZohoCrmParams]):
    """get → the record; create / update → ``{"id", "status", "message"}``; search → one item per record."""

    type = "zoho_crm"
    category = "crm"
    description = "Get, create, update or search records of a Zoho CRM module, in your data centre."
    Params = ZohoCrmParams
    #: record ids are Zoho's answer
    deterministic = False
    examples = (
        NodeExample(
            title="Create a lead from a web form (credential 'zoho': oauth2 on accounts.zoho.eu)",
            params={
                "credential": "zoho",
                "data_centre": "eu",
                "operation": "create",
                "module": "Leads",
                "record": {
                    "First_Name": "{{ item.first_name }}",
                    "Last_Name": "{{ item.last_name }}",
                    "Email": "{{ item.email }}",
                    "Company": "{{ item.company }}",
                    "Lead_Source": "Web Form",
                },
            },
            input=[
                {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "company": "Navy Labs"}
            ],
            output={"main": [{"id": "5725767000001234001", "status": "success", "message": "record added"}]},
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: ZohoCrmParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "oauth2")
        base = params.base_url or f"https://www.zohoapis.{params.data_centre}/crm/v6"
        module = params.module

        async def call(what: str, method: str, path: str, **kwargs: Any) -> ApiResponse:
            return await self._calls.call(
                f"Zoho CRM {what}",
                method,
                joined(base, path),
                ctx=ctx,
                credential=credential,
                auth_header=zoho_auth,
                **kwargs,
            )

        if params.operation == "get":
            answer = await call(f"get {module} {params.record_id}", "GET", f"{module}/{params.record_id}")
            records = (answer.body or {}).get("data") or []
            return NodeResult.on(records[:1])
        if params.operation == "create":
            answer = await call(f"create {module}", "POST", module, json_body={"data": [params.record]})
            return NodeResult.on([_written(f"Zoho CRM create {module}", answer)])
        if params.operation == "update":
            path = f"{module}/{params.record_id}"
            answer = await call(f"update {module} {params.record_id}", "PUT", path, json_body={"data": [params.record]})
            return NodeResult.on([_written(f"Zoho CRM update {module} {params.record_id}", answer)])
        query: dict[str, str] = {"per_page": str(params.per_page)}
        for name in ("criteria", "email", "word"):
            if getattr(params, name):
                query[name] = getattr(params, name)
        answer = await call(f"search {module}", "GET", f"{module}/search", params=query)
        if answer.status == 204 or not answer.body:
            return NodeResult.on([])
        return NodeResult.on(list((answer.body or {}).get("data") or []))


class ZohoDeskNode(NodeType[ZohoDeskParams]):
    """get / create / update → the ticket; search → one item per ticket."""

    type = "zoho_desk"
    category = "crm"
    description = "Get, create, update or search tickets in Zoho Desk, in your data centre."
    Params = ZohoDeskParams
    #: the ticket is Zoho's answer (ids, numbers, times)
    deterministic = False
    examples = (
        NodeExample(
            title="Open a ticket from a customer's e-mail (credential 'zoho'; organisation 60001234567)",
            params={
                "credential": "zoho",
                "data_centre": "eu",
                "org_id": "60001234567",
                "operation": "create",
                "ticket": {
                    "subject": "{{ item.subject }}",
                    "description": "{{ item.body }}",
                    "email": "{{ item.from }}",
                    "departmentId": "1892000000006907",
                    "channel": "Email",
                },
            },
            input=[
                {"from": "ada@example.com", "subject": "Parcel arrived broken", "body": "The mug of order 1002 broke."}
            ],
            output={
                "main": [
                    {
                        "id": "1892000000093001",
                        "ticketNumber": "101",
                        "status": "Open",
                        "createdTime": "2026-11-30T09:15:02.000Z",
                        "webUrl": "https://desk.zoho.eu/support/acme/ShowHomePage.do#Cases/dv/1892000000093001",
                        "subject": "Parcel arrived broken",
                        "description": "The mug of order 1002 broke.",
                        "email": "ada@example.com",
                        "departmentId": "1892000000006907",
                        "channel": "Email",
                    }
                ]
            },
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: ZohoDeskParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "oauth2")
        base = params.base_url or f"https://desk.zoho.{params.data_centre}/api/v1"
        headers = {"orgId": params.org_id}

        async def call(what: str, method: str, path: str, **kwargs: Any) -> ApiResponse:
            return await self._calls.call(
                f"Zoho Desk {what}",
                method,
                joined(base, path),
                ctx=ctx,
                credential=credential,
                auth_header=zoho_auth,
                headers=headers,
                **kwargs,
            )

        if params.operation == "get":
            return NodeResult.on(
                [(await call(f"get ticket {params.ticket_id}", "GET", f"tickets/{params.ticket_id}")).body]
            )
        if params.operation == "create":
            return NodeResult.on([(await call("create ticket", "POST", "tickets", json_body=params.ticket)).body])
        if params.operation == "update":
            path = f"tickets/{params.ticket_id}"
            return NodeResult.on(
                [(await call(f"update ticket {params.ticket_id}", "PATCH", path, json_body=params.ticket)).body]
            )
        query = {**(params.search or {}), "limit": str(params.limit)}
        answer = await call("search tickets", "GET", "tickets/search", params=query)
        if answer.status == 204 or not answer.body:
            return NodeResult.on([])
        return NodeResult.on(list((answer.body or {}).get("data") or []))
