"""End to end: every shipped template, instantiated with one call and run on the distributed platform against
local stand-ins (an HTTP API, Slack, Discord, an OpenAI-compatible API, SMTP, S3 and the local PostgreSQL).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from services.connectors.tests.fakes import FakeApi, Recorded, chat_api, openai_api, s3_server, smtp_server
from tests.infra import FakeApi as InfraFakeApi
from tests.infra import Platform, postgres_database, remember_secret

SLACK_TOKEN = remember_secret(f"xoxb-{secrets.token_hex(8)}")
OPENAI_KEY = remember_secret(f"sk-{secrets.token_hex(8)}")
CRM_TOKEN = remember_secret(f"crm-{secrets.token_hex(8)}")
SMTP_PASSWORD = remember_secret(secrets.token_urlsafe(12))
S3_KEYS = ("AKIATEMPLATES", remember_secret(secrets.token_urlsafe(24)))
PAGE = "<html><body><h1> Price list </h1><a href='/mugs'>Mugs</a><p><a href='/tees'>Tees</a></p></body></html>"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _site(request: Recorded) -> tuple[int, Any]:
    """The third-party API the templates call: orders, pages of records, a CRM, an HTML page, a status."""
    if request.path == "/orders":
        return 200, [{"id": 1, "total": 30}, {"id": 2, "total": 12.5}, {"id": 3, "total": 7.5}]
    if request.path == "/records":
        page = int(request.query["page"])
        return 200, {"page": page, "items": [{"page": page, "n": page * 10 + i} for i in range(2)]}
    if request.path == "/leads":
        if request.headers.get("authorization") != f"Bearer {CRM_TOKEN}":
            return 401, {"error": "unauthorized"}
        return 201, {"id": "L-77", "email": request.body["email"]}
    if request.path == "/page":
        return 200, PAGE
    if request.path == "/weather":
        return 200, {"city": request.query.get("q"), "forecast": "sunny"}
    if request.path.startswith("/health/"):
        return int(request.path.rsplit("/", 1)[1]), {"checked": True}
    return 200, {"received": request.body}


@pytest.fixture(scope="module")
def site() -> Iterator[FakeApi]:
    with FakeApi({"GET /": _site, "POST /": _site}) as api:
        yield api


@pytest.fixture(scope="module")
def chat() -> Iterator[FakeApi]:
    with chat_api(SLACK_TOKEN, "unused-bot-token") as api:
        yield api


def _credential(api: httpx.Client, type_name: str, data: dict[str, Any]) -> str:
    name = _unique(type_name)
    created = api.post("/api/v1/credentials", json={"name": name, "type": type_name, "data": data})
    assert created.status_code == 201, created.text
    return name


def _instantiate(api: httpx.Client, template_id: str, **parameters: Any) -> dict[str, Any]:
    made = api.post(f"/api/v1/templates/{template_id}/instantiate", json={"parameters": parameters})
    assert made.status_code == 201, made.text
    workflow = made.json()
    assert f"template:{template_id}" in workflow["tags"]
    return workflow


def _run(api: httpx.Client, workflow: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(
        f"/api/v1/workflows/{workflow['id']}/run", params={"wait": "true", "timeout": 60}, json={"input": items}
    )
    assert response.status_code == 200, response.text
    execution = response.json()
    assert execution["status"] == "succeeded", execution
    return execution


def _eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def _activate(api: httpx.Client, workflow: dict[str, Any]) -> None:
    activated = api.post(f"/api/v1/workflows/{workflow['id']}/activate")
    assert activated.status_code == 200, activated.text


def test_the_catalog_lists_twelve_templates_and_refuses_bad_parameters(api: httpx.Client) -> None:
    listed = api.get("/api/v1/templates")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) >= 13
    assert {item["id"] for item in items} >= {"api-proxy-cache", "webhook-transform-reply", "scrape-page"}
    assert all(item["parameters"] is not None and item["node_types"] for item in items)
    refused = api.post("/api/v1/templates/uptime-check/instantiate", json={"parameters": {"wrong": 1}})
    assert refused.status_code == 422
    assert {d["field"] for d in refused.json()["error"]["details"]} >= {"parameters.wrong", "parameters.url"}
    assert api.post("/api/v1/templates/no-such-thing/instantiate").status_code == 404
    assert api.get("/api/v1/templates/no-such-thing").status_code == 404


def test_webhook_transform_reply(api: httpx.Client, platform: Platform) -> None:
    path = _unique("greet")
    _activate(api, _instantiate(api, "webhook-transform-reply", path=path))
    answer = httpx.post(f"{platform.gateway}/hooks/{path}", json={"name": "Ada"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"greeting": "Hello, Ada!", "length": 3}


def test_api_proxy_with_caching(api: httpx.Client, platform: Platform, site: FakeApi) -> None:
    path = _unique("weather")
    _activate(api, _instantiate(api, "api-proxy-cache", path=path, upstream_url=f"{site.url}/weather", ttl_seconds=2))
    before = len(site.sent("/weather"))
    first = httpx.get(f"{platform.gateway}/hooks/{path}", params={"q": "Lyon"}, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json() == {"city": "Lyon", "forecast": "sunny"} and first.headers["x-cache"] == "miss"
    again = httpx.get(f"{platform.gateway}/hooks/{path}", params={"q": "Lyon"}, timeout=30)
    assert again.json() == first.json() and again.headers["x-cache"] == "hit"
    other = httpx.get(f"{platform.gateway}/hooks/{path}", params={"q": "Oslo"}, timeout=30)
    assert other.json()["city"] == "Oslo" and other.headers["x-cache"] == "miss"
    assert [r.query["q"] for r in site.sent("/weather")[before:]] == ["Lyon", "Oslo"], "a hit calls nobody"
    time.sleep(2.1)  # past the time to live: asked again
    stale = httpx.get(f"{platform.gateway}/hooks/{path}", params={"q": "Lyon"}, timeout=30)
    assert stale.headers["x-cache"] == "miss" and len(site.sent("/weather")) == before + 3


def test_form_to_crm_lead(api: httpx.Client, platform: Platform, site: FakeApi) -> None:
    path = _unique("form")
    credential = _credential(api, "http_bearer", {"token": CRM_TOKEN})
    workflow = _instantiate(api, "form-to-crm-lead", path=path, crm_url=f"{site.url}/leads", crm_credential=credential)
    _activate(api, workflow)
    created = httpx.post(f"{platform.gateway}/hooks/{path}", json={"email": "ada@example.com", "name": "Ada"})
    assert created.status_code == 201, created.text
    assert created.json() == {"lead_id": "L-77"}
    assert site.sent("/leads")[-1].body == {"email": "ada@example.com", "name": "Ada", "source": "web-form"}
    refused = httpx.post(f"{platform.gateway}/hooks/{path}", json={"name": "no email"})
    assert refused.status_code == 422 and refused.json() == {"error": "an email address is required"}


def test_cron_report_by_email(api: httpx.Client, site: FakeApi) -> None:
    with smtp_server("reports@shop.example", SMTP_PASSWORD) as (inbox, port):
        smtp = {
            "host": "127.0.0.1",
            "port": port,
            "tls": "require",
            "username": "reports@shop.example",
            "password": SMTP_PASSWORD,
            "from_address": "reports@shop.example",
        }
        credential = _credential(api, "smtp", smtp)
        workflow = _instantiate(
            api,
            "cron-report-email",
            orders_url=f"{site.url}/orders",
            smtp_credential=credential,
            to="boss@shop.example",
        )
        assert workflow["nodes"][0]["params"]["cron"] == "0 7 * * *"
        _run(api, workflow, [{"scheduled_at": "2026-12-02T07:00:00Z"}])
        [(_, recipients, message)] = inbox.messages
    assert recipients == ["boss@shop.example"]
    assert message["subject"] == "Daily orders report"
    assert "Orders: 3" in message.get_content() and "Revenue: 50" in message.get_content()


def test_error_workflow_posts_failed_runs_to_chat(api: httpx.Client, chat: FakeApi) -> None:
    credential = _credential(api, "http_bearer", {"token": SLACK_TOKEN})
    channel = f"#{_unique('alerts')}"
    watcher = _instantiate(
        api, "error-to-chat", slack_credential=credential, channel=channel, slack_api=f"{chat.url}/api"
    )
    _activate(api, watcher)
    try:
        failing = api.post(
            "/api/v1/workflows",
            json={
                "name": _unique("fails"),
                "nodes": [
                    {"id": "start", "type": "manual_trigger"},
                    {"id": "boom", "type": "stop_and_error", "params": {"message": "the card was declined"}},
                ],
                "edges": [{"from": "start", "to": "boom"}],
            },
        ).json()
        run = api.post(f"/api/v1/workflows/{failing['id']}/run", params={"wait": "true"}, json={"input": [{}]})
        assert run.json()["status"] == "failed"

        def posted() -> list[Recorded]:
            return [r for r in chat.sent("/api/chat.postMessage") if r.body["channel"] == channel]

        [message] = _eventually(posted)
        assert run.json()["id"] in message.body["text"] and "the card was declined" in message.body["text"]
    finally:
        api.post(f"/api/v1/workflows/{watcher['id']}/deactivate")


def test_ai_summary_of_new_tickets(api: httpx.Client, chat: FakeApi) -> None:
    with openai_api(OPENAI_KEY) as llm:
        channel = f"#{_unique('support')}"
        workflow = _instantiate(
            api,
            "ai-ticket-summary",
            path=_unique("ticket"),
            llm_credential=_credential(api, "api_key", {"key": OPENAI_KEY}),
            llm_url=f"{llm.url}/v1",
            slack_credential=_credential(api, "http_bearer", {"token": SLACK_TOKEN}),
            channel=channel,
            slack_api=f"{chat.url}/api",
        )
        _run(api, workflow, [{"subject": "Broken mug", "body": "It arrived in pieces"}])
        assert llm.sent("/v1/chat/completions")[-1].body["model"] == "gpt-4o-mini"
    [message] = [r for r in chat.sent("/api/chat.postMessage") if r.body["channel"] == channel]
    assert message.body["text"] == "New ticket — summary of: Broken mug: It arrived in pieces"


def test_loop_over_a_paginated_api(api: httpx.Client, site: FakeApi) -> None:
    workflow = _instantiate(api, "paginated-api", api_url=f"{site.url}/records", pages=3)
    execution = _run(api, workflow, [{}])
    [gathered] = execution["output"]
    assert [record["n"] for record in gathered["records"]] == [10, 11, 20, 21, 30, 31]


def test_approval_by_a_person(api: httpx.Client, platform: Platform, site: FakeApi) -> None:
    workflow = _instantiate(api, "approval-by-person", path=_unique("approve"), approved_url=f"{site.url}/approved")
    started = api.post(f"/api/v1/workflows/{workflow['id']}/run", json={"input": [{"what": "a new laptop"}]}).json()

    def waiting() -> dict[str, Any] | None:
        execution = api.get(f"/api/v1/executions/{started['execution_id']}").json()
        return execution if execution["nodes"].get("decision", {}).get("resume_url") else None

    execution = _eventually(waiting)
    assert execution is not None and execution["status"] == "waiting"
    resume_url = httpx.URL(platform.gateway).join(execution["nodes"]["decision"]["resume_url"])
    resumed = httpx.post(resume_url, json={"approved": True, "by": "grace"}, timeout=30)
    assert resumed.status_code < 300, resumed.text

    def finished() -> dict[str, Any] | None:
        execution = api.get(f"/api/v1/executions/{started['execution_id']}").json()
        return execution if execution["status"] == "succeeded" else None

    assert _eventually(finished) is not None
    assert site.sent("/approved")[-1].body == {"request": "a new laptop", "approved_by": "grace"}


@pytest.fixture(scope="module")
def warehouse() -> Iterator[dict[str, Any]]:
    """A PostgreSQL database of its own, with an ``orders`` table, named by a postgres credential's data."""
    with postgres_database("flowtape_tpl") as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}", autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, sku text, qty int)")
            conn.execute("INSERT INTO orders VALUES (1, 'MUG', 2), (2, 'TEE', 5)")
            conn.execute("CREATE TABLE signups (email text, plan text)")
        yield {"host": "127.0.0.1", "port": 5432, "tls": "disable", "database": name, "username": "postgres"}


