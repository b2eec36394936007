"""The ``github`` node: create and list issues, and comment on one, with a token (an ``http_bearer``
credential). ``base_url`` serves GitHub Enterprise (``https://github.example.com/api/v3``) and local stand-ins."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.api_calls import ApiCalls, http_auth_headers, joined

GITHUB_API = "https://api.github.com"
_NAME = r"^[A-Za-z0-9_.\-]{1,100}$"


class GithubParams(NodeParams):
    credential: str = Field(min_length=1, description="an http_bearer credential holding a token")
    operation: Literal["create_issue", "list_issues", "comment"]
    owner: str = Field(pattern=_NAME)
    repo: str = Field(pattern=_NAME)
    title: str | None = Field(default=None, max_length=256, description="create_issue")
    body: str | None = Field(default=None, max_length=65536, description="create_issue, comment")
    labels: list[str] = Field(default_factory=list, description="create_issue; list_issues: filter")
    assignees: list[str] = Field(default_factory=list, description="create_issue")
    issue_number: int | None = Field(default=None, ge=1, description="comment")
    state: Literal["open", "closed", "all"] = Field(default="open", description="list_issues")
    limit: int = Field(default=30, ge=1, le=1000, description="list_issues: at most this many")
    base_url: str = Field(default=GITHUB_API)

    @model_validator(mode="after")
    def _needs(self) -> GithubParams:
        if self.operation == "create_issue" and not self.title:
            raise ValueError("create_issue needs 'title'")
        if self.operation == "comment" and (self.issue_number is None or not self.body):
            raise ValueError("comment needs 'issue_number' and 'body'")
        return self


def _issue(raw: dict[str, object]) -> Item:
    return {
        key: raw.get(key)
        for key in ("number", "title", "state", "html_url", "body", "created_at", "updated_at", "comments")
    } | {"labels": [label.get("name") for label in raw.get("labels") or [] if isinstance(label, dict)]}


class GithubNode(NodeType[GithubParams]):
    """create_issue / comment → the issue (or comment) created; list_issues → one item per issue (pull requests
    left out), following pages up to ``limit``."""

    type = "github"
    category = "developer"
    description = "Create or list issues in a GitHub repository, or comment on one."
    Params = GithubParams
    #: issue numbers and times are GitHub's answer
    deterministic = False
    examples = (
        NodeExample(
            title="Open an issue for a failed nightly build (credential 'github-token' holds a token)",
            params={
                "credential": "github-token",
                "operation": "create_issue",
                "owner": "acme",
                "repo": "shop",
                "title": "Nightly build {{ item.build }} failed",
                "body": "Step {{ item.step }} failed: {{ item.error }}",
                "labels": ["ci", "bug"],
            },
            input=[{"build": "#1287", "step": "integration tests", "error": "test_refund timed out"}],
            output={
                "main": [
                    {
                        "number": 42,
                        "title": "Nightly build #1287 failed",
                        "state": "open",
                        "html_url": "https://github.com/acme/shop/issues/42",
                        "body": "Step integration tests failed: test_refund timed out",
                        "created_at": "2026-11-30T03:12:45Z",
                        "updated_at": "2026-11-30T03:12:45Z",
                        "comments": 0,
                        "labels": ["ci", "bug"],
                    }
                ]
            },
        ),
    )

    def __init__(self, calls: ApiCalls) -> None:
        self._calls = calls

    async def run_item(self, ctx: NodeContext, params: GithubParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "http_bearer")
        headers = {
            **http_auth_headers(credential.data),
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        repo = f"repos/{params.owner}/{params.repo}"
        if params.operation == "create_issue":
            body: dict[str, object] = {"title": params.title}
            for name in ("body", "labels", "assignees"):
                if getattr(params, name):
                    body[name] = getattr(params, name)
            answer = await self._calls.call(
                f"GitHub create issue in {params.owner}/{params.repo}",
                "POST",
                joined(params.base_url, f"{repo}/issues"),
                ctx=ctx,
                credential=credential,
                headers=headers,
                json_body=body,
            )
            return NodeResult.on([_issue(answer.body)])
        if params.operation == "comment":
            answer = await self._calls.call(
                f"GitHub comment on {params.owner}/{params.repo}#{params.issue_number}",
                "POST",
                joined(params.base_url, f"{repo}/issues/{params.issue_number}/comments"),
                ctx=ctx,
                credential=credential,
                headers=headers,
                json_body={"body": params.body},
            )
            raw = answer.body
            return NodeResult.on([{k: raw.get(k) for k in ("id", "html_url", "body", "created_at")}])
        issues: list[Item] = []
        url: str | None = joined(params.base_url, f"{repo}/issues")
        query: dict[str, str] | None = {"state": params.state, "per_page": str(min(100, params.limit))}
        if params.labels and query is not None:
            query["labels"] = ",".join(params.labels)
        while url is not None and len(issues) < params.limit:
            answer = await self._calls.call(
                f"GitHub list issues of {params.owner}/{params.repo}",
                "GET",
                url,
                ctx=ctx,
                credential=credential,
                headers=headers,
                params=query,
            )
            issues += [_issue(raw) for raw in answer.body or [] if "pull_request" not in raw]
            match = re.search(r'<([^>]+)>;\s*rel="next"', answer.headers.get("link", ""))
            url, query = (match.group(1), None) if match else (None, None)
        return NodeResult.on(issues[: params.limit])
