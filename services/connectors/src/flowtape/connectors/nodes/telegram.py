"""The ``telegram_send`` node: ``sendMessage`` with a bot token (an ``api_key`` credential)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls, joined

TELEGRAM_API = "https://api.telegram.org"


class TelegramSendParams(NodeParams):
    credential: str = Field(min_length=1, description="an api_key credential holding the bot token")
    chat_id: int | str = Field(description="the chat's id, or @channelusername")
    text: str = Field(min_length=1, max_length=4096)
    parse_mode: Literal["MarkdownV2", "HTML", "Markdown"] | None = None
    disable_notification: bool = False
    base_url: str = Field(default=TELEGRAM_API, description="the Bot API's base URL")


class TelegramSendNode(NodeType[TelegramSendParams]):
    """Outputs per item ``{"message_id", "chat_id", "date"}``."""

    type = "telegram_send"
    category = "communication"
    description = "Send a text message to a Telegram chat with a bot."
    Params = TelegramSendParams
    #: the message id and date are Telegram's answer
    deterministic = False
    examples = (
        NodeExample(
            title="Warn the on-call group, formatted as HTML (credential 'ops-bot' holds the bot token)",
            params={
                "credential": "ops-bot",
                "chat_id": -1001234567890,
                "text": "Disk on <b>{{ item.host }}</b> is {{ item.used }}% full",
                "parse_mode": "HTML",
            },
            input=[{"host": "db-1", "used": 93}],
            output={"main": [{"message_id": 4711, "chat_id": -1001234567890, "date": 1764489600}]},
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: TelegramSendParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "api_key")
        token = credential.reveal()["key"]
        body: dict[str, Any] = {"chat_id": params.chat_id, "text": params.text}
        if params.parse_mode:
            body["parse_mode"] = params.parse_mode
        if params.disable_notification:
            body["disable_notification"] = True
        answer = await self._calls.call(
            "Telegram sendMessage",
            "POST",
            joined(params.base_url, f"bot{token}/sendMessage"),
            ctx=ctx,
            credential=credential,
            json_body=body,
            accept=lambda status: True,
        )
        reply = answer.body if isinstance(answer.body, dict) else {}
        if not reply.get("ok"):
            raise NodeError(
                f"Telegram sendMessage failed: HTTP {answer.status}: {reply.get('description') or answer.text[:200]}"
            )
        result = reply.get("result") or {}
        chat = result.get("chat") or {}
        return NodeResult.on(
            [{"message_id": result.get("message_id"), "chat_id": chat.get("id"), "date": result.get("date")}]
        )