def test_nightly_etl_from_postgres_to_csv_in_s3(api: httpx.Client, warehouse: dict[str, Any]) -> None:
    import boto3

    with s3_server(*S3_KEYS, "exports") as s3_url:
        workflow = _instantiate(
            api,
            "nightly-etl-postgres-s3",
            postgres_credential=_credential(api, "postgres", warehouse),
            query="SELECT id, sku, qty FROM orders ORDER BY id",
            s3_credential=_credential(
                api, "aws", {"access_key_id": S3_KEYS[0], "secret_access_key": S3_KEYS[1], "endpoint_url": s3_url}
            ),
            bucket="exports",
        )
        execution = _run(api, workflow, [{}])
        client = boto3.client(
            "s3",
            endpoint_url=s3_url,
            aws_access_key_id=S3_KEYS[0],
            aws_secret_access_key=S3_KEYS[1],
            region_name="us-east-1",
        )
        body = client.get_object(Bucket="exports", Key=f"exports/{execution['id']}.csv")["Body"].read().decode()
    assert body.splitlines() == ["id,sku,qty", "1,MUG,2", "2,TEE,5"]


def test_scrape_a_page(api: httpx.Client, site: FakeApi) -> None:
    workflow = _instantiate(api, "scrape-page", url=f"{site.url}/page")
    execution = _run(api, workflow, [{}])
    assert execution["output"] == [{"title": "Price list", "links": ["/mugs", "/tees"]}]


