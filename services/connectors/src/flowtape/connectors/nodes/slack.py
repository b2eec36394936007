"""The ``slack_post`` node: ``chat.postMessage`` with a bot token (an ``http_bearer`` credential)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls, http_auth_headers, joined

SLACK_API = "https://slack.com/api"


class SlackPostParams(NodeParams):
    credential: str = Field(min_length=1, description="an http_bearer credential holding the bot token (xoxb-...)")
    channel: str = Field(min_length=1, max_length=200, description="a channel id or name, or a user id")
    text: str | None = Field(default=None, max_length=40000)
    blocks: list[dict[str, Any]] | None = Field(default=None, description="Block Kit blocks")
    thread_ts: str | None = Field(default=None, description="reply in this thread")
    base_url: str = Field(default=SLACK_API, description="the Slack Web API's base URL")

    @model_validator(mode="after")
    def _content(self) -> SlackPostParams:
        if not self.text and not self.blocks:
            raise ValueError("give text or blocks")
        return self


class SlackPostNode(NodeType[SlackPostParams]):
    """Outputs per item ``{"channel", "ts"}`` of the posted message."""

    type = "slack_post"
    category = "communication"
    description = "Post a message to a Slack channel (chat.postMessage) with a bot token."
    Params = SlackPostParams
    #: the channel id and timestamp are Slack's answer
    deterministic = False
    examples = (
        NodeExample(
            title="Alert a channel when an order fails (credential 'slack-bot' holds the bot token)",
            params={
                "credential": "slack-bot",
                "channel": "#ops-alerts",
                "text": "Order {{ item.order_id }} failed: {{ item.reason }}",
            },
            input=[{"order_id": 1002, "reason": "card declined"}],
            output={"main": [{"channel": "C024BE91L", "ts": "1764489600.000200"}]},
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: SlackPostParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "http_bearer")
        body: dict[str, Any] = {"channel": params.channel}
        for name in ("text", "blocks", "thread_ts"):
            if getattr(params, name) is not None:
                body[name] = getattr(params, name)
        answer = await self._calls.call(
            "Slack chat.postMessage",
            "POST",
            joined(params.base_url, "chat.postMessage"),
            ctx=ctx,
            credential=credential,
            headers={**http_auth_headers(credential.data), "Content-Type": "application/json; charset=utf-8"},
            json_body=body,
        )
        reply = answer.body if isinstance(answer.body, dict) else {}
        if not reply.get("ok"):
            raise NodeError(f"Slack chat.postMessage failed: {reply.get('error') or answer.text[:200]}")
        return NodeResult.on([{"channel": reply.get("channel"), "ts": reply.get("ts")}])
