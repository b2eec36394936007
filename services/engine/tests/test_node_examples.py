"""Every example of every node type in the catalog, run through the real engine and connectors.

Each example becomes a one-node workflow after a ``manual_trigger`` (a trigger node's example runs as the
workflow's own trigger, its input standing for what started the run: for ``mqtt_trigger`` the items of a
message; the subscription itself is tests/test_mqtt_trigger.py's), is saved (so the catalog's JSON Schema
validates its params), run with the example's input, and the node's recorded output on every port is compared
with the example's. Nodes that are not deterministic (ids, random values, the clock, an API's or a database's
answer) are compared by shape: the same ports, item count, top-level keys and JSON types. The catalog comes over
the bus, as ``GET /api/v1/nodes`` shows it.

The world an example's title describes is set up first: the credentials it names, the tables and rows in real
PostgreSQL, MariaDB and SQLite databases, a vhost with a bound exchange on RabbitMQ, Mosquitto, Redis, and local
stand-ins for the rest (services/connectors/tests/fakes.py: SMTP, S3, Slack, Discord, Telegram, GitHub, Zoho,
an OpenAI-compatible API), which the SSRF guard is told to allow (``egress_allow``). Two kinds of address are
redirected: a node's ``base_url`` parameter (a SaaS API's address) is set to its stand-in (``Outside.apis``), and an
input field ``base_url`` (e.g. in a URL template) is pointed at tests.infra.FakeApi.

Examples with an ``error`` must make the run fail with that text; a ``workflow_id`` parameter naming one of
:data:`EXAMPLE_WORKFLOWS` is pointed at that workflow, saved before the examples run.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import boto3
import psycopg
import pymysql
import pytest

from flowtape.common.bus.memory import MemoryBus
from flowtape.common.errors import InvalidWorkflow
from flowtape.common.hosting import running
from flowtape.common.messages import connectors as connectors_msg
from flowtape.common.messages import engine as msg
from flowtape.common.settings import Settings
from flowtape.connectors.bootstrap import ConnectorsRuntime
from flowtape.engine.bootstrap import EngineRuntime
from flowtape.gateway.vault import seal
from services.connectors.tests.fakes import (
    GithubRepo,
    Zoho,
    chat_api,
    github_api,
    mariadb_database,
    openai_api,
    s3_server,
    smtp_server,
    zoho_api,
)
from tests.infra import FakeApi, postgres_database, rabbitmq_vhost
from tests.oauth2_server import FakeAuthorizationServer

#: credentials the examples name (their titles say so) that need no server, created before the examples run
EXAMPLE_CREDENTIALS: dict[str, tuple[str, dict[str, Any]]] = {"webhook-signing": ("generic", {"key": "secret"})}
#: workflows the examples call (execute_workflow), by the name their ``workflow_id`` parameter uses
EXAMPLE_WORKFLOWS = {
    "example-double": {
        "name": "doubles n",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {
                "id": "double",
                "type": "set",
                "params": {"fields": {"doubled": "{{ item.n * 2 }}"}, "keep_only_set": True},
            },
        ],
        "edges": [{"from": "start", "to": "double"}],
    }
}
FINISHED = ("succeeded", "failed", "cancelled")

#: what the SQL examples' titles say each database holds
POSTGRES_TABLES = (
    "CREATE TABLE orders (id integer PRIMARY KEY, customer_email text NOT NULL, total numeric(10, 2) NOT NULL,"
    " status text NOT NULL)",
    "INSERT INTO orders VALUES (1001, 'ada@example.com', 19.99, 'delivered'), (1002, 'ada@example.com', 45.50,"
    " 'shipped'), (1003, 'grace@example.com', 12.00, 'paid')",
    "CREATE TABLE customers (email text PRIMARY KEY, name text NOT NULL, plan text NOT NULL DEFAULT 'free')",
)
MYSQL_TABLES = (
    "CREATE TABLE products (sku varchar(32) PRIMARY KEY, name varchar(200) NOT NULL, stock int NOT NULL)",
    "INSERT INTO products VALUES ('MUG-02', 'Enamel mug', 0), ('TEE-01', 'Logo T-shirt', 3), ('CAP-05', 'Cap', 40)",
    "CREATE TABLE stock_movements (id int AUTO_INCREMENT PRIMARY KEY, sku varchar(32) NOT NULL,"
    " quantity int NOT NULL, reason varchar(200))",
)
SQLITE_TABLES = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL, tracking_number TEXT)",
    "INSERT INTO orders VALUES (7, 'ada@example.com', 'paid', NULL), (8, 'grace@example.com', 'paid', NULL),"
    " (9, 'ada@example.com', 'delivered', '1Z999AA10123450001')",
)
#: the report the s3 get example reads
S3_REPORT = ("acme-reports", "daily/2026-11-29.csv", "sku,sold\nMUG-02,9\nTEE-01,4\n")

SMTP_PASSWORD = f"smtp-{secrets.token_urlsafe(12)}"
SLACK_TOKEN = f"xoxb-{secrets.token_urlsafe(20)}"
BOT_TOKEN = f"123456:{secrets.token_urlsafe(20)}"
GITHUB_TOKEN = f"ghp_{secrets.token_urlsafe(24)}"
OPENAI_KEY = f"sk-{secrets.token_urlsafe(24)}"
S3_KEYS = ("AKIAEXAMPLES", f"s3-{secrets.token_urlsafe(20)}")
ZOHO_ORG = "60001234567"


@dataclass(frozen=True)
class Outside:
    """The servers and stand-ins the examples reach, in the state their titles describe."""

    data_dir: Path
    credentials: dict[str, tuple[str, dict[str, Any]]]
    #: node type -> the address of its API's stand-in (the node's ``base_url`` parameter)
    apis: dict[str, str]
    #: what an input field ``base_url`` is pointed at
    fake_api: FakeApi


def _fill_databases(postgres_url: str, mysql: dict[str, Any], sqlite_file: Path) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as postgres:
        for statement in POSTGRES_TABLES:
            postgres.execute(statement)
    with (
        pymysql.connect(
            host=mysql["host"], user=mysql["username"], password=mysql["password"], database=mysql["database"]
        ) as mariadb,
        mariadb.cursor() as cursor,
    ):
        for statement in MYSQL_TABLES:
            cursor.execute(statement)
        mariadb.commit()
    sqlite_file.parent.mkdir()
    shop = sqlite3.connect(sqlite_file)
    with shop:
        for statement in SQLITE_TABLES:
            shop.execute(statement)
    shop.close()


async def _orders_exchange(vhost_url: str) -> None:
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("orders", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("order-events", durable=True)
        await queue.bind(exchange, "order.*")


@pytest.fixture(scope="module")
async def outside(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Outside]:
    data_dir: Path = tmp_path_factory.mktemp("examples")
    async with AsyncExitStack() as stack:
        postgres_url = stack.enter_context(postgres_database("flowtape_examples"))
        mysql = stack.enter_context(mariadb_database("flowtape_examples"))
        _fill_databases(postgres_url, mysql, data_dir / "sqlite" / "shop.db")
        vhost_url = stack.enter_context(rabbitmq_vhost("flowtape-examples"))
        await _orders_exchange(vhost_url)
        _, smtp_port = stack.enter_context(smtp_server("orders@shop.example", SMTP_PASSWORD))
        s3_url = stack.enter_context(s3_server(*S3_KEYS, S3_REPORT[0]))
        bucket, key, content = S3_REPORT
        boto3.client(
            "s3",
            endpoint_url=s3_url,
            aws_access_key_id=S3_KEYS[0],
            aws_secret_access_key=S3_KEYS[1],
            region_name="us-east-1",
        ).put_object(Bucket=bucket, Key=key, Body=content.encode(), ContentType="text/csv")
        chat = stack.enter_context(chat_api(SLACK_TOKEN, BOT_TOKEN))
        github = stack.enter_context(github_api(GithubRepo(GITHUB_TOKEN)))
        llm = stack.enter_context(openai_api(OPENAI_KEY))
        provider = stack.enter_context(FakeAuthorizationServer())
        zoho = stack.enter_context(zoho_api(Zoho(provider, org_id=ZOHO_ORG)))
        fake_api = stack.enter_context(FakeApi())
        credentials = {
            **EXAMPLE_CREDENTIALS,
            "shop-db": (
                "postgres",
                {
                    "host": "127.0.0.1",
                    "database": postgres_url.rsplit("/", 1)[1],
                    "username": "postgres",
                    "tls": "disable",
                },
            ),
            "inventory-db": ("mysql", mysql),
            "cache": ("redis", {"host": "127.0.0.1", "port": 6379}),
            "shop-broker": (
                "amqp",
                {
                    "host": "127.0.0.1",
                    "username": "guest",
                    "password": "guest",
                    "virtual_host": vhost_url.rsplit("/", 1)[1],
                },
            ),
            "sensor-broker": ("mqtt", {"host": "127.0.0.1", "port": 1883}),
            "shop-mail": (
                "smtp",
                {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "tls": "require",  # the local server's certificate is self-signed
                    "username": "orders@shop.example",
                    "password": SMTP_PASSWORD,
                    "from_address": "orders@shop.example",
                },
            ),
            "slack-bot": ("http_bearer", {"token": SLACK_TOKEN}),
            "deploy-hook": (
                "webhook_url",
                {"url": f"{chat.url}/webhooks/1109876543210987654/{secrets.token_urlsafe(24)}"},
            ),
            "ops-bot": ("api_key", {"key": BOT_TOKEN}),
            "openai": ("api_key", {"key": OPENAI_KEY}),
            "reports-storage": (
                "aws",
                {"access_key_id": S3_KEYS[0], "secret_access_key": S3_KEYS[1], "endpoint_url": s3_url},
            ),
            "github-token": ("http_bearer", {"token": GITHUB_TOKEN}),
            "zoho": ("oauth2", provider.credential_data("client_credentials")),
        }
        apis = {
            "slack_post": f"{chat.url}/api",
            "telegram_send": chat.url,
            "github": github.url,
            "openai": f"{llm.url}/v1",
            "zoho_crm": f"{zoho.url}/crm/v6",
            "zoho_desk": f"{zoho.url}/api/v1",
        }
        yield Outside(data_dir, credentials, apis, fake_api)


@pytest.fixture(scope="module")
async def bus(outside: Outside) -> AsyncIterator[MemoryBus]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FLOWTAPE_ENGINE_DATABASE_URL", raising=False)
        patch.delenv("FLOWTAPE_CONNECTORS_DATABASE_URL", raising=False)
        settings = Settings(
            data_dir=outside.data_dir,
            database_url=None,
            egress_allow="127.0.0.1",  # the servers and stand-ins above, refused by the SSRF guard otherwise
            _env_file=None,  # type: ignore[call-arg]
        )
        memory = MemoryBus()
        async with running(memory, [EngineRuntime(settings, memory), ConnectorsRuntime(settings, memory)]):
            key = await memory.ask(connectors_msg.GetCredentialSealingKey())
            for name, (kind, data) in outside.credentials.items():
                await memory.ask(
                    connectors_msg.CreateCredential(name=name, type=kind, sealed_data=seal(data, key["jwk"]))
                )
            yield memory


def _kind(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def _shape(ports: dict[str, list[dict[str, Any]]]) -> Any:
    return {port: [{key: _kind(v) for key, v in item.items()} for item in items] for port, items in ports.items()}


async def _finished(bus: MemoryBus, execution_id: str, timeout: float = 60.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view: dict[str, Any] = await bus.ask(msg.GetExecution(execution_id=execution_id))
        if view["status"] in FINISHED:
            return view
        if loop.time() > deadline:
            raise AssertionError(f"execution {execution_id} did not finish in {timeout} s: {view}")
        await asyncio.sleep(0.01)


async def test_every_catalog_example_runs_as_a_one_node_workflow(bus: MemoryBus, outside: Outside) -> None:
    catalog = [
        connectors_msg.NodeCatalogEntry.model_validate(e) for e in await bus.ask(connectors_msg.GetNodeCatalog())
    ]
    missing = [entry.type for entry in catalog if not entry.examples]
    assert not missing, f"node types without an example: {missing}"
    workflows = {name: (await bus.ask(msg.CreateWorkflow(definition=d)))["id"] for name, d in EXAMPLE_WORKFLOWS.items()}
    failures: list[str] = []
    ran = 0
    for entry in catalog:
        for index, example in enumerate(entry.examples):
            label = f"{entry.type} example {index + 1} ({example.title})"
            params = dict(example.params)
            if "base_url" in entry.params_schema.get("properties", {}):
                if entry.type not in outside.apis:
                    failures.append(f"{label}: {entry.type} calls an API at base_url, and it has no stand-in here")
                    continue
                params["base_url"] = outside.apis[entry.type]
            if params.get("workflow_id") in workflows:
                params["workflow_id"] = workflows[params["workflow_id"]]
            node = {"id": "node", "type": entry.type, "version": entry.version, "params": params}
            if entry.trigger:
                definition = {"name": label, "nodes": [node], "edges": []}
            else:
                start = {"id": "start", "type": "manual_trigger", "params": {}}
                definition = {"name": label, "nodes": [start, node], "edges": [{"from": "start", "to": "node"}]}
            workflow = await bus.ask(msg.CreateWorkflow(definition=definition))
            items = [
                {**item, "base_url": outside.fake_api.url} if "base_url" in item else item for item in example.input
            ]
            started = await bus.ask(msg.StartExecution(workflow_id=workflow["id"], input=items))
            view = await _finished(bus, started["execution_id"])
            ran += 1
            run = view["nodes"]["node"]
            if example.error is not None:
                if view["status"] != "failed" or example.error not in (view.get("error") or ""):
                    failures.append(
                        f"{label}: {view['status']} ({view.get('error')}), the example says {example.error}"
                    )
                continue
            if view["status"] != "succeeded":
                failures.append(f"{label}: {view['status']}: {view.get('error') or run.get('error')}")
                continue
            got = {port: items for port, items in (run["ports"] or {}).items() if items or port in example.output}
            want = {port: items for port, items in example.output.items() if items or port in got}
            if not entry.deterministic:
                got, want = _shape(got), _shape(want)
            if got != want:
                failures.append(f"{label}: emitted {got}, the example says {want}")
    assert not failures, "\n".join(failures)
    assert ran >= len(catalog)


@pytest.mark.parametrize(
    ("node_type", "params", "problem"),
    [
        ("filter", {"conditions": [{"field": "a", "operator": "bigger"}]}, "conditions.0.operator"),
        ("sort", {"keys": []}, "keys"),
        ("summarize", {"aggregations": [{"operation": "median", "field": "x"}]}, "aggregations.0.operation"),
        ("pad_text", {"field": "a", "width": 10**9}, "width"),
        ("parse_csv", {"delimiter": ";;"}, "delimiter"),
        ("date_add", {"field": "a", "amount": 1, "unit": "fortnights"}, "unit"),
        ("hash", {"field": "a", "algorithm": "crc32"}, "algorithm"),
        ("validate_schema", {}, "'schema' is a required property"),
        ("limit", {"max_items": 3, "typo": 1}, "typo"),
    ],
)
async def test_bad_params_are_refused_at_save_naming_the_node(
    bus: MemoryBus, node_type: str, params: dict[str, Any], problem: str
) -> None:
    definition = {
        "name": f"bad {node_type}",
        "nodes": [{"id": "start", "type": "manual_trigger"}, {"id": "shaky", "type": node_type, "params": params}],
        "edges": [{"from": "start", "to": "shaky"}],
    }
    with pytest.raises(InvalidWorkflow) as refused:
        await bus.ask(msg.CreateWorkflow(definition=definition))
    assert refused.value.message.startswith(f"invalid workflow: node 'shaky': invalid params for {node_type}")
    assert problem in refused.value.message
