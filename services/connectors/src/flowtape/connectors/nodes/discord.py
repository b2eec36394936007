"""The ``discord_webhook`` node: post a message through a Discord webhook (a ``webhook_url`` credential)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls


class DiscordWebhookParams(NodeParams):
    credential: str = Field(min_length=1, description="a webhook_url credential holding the webhook's URL")
    content: str | None = Field(default=None, max_length=2000)
    username: str | None = Field(default=None, max_length=80)
    embeds: list[dict[str, Any]] | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _content(self) -> DiscordWebhookParams:
        if not self.content and not self.embeds:
            raise ValueError("give content or embeds")
        return self


class DiscordWebhookNode(NodeType[DiscordWebhookParams]):
    """Outputs per item ``{"id", "channel_id"}`` of the posted message."""

    type = "discord_webhook"
    category = "communication"
    description = "Post a message to a Discord channel through its webhook."
    Params = DiscordWebhookParams
    #: the message's ids are Discord's answer
    deterministic = False
    examples = (
        NodeExample(
            title="Announce a deployment (credential 'deploy-hook' holds the webhook's URL)",
            params={
                "credential": "deploy-hook",
                "content": "Deployed {{ item.service }} {{ item.version }} to production",
                "username": "Flowtape",
            },
            input=[{"service": "checkout", "version": "2.4.1"}],
            output={"main": [{"id": "1181234567890123456", "channel_id": "1109876543210987654"}]},
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: DiscordWebhookParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "webhook_url")
        url = credential.reveal()["url"]
        body = {k: v for k, v in params.model_dump(exclude={"credential"}).items() if v is not None}
        answer = await self._calls.call(
            "the Discord webhook", "POST", url, ctx=ctx, credential=credential, json_body=body, params={"wait": "true"}
        )
        reply = answer.body if isinstance(answer.body, dict) else {}
        return NodeResult.on([{"id": reply.get("id"), "channel_id": reply.get("channel_id")}])