def test_scrape_a_page_with_the_browser(api: httpx.Client, fake_api: InfraFakeApi) -> None:
    workflow = _instantiate(api, "browser-scrape", url=f"{fake_api.url}/shop/search?q=", selector=".result")
    [result] = _run(api, workflow, [{}])["output"]
    assert result["title"].startswith("Search") and result["values"] == ["Enamel mug", "Logo T-shirt"]
    shot = result["screenshot"]["$binary"]
    assert shot["mime_type"] == "image/png" and shot["size"] > 1000


def test_signup_to_discord(api: httpx.Client, platform: Platform, chat: FakeApi) -> None:
    hook = f"{chat.url}/webhooks/1234/{secrets.token_urlsafe(16)}"
    path = _unique("signup")
    workflow = _instantiate(
        api, "signup-to-discord", path=path, discord_credential=_credential(api, "webhook_url", {"url": hook})
    )
    _activate(api, workflow)
    name = _unique("Grace")
    accepted = httpx.post(f"{platform.gateway}/hooks/{path}", json={"name": name, "plan": "team"}, timeout=30)
    assert accepted.status_code == 202, accepted.text
    sent = _eventually(lambda: [r for r in chat.sent("/webhooks/1234/") if name in (r.body or {}).get("content", "")])
    assert sent and sent[0].body["content"] == f"Welcome {name} (team plan)!"


