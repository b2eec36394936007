"""A caller's reach, decided without any peer: what each kind of caller may see and do, and how a refusal reads
(404 for what another project owns, exactly like an id that does not exist; 403 for a role too low)."""

from __future__ import annotations

import pytest

from flowtape.common.errors import Forbidden, NotFound
from flowtape.common.messages.auth import Memberships, Role
from flowtape.gateway.domain.access import Access
from flowtape.gateway.domain.principals import Principal

TOKEN = Principal(user_id="u-1", email="u@x.test", role="viewer", via="token")


def member(projects: dict[str, Role], default: str | None = None) -> Access:
    return Access.of(
        TOKEN, Memberships(user_id="u-1", platform_admin=False, projects=projects, default_project=default)
    )


ADMIN = Access.of(TOKEN, Memberships(user_id="u-1", platform_admin=True, projects={}, default_project=None))
PLATFORM_KEY = Access.of(Principal(user_id="u-1", email="u@x.test", role="operator", via="api_key", key_id="k"))
PROJECT_KEY = Access.of(
    Principal(user_id="u-1", email="u@x.test", role="editor", via="api_key", key_id="k", project_id="team-a")
)
MEMBER = member({"team-a": "editor", "team-b": "viewer"}, default="team-b")
NOBODY = member({})


@pytest.mark.parametrize(
    ("reach", "everywhere", "projects", "default"),
    [
        (ADMIN, "admin", {}, None),
        (PLATFORM_KEY, "operator", {}, None),
        (PROJECT_KEY, None, {"team-a": "editor"}, "team-a"),
        (MEMBER, None, {"team-a": "editor", "team-b": "viewer"}, "team-b"),
    ],
)
def test_a_callers_reach_comes_from_its_key_or_its_users_memberships(
    reach: Access, everywhere: Role | None, projects: dict[str, Role], default: str | None
) -> None:
    assert (reach.everywhere, dict(reach.projects), reach.default_project) == (everywhere, projects, default)


def test_a_tokens_reach_cannot_be_decided_without_its_memberships() -> None:
    with pytest.raises(ValueError):
        Access.of(TOKEN)


@pytest.mark.parametrize(
    ("reach", "project", "role"),
    [
        (ADMIN, "team-z", "admin"),
        (PLATFORM_KEY, "team-z", "operator"),
        (PROJECT_KEY, "team-a", "editor"),
        (PROJECT_KEY, "team-b", None),
        (MEMBER, "team-a", "editor"),
        (MEMBER, "team-b", "viewer"),
        (MEMBER, "team-z", None),
        (NOBODY, "team-a", None),
    ],
)
def test_the_role_held_in_a_project(reach: Access, project: str, role: Role | None) -> None:
    assert reach.role_in(project) == role


@pytest.mark.parametrize(
    ("reach", "project", "needed", "refused"),
    [
        (MEMBER, "team-a", "editor", None),
        (MEMBER, "team-a", "admin", Forbidden),
        (MEMBER, "team-b", "viewer", None),
        (MEMBER, "team-b", "operator", Forbidden),
        (MEMBER, "team-z", "viewer", NotFound),
        (PROJECT_KEY, "team-b", "viewer", NotFound),
        (PLATFORM_KEY, "team-z", "operator", None),
        (PLATFORM_KEY, "team-z", "editor", Forbidden),
        (ADMIN, "team-z", "admin", None),
    ],
)
def test_another_projects_things_are_not_found_and_a_low_role_is_forbidden(
    reach: Access, project: str, needed: Role, refused: type[Exception] | None
) -> None:
    if refused is None:
        reach.check(project, needed)
    else:
        with pytest.raises(refused):
            reach.check(project, needed)


