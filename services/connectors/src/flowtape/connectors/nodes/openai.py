"""The ``openai`` node: chat completions and embeddings on any OpenAI-compatible API (OpenAI itself, a gateway,
or a local model server), with the token usage in the output."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls, joined

OPENAI_API = "https://api.openai.com/v1"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class OpenAiParams(NodeParams):
    credential: str | None = Field(
        default=None, description="an http_bearer or api_key credential (not needed by a local server without keys)"
    )
    base_url: str = Field(default=OPENAI_API, description="any OpenAI-compatible API, e.g. http://llm.internal:8000/v1")
    operation: Literal["chat", "embeddings"] = "chat"
    model: str = Field(min_length=1, max_length=200)
    system: str | None = Field(default=None, description="chat: the system message")
    user: str | None = Field(default=None, description="chat: the user message, e.g. 'Summarise: {{ item.text }}'")
    messages: list[ChatMessage] | None = Field(default=None, description="chat: the whole conversation instead")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    json_output: bool = Field(default=False, description="chat: ask for a JSON object and parse it into 'json'")
    input: str | list[str] | None = Field(default=None, description="embeddings: the text(s) to embed")
    timeout: float = Field(default=120, gt=0, le=600)

    @model_validator(mode="after")
    def _operation_inputs(self) -> OpenAiParams:
        if self.operation == "chat" and not self.messages and not self.user:
            raise ValueError("chat needs 'user' (and optionally 'system') or 'messages'")
        if self.operation == "embeddings" and not self.input:
            raise ValueError("embeddings need 'input'")
        return self


def _usage(body: dict[str, Any]) -> dict[str, int]:
    usage = body.get("usage") or {}
    return {k: int(v) for k, v in usage.items() if k.endswith("_tokens") and isinstance(v, int | float)}


class OpenAiNode(NodeType[OpenAiParams]):
    """chat → ``{"content", "json" (with json_output), "model", "finish_reason", "usage"}``; embeddings →
    ``{"embedding"}`` (one input) or ``{"embeddings"}`` (a list), with ``model`` and ``usage``."""

    type = "openai"
    category = "ai"
    description = (
        "Chat completion (system and user messages, JSON output mode, model, temperature) or embeddings on any "
        "OpenAI-compatible API; token usage in the output."
    )
    Params = OpenAiParams
    #: a model's answer
    deterministic = False
    examples = (
        NodeExample(
            title="Classify a support message, the answer parsed as JSON (credential 'openai' holds the API key)",
            params={
                "credential": "openai",
                "model": "gpt-4o-mini",
                "system": 'Classify the customer\'s message. Answer with JSON: {"sentiment": "positive", '
                '"neutral" or "negative", "topic": a few words}.',
                "user": "{{ item.message }}",
                "json_output": True,
                "temperature": 0,
            },
            input=[{"message": "My parcel arrived broken and nobody answers the phone."}],
            output={
                "main": [
                    {
                        "content": '{"sentiment": "negative", "topic": "damaged delivery"}',
                        "json": {"sentiment": "negative", "topic": "damaged delivery"},
                        "model": "gpt-4o-mini-2024-07-18",
                        "finish_reason": "stop",
                        "usage": {"prompt_tokens": 52, "completion_tokens": 12, "total_tokens": 64},
                    }
                ]
            },
        ),
        NodeExample(
            title="Embed a product description (the vector shortened here: this model gives 1536 numbers)",
            params={
                "credential": "openai",
                "operation": "embeddings",
                "model": "text-embedding-3-small",
                "input": "{{ item.description }}",
            },
            input=[{"description": "Enamel mug, 350 ml, dishwasher safe"}],
            output={
                "main": [
                    {
                        "embedding": [0.0123, -0.0456, 0.0789],
                        "model": "text-embedding-3-small",
                        "usage": {"prompt_tokens": 9, "total_tokens": 9},
                    }
                ]
            },
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: OpenAiParams, item: Item) -> NodeResult:
        headers: dict[str, str] = {}
        credential = None
        if params.credential is not None:
            credential = await ctx.credential(params.credential, "http_bearer", "api_key")
            revealed = credential.reveal()
            headers["Authorization"] = f"Bearer {revealed.get('token') or revealed.get('key')}"
        if params.operation == "embeddings":
            return NodeResult.on([await self._embeddings(ctx, params, credential, headers)])
        messages = [m.model_dump() for m in params.messages] if params.messages else []
        if not messages:
            if params.system:
                messages.append({"role": "system", "content": params.system})
            messages.append({"role": "user", "content": params.user})
        body: dict[str, Any] = {"model": params.model, "messages": messages}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.json_output:
            body["response_format"] = {"type": "json_object"}
        answer = await self._calls.call(
            f"chat completion with {params.model}",
            "POST",
            joined(params.base_url, "chat/completions"),
            ctx=ctx,
            credential=credential,
            headers=headers,
            json_body=body,
            timeout=params.timeout,
        )
        reply = answer.body if isinstance(answer.body, dict) else {}
        choices = reply.get("choices") or []
        if not choices:
            raise NodeError(f"the chat completion answer has no choices: {answer.text[:200]}")
        content = (choices[0].get("message") or {}).get("content") or ""
        out: Item = {
            "content": content,
            "model": reply.get("model", params.model),
            "finish_reason": choices[0].get("finish_reason"),
            "usage": _usage(reply),
        }
        if params.json_output:
            try:
                out["json"] = json.loads(content)
            except ValueError:
                raise NodeError(f"the model did not answer with JSON: {content[:200]}") from None
        return NodeResult.on([out])

    async def _embeddings(
        self, ctx: NodeContext, params: OpenAiParams, credential: Any, headers: dict[str, str]
    ) -> Item:
        answer = await self._calls.call(
            f"embeddings with {params.model}",
            "POST",
            joined(params.base_url, "embeddings"),
            ctx=ctx,
            credential=credential,
            headers=headers,
            json_body={"model": params.model, "input": params.input},
            timeout=params.timeout,
        )
        reply = answer.body if isinstance(answer.body, dict) else {}
        vectors = [entry.get("embedding") for entry in sorted(reply.get("data") or [], key=lambda e: e.get("index", 0))]
        if not vectors:
            raise NodeError(f"the embeddings answer has no data: {answer.text[:200]}")
        out: Item = {"model": reply.get("model", params.model), "usage": _usage(reply)}
        if isinstance(params.input, str):
            out["embedding"] = vectors[0]
        else:
            out["embeddings"] = vectors
        return out