def test_uptime_check_alerts_only_when_down(api: httpx.Client, site: FakeApi, chat: FakeApi) -> None:
    credential = _credential(api, "http_bearer", {"token": SLACK_TOKEN})
    channel = f"#{_unique('uptime')}"

    def check(status: int) -> list[Recorded]:
        workflow = _instantiate(
            api,
            "uptime-check",
            url=f"{site.url}/health/{status}",
            slack_credential=credential,
            channel=channel,
            slack_api=f"{chat.url}/api",
            interval=60,
        )
        _run(api, workflow, [{}])
        return [r for r in chat.sent("/api/chat.postMessage") if r.body["channel"] == channel]

    assert check(200) == []
    [alert] = check(503)
    assert alert.body["text"] == f"{site.url}/health/503 is down (status 503)"


def test_webhook_to_postgres(api: httpx.Client, platform: Platform, warehouse: dict[str, Any]) -> None:
    path = _unique("records")
    workflow = _instantiate(
        api,
        "webhook-to-postgres",
        path=path,
        postgres_credential=_credential(api, "postgres", warehouse),
        table="signups",
        columns=["email", "plan"],
    )
    _activate(api, workflow)
    email = f"{_unique('ada')}@example.com"
    stored = httpx.post(
        f"{platform.gateway}/hooks/{path}",
        json=[{"email": email, "plan": "pro"}, {"email": f"x{email}", "plan": "free"}],
    )
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"stored": 2}
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={warehouse['database']}") as conn:
        rows = conn.execute(
            "SELECT email, plan FROM signups WHERE email LIKE %s ORDER BY plan", (f"%{email}",)
        ).fetchall()
    assert rows == [(f"x{email}", "free"), (email, "pro")]