def test_refusals_name_what_was_not_found_and_the_role_that_was_missing() -> None:
    with pytest.raises(NotFound) as not_found:
        MEMBER.check_owned("bulk_replay", "job-9", "team-z", "viewer")
    assert not_found.value.message == "bulk replay 'job-9' does not exist"
    with pytest.raises(NotFound) as no_project:
        MEMBER.check("team-z", "viewer")
    assert no_project.value.message == "project 'team-z' does not exist"
    with pytest.raises(Forbidden) as forbidden:
        MEMBER.check_owned("workflow", "w-1", "team-b", "editor")
    assert forbidden.value.message == "this needs the editor role in the project or higher; you have viewer"


@pytest.mark.parametrize(
    ("reach", "needed", "refusal"),
    [
        (MEMBER, "editor", None),
        (MEMBER, "admin", "this needs the admin role or higher; you have editor"),
        (PLATFORM_KEY, "operator", None),
        (PLATFORM_KEY, "editor", "this needs the editor role or higher; you have operator"),
        (NOBODY, "viewer", "this needs the viewer role or higher; you have no role in any project"),
        (ADMIN, "admin", None),
    ],
)
def test_a_routes_coarse_check_asks_for_the_role_in_some_project(
    reach: Access, needed: Role, refusal: str | None
) -> None:
    if refusal is None:
        reach.require_somewhere(needed)
    else:
        with pytest.raises(Forbidden) as refused:
            reach.require_somewhere(needed)
        assert refused.value.message == refusal


def test_a_platform_admin_is_not_a_project_admin_nor_an_admin_key_of_one_project() -> None:
    project_admin = member({"team-a": "admin"})
    project_admin.require_project_admin()
    ADMIN.require_project_admin()
    ADMIN.require_platform_admin()
    admin_key = Access.of(
        Principal(user_id="u", email="u@x.test", role="admin", via="api_key", key_id="k", project_id="team-a")
    )
    for reach in (project_admin, admin_key):
        with pytest.raises(Forbidden) as refused:
            reach.require_platform_admin()
        assert refused.value.message == "this needs a platform admin"
    with pytest.raises(Forbidden) as refused:
        MEMBER.require_project_admin()
    assert refused.value.message == "this needs the admin role in a project"


@pytest.mark.parametrize(
    ("reach", "needed", "projects"),
    [
        (ADMIN, "admin", None),
        (PLATFORM_KEY, "viewer", None),
        (PLATFORM_KEY, "editor", []),
        (MEMBER, "viewer", ["team-a", "team-b"]),
        (MEMBER, "editor", ["team-a"]),
        (MEMBER, "admin", []),
    ],
)
def test_the_projects_a_listing_shows(reach: Access, needed: Role, projects: list[str] | None) -> None:
    """None is every project: the listing is not narrowed at all."""
    assert reach.projects_with(needed) == projects


def test_a_listing_of_one_project_is_that_project_once_the_caller_may_see_it() -> None:
    assert MEMBER.visible("team-b") == ["team-b"]
    with pytest.raises(NotFound):
        MEMBER.visible("team-z")


@pytest.mark.parametrize(
    ("reach", "asked", "needed", "chosen"),
    [
        (MEMBER, None, "viewer", "team-b"),  # the member's default project
        (MEMBER, "team-a", "editor", "team-a"),
        (PROJECT_KEY, None, "editor", "team-a"),
        (ADMIN, None, "editor", "default"),  # a platform-wide caller without a default: the default project
        (PLATFORM_KEY, None, "operator", "default"),
    ],
)
def test_where_a_new_thing_goes(reach: Access, asked: str | None, needed: Role, chosen: str) -> None:
    assert reach.target(asked, needed) == chosen


def test_a_new_thing_is_refused_where_the_caller_may_not_make_it() -> None:
    with pytest.raises(Forbidden, match="member of no project"):
        NOBODY.target(None, "viewer")
    with pytest.raises(Forbidden):
        MEMBER.target(None, "editor")  # the default project, where the member is a viewer
    with pytest.raises(NotFound):
        MEMBER.target("team-z", "viewer")
