"""The openai node against a local stand-in for an OpenAI-compatible API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.openai import OpenAiNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, FakeApi, credential, openai_api

KEY = f"sk-{secrets.token_urlsafe(24)}"
CTX = NodeContext(
    execution_id="e",
    workflow_id="w",
    workflow_version=1,
    node_id="ai",
    credentials=Credentials(credential("ai", "api_key", {"key": KEY})),
)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeApi]:
    with openai_api(KEY) as api:
        yield api


@pytest.fixture
async def node() -> AsyncIterator[OpenAiNode]:
    connections = Connections(LOCAL_SERVERS)
    yield OpenAiNode(ApiCalls(connections))
    await connections.close()


async def test_chat_with_messages_from_expressions_and_usage(llm: FakeApi, node: OpenAiNode) -> None:
    params = {
        "credential": "ai",
        "base_url": f"{llm.url}/v1",
        "model": "gpt-test",
        "system": "You summarise support tickets.",
        "user": "Ticket: {{ item.text }}",
        "temperature": 0.2,
        "max_tokens": 100,
    }
    [out] = (await execute_node(node, params, CTX, [{"text": "printer on fire"}])).ports["main"]

    assert out == {
        "content": "summary of: Ticket: printer on fire",
        "model": "gpt-test-2026",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    sent = llm.sent("/v1/chat/completions")[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "You summarise support tickets."}
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 100 and "response_format" not in sent


async def test_json_output_mode_parses_the_answer(llm: FakeApi, node: OpenAiNode) -> None:
    params = {
        "credential": "ai",
        "base_url": f"{llm.url}/v1",
        "model": "m",
        "user": "{{ item.q }}",
        "json_output": True,
    }
    [out] = (await execute_node(node, params, CTX, [{"q": "great!"}])).ports["main"]

    assert out["json"] == {"sentiment": "positive", "echo": "great!"}
    assert llm.sent("/v1/chat/completions")[-1].body["response_format"] == {"type": "json_object"}


async def test_embeddings_one_or_many(llm: FakeApi, node: OpenAiNode) -> None:
    base = {"credential": "ai", "base_url": f"{llm.url}/v1", "model": "embed", "operation": "embeddings"}
    [one] = (await execute_node(node, {**base, "input": "abc"}, CTX, [{}])).ports["main"]
    [many] = (await execute_node(node, {**base, "input": ["a", "bcde"]}, CTX, [{}])).ports["main"]

    assert one == {"model": "embed", "usage": {"prompt_tokens": 4, "total_tokens": 4}, "embedding": [3.0, 0.5]}
    assert many["embeddings"] == [[1.0, 0.5], [4.0, 0.5]], "in input order"


async def test_a_bad_key_says_what_failed(llm: FakeApi, node: OpenAiNode) -> None:
    wrong = NodeContext(
        execution_id="e",
        workflow_id="w",
        workflow_version=1,
        node_id="ai",
        credentials=Credentials(credential("ai", "api_key", {"key": "sk-wrong"})),
    )
    with pytest.raises(NodeError, match=r"chat completion with m failed: HTTP 401.*Incorrect API key"):
        await execute_node(
            node, {"credential": "ai", "base_url": f"{llm.url}/v1", "model": "m", "user": "x"}, wrong, [{}]
        )
