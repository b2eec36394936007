"""Email over a local SMTP server (aiosmtpd, STARTTLS and AUTH), and Slack, Discord and Telegram against local
stand-ins for their APIs."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flowtape.common.errors import NodeError, RemoteRateLimited
from flowtape.common.nodes.sdk import Credential, NodeContext, NodeType, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.credential_checks import check_credential
from flowtape.connectors.domain.redaction import Redactor
from flowtape.connectors.nodes.discord import DiscordWebhookNode
from flowtape.connectors.nodes.email import EmailNode
from flowtape.connectors.nodes.slack import SlackPostNode
from flowtape.connectors.nodes.telegram import TelegramSendNode
from services.connectors.tests.fakes import (
    LOCAL_SERVERS,
    Credentials,
    FakeApi,
    Inbox,
    chat_api,
    credential,
    smtp_server,
)

SMTP_PASSWORD = f"smtp-{secrets.token_urlsafe(12)}"
BOT_TOKEN = f"123456:{secrets.token_urlsafe(20)}"
SLACK_TOKEN = f"xoxb-{secrets.token_urlsafe(20)}"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server("mailer", SMTP_PASSWORD) as server:
        yield server


@pytest.fixture
async def connections() -> AsyncIterator[Connections]:
    connections = Connections(LOCAL_SERVERS)
    yield connections
    await connections.close()


def ctx(*known: Credential) -> NodeContext:
    return NodeContext(
        execution_id="e", workflow_id="w", workflow_version=1, node_id="n", credentials=Credentials(*known)
    )


async def run(
    node: NodeType[Any], params: dict[str, Any], context: NodeContext, items: list[dict[str, Any]] | None = None
):
    return (await execute_node(node, params, context, items or [{}])).ports["main"]


def mailer(port: int, password: str = SMTP_PASSWORD) -> Credential:
    data = {"host": "127.0.0.1", "port": port, "tls": "require", "username": "mailer", "password": password}
    return credential("mail", "smtp", {**data, "from_address": "flows@example.com"})


async def test_email_with_attachments_from_item_data(smtp: tuple[Inbox, int], connections: Connections) -> None:
    inbox, port = smtp
    report = base64.b64encode(b"\x89PNG fake image bytes").decode()

    [sent] = await run(
        EmailNode(connections),
        {
            "credential": "mail",
            "to": "{{ item.customer }}",
            "cc": ["ops@example.com"],
            "bcc": "audit@example.com",
            "subject": "Order {{ item.order }} shipped",
            "text": "Hello {{ item.name }}",
            "html": "<p>Hello <b>{{ item.name }}</b></p>",
            "attachments": [
                {"filename": "order.csv", "content": "{{ item.csv }}", "content_type": "text/csv"},
                {
                    "filename": "label.png",
                    "content": "{{ item.png }}",
                    "encoding": "base64",
                    "content_type": "image/png",
                },
            ],
        },
        ctx(mailer(port)),
        [{"customer": "ada@example.com", "order": 42, "name": "Ada", "csv": "id,qty\n42,1\n", "png": report}],
    )

    sender, recipients, message = inbox.messages[-1]
    assert sender == "flows@example.com"
    assert sorted(recipients) == ["ada@example.com", "audit@example.com", "ops@example.com"]
    assert sent["accepted"] == ["ada@example.com", "ops@example.com", "audit@example.com"]
    assert message["Subject"] == "Order 42 shipped" and message["Message-ID"] == sent["message_id"]
    assert "Bcc" not in message and message["Cc"] == "ops@example.com"
    assert message.get_body(("plain",)).get_content().strip() == "Hello Ada"  # type: ignore[union-attr]
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert attachments["order.csv"] == "id,qty\n42,1\n"
    assert attachments["label.png"] == b"\x89PNG fake image bytes"


async def test_header_injection_and_a_wrong_password_fail_clearly(smtp: tuple[Inbox, int], connections: Connections):
    inbox, port = smtp
    count = len(inbox.messages)
    with pytest.raises(NodeError, match="cannot build the e-mail"):
        await run(
            EmailNode(connections),
            {"credential": "mail", "to": "a@example.com", "subject": "{{ item.s }}", "text": "x"},
            ctx(mailer(port)),
            [{"s": "Hi\r\nBcc: victim@example.com"}],
        )
    with pytest.raises(NodeError, match="invalid parameters"):
        await run(
            EmailNode(connections),
            {"credential": "mail", "to": "a@x.com\r\nb@y.com", "subject": "s", "text": "t"},
            ctx(mailer(port)),
        )
    wrong = f"wrong-{secrets.token_urlsafe(8)}"
    with pytest.raises(NodeError, match="refused the login") as refused:
        await run(
            EmailNode(connections),
            {"credential": "mail", "to": "a@example.com", "subject": "s", "text": "t"},
            ctx(mailer(port, wrong)),
        )
    assert wrong not in refused.value.message
    assert len(inbox.messages) == count, "nothing was sent"
    assert (await check_credential(connections, mailer(port))).ok
    checked = await check_credential(connections, mailer(port, wrong))
    assert not checked.ok and wrong not in checked.message


@pytest.fixture(scope="module")
def chat() -> Iterator[FakeApi]:
    with chat_api(SLACK_TOKEN, BOT_TOKEN) as api:
        yield api


async def test_slack_posts_and_says_what_failed(chat: FakeApi, connections: Connections) -> None:
    slack = SlackPostNode(ApiCalls(connections))
    context = ctx(credential("slack", "http_bearer", {"token": SLACK_TOKEN}))
    base = {"credential": "slack", "base_url": f"{chat.url}/api"}

    [posted] = await run(slack, {**base, "channel": "#ops", "text": "Order {{ item.n }} failed"}, context, [{"n": 7}])

    assert posted == {"channel": "C123", "ts": "1700000000.000100"}
    assert chat.sent("/api/chat.postMessage")[-1].body == {"channel": "#ops", "text": "Order 7 failed"}
    with pytest.raises(NodeError, match="channel_not_found"):
        await run(slack, {**base, "channel": "#missing", "text": "x"}, context)
    with pytest.raises(RemoteRateLimited) as limited:
        await run(slack, {**base, "channel": "#busy", "text": "x"}, context)
    assert limited.value.retry_after == 7.0 and limited.value.code == "rate_limited"


async def test_discord_and_telegram(chat: FakeApi, connections: Connections) -> None:
    calls = ApiCalls(connections)
    hook = credential("hook", "webhook_url", {"url": f"{chat.url}/webhooks/1/s3cr3t-webhook-token"})
    bot = credential("bot", "api_key", {"key": BOT_TOKEN})

    [message] = await run(
        DiscordWebhookNode(calls), {"credential": "hook", "content": "deployed {{ item.v }}"}, ctx(hook), [{"v": "1.2"}]
    )
    [sent] = await run(
        TelegramSendNode(calls), {"credential": "bot", "chat_id": 42, "text": "hi", "base_url": chat.url}, ctx(bot)
    )

    assert message == {"id": "987", "channel_id": "555"}
    assert chat.sent("/webhooks/1/")[-1].body == {"content": "deployed 1.2"}
    assert sent == {"message_id": 11, "chat_id": 42, "date": 1700000000}
    with pytest.raises(NodeError, match="chat not found") as failed:
        await run(
            TelegramSendNode(calls), {"credential": "bot", "chat_id": 0, "text": "hi", "base_url": chat.url}, ctx(bot)
        )
    assert BOT_TOKEN not in Redactor(bot.data.secret_values()).text(failed.value.message)
