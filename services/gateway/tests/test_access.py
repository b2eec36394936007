"""The project boundary at the gateway: what a caller is refused before any peer hears of it, and which
projects a listing asks for. The memberships are the ones the gateway would learn from auth, and the owners of
things the ones it would learn from the engine; the engine here answers lists, recording what it was asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from flowtape.common.errors import NotFound
from flowtape.common.messages import engine as msg
from flowtape.common.messages.auth import Memberships, Role
from flowtape.common.topology import ENGINE_REQUESTS_QUEUE
from flowtape.gateway.domain.access import Access
from flowtape.gateway.domain.principals import Principal

if TYPE_CHECKING:
    from services.gateway.tests.conftest import Gateway


def member(gateway: Gateway, role: Role, projects: dict[str, Role]) -> dict[str, str]:
    """A token of ``<role>-user`` whose memberships are ``projects``."""
    headers = gateway.headers(role)
    gateway.runtime.gateway.memberships.learn(
        Memberships(
            user_id=f"{role}-user", platform_admin=False, projects=projects, default_project=next(iter(projects))
        )
    )
    return headers


@pytest.fixture
async def asked(gateway: Gateway) -> AsyncIterator[list[Any]]:
    seen: list[Any] = []

    async def list_workflows(m: msg.ListWorkflows) -> Any:
        seen.append(m)
        return {"items": [], "next_cursor": None}

    async def get_workflow(m: msg.GetWorkflow) -> Any:
        seen.append(m)
        raise RuntimeError("the boundary should have answered before the engine was asked")

    gateway.bus.subscribe(ENGINE_REQUESTS_QUEUE, {msg.ListWorkflows: list_workflows, msg.GetWorkflow: get_workflow})
    await gateway.bus.start()
    try:
        yield seen
    finally:
        await gateway.bus.stop()


async def test_another_projects_workflow_is_not_found_and_a_low_role_is_forbidden(
    gateway: Gateway, client: httpx.AsyncClient, asked: list[Any]
) -> None:
    gateway.runtime.gateway.owners.learn("workflow", "in-b", "b")
    gateway.runtime.gateway.owners.learn("workflow", "in-a", "a")
    editor_of_a = member(gateway, "editor", {"a": "editor", "c": "viewer"})
    hidden = await client.get("/api/v1/workflows/in-b", headers=editor_of_a)
    assert hidden.status_code == 404 and hidden.json()["error"]["message"] == "workflow 'in-b' does not exist"
    assert (await client.post("/api/v1/workflows/in-b/run", headers=editor_of_a)).status_code == 404
    viewer_of_a = member(gateway, "viewer", {"a": "viewer"})
    run = await client.post("/api/v1/workflows/in-a/run", headers=viewer_of_a)
    assert run.status_code == 403 and "operator role or higher" in run.json()["error"]["message"]
    created = await client.post(
        "/api/v1/workflows",
        json={"name": "w", "nodes": [{"id": "start", "type": "manual_trigger"}], "project_id": "c"},
        headers=editor_of_a,
    )
    assert created.status_code == 403  # a viewer in c, an editor elsewhere
    elsewhere = await client.post(
        "/api/v1/workflows",
        json={"name": "w", "nodes": [{"id": "start", "type": "manual_trigger"}], "project_id": "b"},
        headers=editor_of_a,
    )
    assert elsewhere.status_code == 404 and "project 'b'" in elsewhere.json()["error"]["message"]
    assert asked == []  # nothing reached the engine


async def test_a_listing_asks_for_the_callers_projects_only(
    gateway: Gateway, client: httpx.AsyncClient, asked: list[Any]
) -> None:
    both = member(gateway, "viewer", {"b": "viewer", "a": "operator"})
    assert (await client.get("/api/v1/workflows", headers=both)).status_code == 200
    assert (await client.get("/api/v1/workflows?project_id=b", headers=both)).status_code == 200
    assert (await client.get("/api/v1/workflows?project_id=z", headers=both)).status_code == 404
    assert (await client.get("/api/v1/workflows", headers=gateway.headers("admin"))).status_code == 200
    assert [m.project_ids for m in asked] == [["a", "b"], ["b"], None]


async def test_platform_routes_need_a_platform_admin_not_a_project_admin(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    project_admin = member(gateway, "admin", {"a": "admin"})
    for path in ("/api/v1/users", "/api/v1/admin/dead-letters", "/api/v1/audit"):
        refused = await client.get(path, headers=project_admin)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["message"] == "this needs a platform admin"


def test_a_project_keys_reach_is_its_one_project() -> None:
    key = Principal(user_id="u", email="u@x.test", role="editor", via="api_key", key_id="k", project_id="a")
    reach = Access(key, projects={"a": "editor"}, default_project="a")
    assert reach.visible() == ["a"] and reach.target(None, "editor") == "a"
    assert reach.role_in("b") is None and not reach.platform_admin
    platform_key = Access(
        Principal(user_id="u", email="u@x.test", role="viewer", via="api_key", key_id="k"), everywhere="viewer"
    )
    assert platform_key.visible() is None and platform_key.projects_with("editor") == []
    assert platform_key.role_in("anything") == "viewer"


def test_an_id_no_project_could_have_is_not_found_even_for_a_platform_admin() -> None:
    admin = Access(Principal(user_id="u", email="u@x.test", role="admin", via="token"), everywhere="admin")
    assert admin.target("team-a", "editor") == "team-a"
    for odd in ("a\u0000", "A", "-a", "a" * 65, ""):
        with pytest.raises(NotFound):
            admin.check(odd, "viewer")
