"""The github node against a local stand-in for the GitHub REST API (pagination by Link header included)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import NodeContext, execute_node
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.connections import Connections
from flowtape.connectors.nodes.github import GithubNode
from services.connectors.tests.fakes import LOCAL_SERVERS, Credentials, FakeApi, GithubRepo, credential, github_api

TOKEN = f"ghp_{secrets.token_urlsafe(24)}"
CTX = NodeContext(
    execution_id="e",
    workflow_id="w",
    workflow_version=1,
    node_id="gh",
    credentials=Credentials(credential("gh", "http_bearer", {"token": TOKEN})),
)


@pytest.fixture(scope="module")
def github() -> Iterator[tuple[FakeApi, GithubRepo]]:
    repo = GithubRepo(TOKEN)
    with github_api(repo) as api:
        yield api, repo


@pytest.fixture
async def node() -> AsyncIterator[GithubNode]:
    connections = Connections(LOCAL_SERVERS)
    yield GithubNode(ApiCalls(connections))
    await connections.close()


async def gh(node: GithubNode, api: FakeApi, items: list[dict[str, Any]] | None = None, **params: Any) -> list[Any]:
    full = {"credential": "gh", "owner": "acme", "repo": "shop", "base_url": api.url, **params}
    return (await execute_node(node, full, CTX, items or [{}])).ports["main"]


async def test_create_list_and_comment(github: tuple[FakeApi, GithubRepo], node: GithubNode) -> None:
    api, _ = github
    [created] = await gh(
        node, api, [{"err": "disk full"}], operation="create_issue", title="Run failed: {{ item.err }}", labels=["ops"]
    )
    listed = await gh(node, api, operation="list_issues", limit=100)
    [comment] = await gh(node, api, operation="comment", issue_number=created["number"], body="looking into it")

    assert created["number"] == 5 and created["title"] == "Run failed: disk full" and created["labels"] == ["ops"]
    assert [i["number"] for i in listed] == [1, 2, 3, 5], "pages followed, pull requests left out"
    assert len(api.sent("/repos/acme/shop/issues")) >= 3
    assert comment["id"] == 99 and comment["body"] == "looking into it"
    sent = api.sent("/repos/acme/shop/issues")[0]
    assert sent.headers["accept"] == "application/vnd.github+json"


async def test_errors_say_which_call_failed(github: tuple[FakeApi, GithubRepo], node: GithubNode) -> None:
    api, _ = github
    with pytest.raises(NodeError, match=r"GitHub comment on acme/shop#404 failed: HTTP 404.*Not Found"):
        await gh(node, api, operation="comment", issue_number=404, body="x")
    with pytest.raises(NodeError, match="create_issue needs 'title'"):
        await gh(node, api, operation="create_issue")
