"""Projects, their members, and what they scope (API keys, invitations), on a real store (SQLite and PostgreSQL):
the default project and the move of an existing database into it included."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete

from flowtape.auth.store import api_key_projects, invitation_projects, metadata, project_members, projects, users
from flowtape.common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from flowtape.common.messages import auth as msg
from flowtape.common.projects import DEFAULT_PROJECT
from flowtape.gateway.domain.api_keys import new_api_key

if TYPE_CHECKING:
    from services.auth.tests.conftest import Harness

PASSWORD = "correct horse battery staple"
CLI = msg.Actor(kind="cli")


async def boss_of(h: Harness) -> tuple[msg.UserView, msg.Actor]:
    boss = await h.auth.set_up("boss@example.com", h.seal(PASSWORD), None)
    return boss, msg.Actor(kind="user", user_id=boss.id, email=boss.email)


async def changed_for(h: Harness) -> set[str]:
    await asyncio.sleep(0.05)
    return {e.user_id for e in h.events if isinstance(e, msg.MembershipsChanged)}


async def test_projects_are_created_with_unique_names_and_listed_by_name(harness: Harness) -> None:
    h = harness
    boss, actor = await boss_of(h)
    made = await h.projects.create_project(" Marketing ", actor)
    assert (made.name, made.role) == ("Marketing", "admin") and len(made.id) == 32
    with pytest.raises(Conflict):
        await h.projects.create_project("Marketing", actor)
    with pytest.raises(InvalidInput):
        await h.projects.create_project("   ", actor)
    await h.projects.create_project("Accounting", actor)
    assert [p.name for p in (await h.projects.list_projects(None)).items] == ["Accounting", "Default", "Marketing"]
    assert (await h.projects.get_project(made.id)).name == "Marketing"
    assert (await h.projects.get_project(DEFAULT_PROJECT)).name == "Default"
    with pytest.raises(NotFound):
        await h.projects.get_project("nope")
    # the creator is its admin, and the first admin an admin of the default project
    assert (await h.projects.memberships(boss.id)).projects == {
        DEFAULT_PROJECT: "admin",
        made.id: "admin",
        (await h.projects.list_projects(None)).items[0].id: "admin",
    }
    assert boss.id in await changed_for(h)
    [audited, _] = (await h.auth.list_audit(10, None, "project.created", None)).items
    assert audited.details == {"name": "Accounting"}


async def test_members_are_added_and_removed_and_answered_as_memberships(harness: Harness) -> None:
    h = harness
    boss, actor = await boss_of(h)
    ada = await h.auth.create_user("ada@example.com", h.seal(PASSWORD), "editor", actor)
    assert await h.projects.memberships(ada.id) == msg.Memberships(
        user_id=ada.id, platform_admin=False, projects={DEFAULT_PROJECT: "editor"}, default_project=DEFAULT_PROJECT
    )
    assert (await h.projects.memberships(boss.id)).platform_admin
    sales = await h.projects.create_project("Sales", actor)

    added = await h.projects.add_member(sales.id, " ADA@example.com", "viewer", actor)
    assert (added.user_id, added.email, added.role, added.project_id) == (ada.id, "ada@example.com", "viewer", sales.id)
    assert (await h.projects.add_member(sales.id, "ada@example.com", "operator", actor)).role == "operator"
    with pytest.raises(NotFound) as no_user:
        await h.projects.add_member(sales.id, "nobody@example.com", "viewer", actor)
    with pytest.raises(NotFound) as no_project:
        await h.projects.add_member("nope", "ada@example.com", "viewer", actor)
    assert no_user.value.message == no_project.value.message, "which one is missing is not told"

    members = await h.projects.list_members(sales.id)
    assert [(m.email, m.role) for m in members.items] == [
        ("ada@example.com", "operator"),
        ("boss@example.com", "admin"),
    ]
    mine = await h.projects.list_projects(ada.id)
    assert [(p.name, p.role) for p in mine.items] == [("Default", "editor"), ("Sales", "operator")]
    await h.projects.create_project("Zeta", actor)
    everything = await h.projects.list_projects(boss.id)  # a platform admin sees every project, with their roles
    assert [(p.name, p.role) for p in everything.items] == [("Default", "admin"), ("Sales", "admin"), ("Zeta", "admin")]
    await h.projects.remove_member("default", boss.id, actor)
    assert (await h.projects.list_projects(boss.id)).items[0].role is None

    removed = await h.projects.remove_member(DEFAULT_PROJECT, ada.id, actor)
    assert (removed.user_id, removed.role) == (ada.id, "editor")
    with pytest.raises(NotFound):
        await h.projects.remove_member(DEFAULT_PROJECT, ada.id, actor)
    answer = await h.projects.memberships(ada.id)
    assert (answer.projects, answer.default_project) == ({sales.id: "operator"}, sales.id)
    await h.projects.remove_member(sales.id, ada.id, actor)
    assert (await h.projects.memberships(ada.id)).default_project is None
    with pytest.raises(NotFound):
        await h.projects.memberships("nobody")

    assert ada.id in await changed_for(h)
    actions = [e.action for e in (await h.auth.list_audit(50, None, None, None)).items]
    assert actions.count("project.member_added") == 2 and actions.count("project.member_removed") == 3


async def test_a_users_role_is_their_role_in_the_default_project(harness: Harness) -> None:
    h = harness
    _, actor = await boss_of(h)
    ada = await h.auth.create_user("ada@example.com", h.seal(PASSWORD), "editor", actor)
    sales = await h.projects.create_project("Sales", actor)
    await h.projects.add_member(sales.id, "ada@example.com", "viewer", actor)
    h.events.clear()
    await h.auth.update_user(ada.id, "operator", None, actor)
    assert (await h.projects.memberships(ada.id)).projects == {DEFAULT_PROJECT: "operator", sales.id: "viewer"}
    assert ada.id in await changed_for(h)
    await h.auth.update_user(ada.id, "admin", None, actor)
    made_admin = await h.projects.memberships(ada.id)
    assert made_admin.platform_admin and made_admin.projects == {DEFAULT_PROJECT: "operator", sales.id: "viewer"}
    h.events.clear()
    await h.auth.update_user(ada.id, None, True, actor)
    assert ada.id not in await changed_for(h), "disabling changes no membership"


async def test_an_existing_database_moves_into_the_default_project_once(harness: Harness) -> None:
    h = harness
    boss, actor = await boss_of(h)
    ada = await h.auth.create_user("ada@example.com", h.seal(PASSWORD), "operator", actor)
    ada_key, _, ada_digest = new_api_key()
    await h.auth.create_api_key(ada_key, ada_digest, "ci", None, None, msg.Actor(kind="user", user_id=ada.id))
    boss_key, _, boss_digest = new_api_key()
    await h.auth.create_api_key(boss_key, boss_digest, "ops", None, None, actor)
    store = h.auth._store
    # the database as it was before projects: none of their tables
    async with store._engine.begin() as conn:
        await conn.run_sync(
            lambda c: metadata.drop_all(c, tables=[projects, project_members, api_key_projects, invitation_projects])
        )
    await store.create()

    assert (await h.projects.memberships(ada.id)).projects == {DEFAULT_PROJECT: "operator"}
    assert (await h.projects.memberships(boss.id)).projects == {}, "an admin acts everywhere without one"
    assert (await h.auth.verify_api_key(ada_key, ada_digest)).project_id == DEFAULT_PROJECT
    platform = await h.auth.verify_api_key(boss_key, boss_digest)
    assert (platform.project_id, platform.role) == (None, "admin")
    assert [p.name for p in (await h.projects.list_projects(None)).items] == ["Default"]

    await h.projects.remove_member(DEFAULT_PROJECT, ada.id, actor)
    await store.create()  # every start: a user taken out of every project stays out
    assert (await h.projects.memberships(ada.id)).projects == {}
    assert [p.name for p in (await h.projects.list_projects(None)).items] == ["Default"]


async def test_a_restored_backup_from_before_projects_moves_into_the_default_project(harness: Harness) -> None:
    h = harness
    _, actor = await boss_of(h)
    ada = await h.auth.create_user("ada@example.com", h.seal(PASSWORD), "editor", actor)
    eve = await h.auth.create_user("eve@example.com", h.seal(PASSWORD), "viewer", actor)
    key_id, _, digest = new_api_key()
    await h.auth.create_api_key(key_id, digest, "ci", None, None, msg.Actor(kind="user", user_id=ada.id))
    store = h.auth._store
    # a backup with projects: nothing moves (eve, in no project, stays so)
    await h.projects.remove_member(DEFAULT_PROJECT, eve.id, actor)
    await store.restored()
    assert (await h.projects.memberships(eve.id)).projects == {}
    # one from before them: the users and keys it brought are in no project, the replaced admin's rows remain
    async with store._engine.begin() as conn:
        await conn.execute(delete(project_members).where(project_members.c.user_id != actor.user_id))
        await conn.execute(delete(api_key_projects))
        await conn.execute(delete(users).where(users.c.id == actor.user_id))
    await store.restored()
    assert (await h.projects.memberships(ada.id)).projects == {DEFAULT_PROJECT: "editor"}
    assert (await h.projects.memberships(eve.id)).projects == {DEFAULT_PROJECT: "viewer"}
    assert (await h.auth.verify_api_key(key_id, digest)).project_id == DEFAULT_PROJECT
    assert [m.email for m in (await h.projects.list_members(DEFAULT_PROJECT)).items] == [ada.email, eve.email]


async def test_an_api_key_acts_in_one_project_never_above_its_owner_there(harness: Harness) -> None:
    h = harness
    _, actor = await boss_of(h)
    ops = await h.auth.create_user("ops@example.com", h.seal(PASSWORD), "operator", actor)
    ops_actor = msg.Actor(kind="user", user_id=ops.id)
    sales = await h.projects.create_project("Sales", actor)

    default_id, _, default_digest = new_api_key()
    made = await h.auth.create_api_key(default_id, default_digest, "ci", None, None, ops_actor)
    assert (made.project_id, made.role) == (DEFAULT_PROJECT, "operator"), "the maker's default project"
    key_id, _, digest = new_api_key()
    with pytest.raises(Forbidden, match="not a member"):
        await h.auth.create_api_key(key_id, digest, "sales", None, None, ops_actor, sales.id)
    with pytest.raises(NotFound):
        await h.auth.create_api_key(key_id, digest, "sales", None, None, ops_actor, "nope")
    await h.projects.add_member(sales.id, "ops@example.com", "viewer", actor)
    with pytest.raises(Forbidden, match="more rights than its owner"):
        await h.auth.create_api_key(key_id, digest, "sales", "editor", None, ops_actor, sales.id)
    view = await h.auth.create_api_key(key_id, digest, "sales", None, None, ops_actor, sales.id)
    assert (view.project_id, view.role) == (sales.id, "viewer")
    principal = await h.auth.verify_api_key(key_id, digest)
    assert (principal.user_id, principal.project_id, principal.role) == (ops.id, sales.id, "viewer")
    assert {k.id: k.project_id for k in (await h.auth.list_api_keys(10, None)).items} == {
        default_id: DEFAULT_PROJECT,
        key_id: sales.id,
    }
    # a project admin's view: its projects' keys only, and another project's key is no key to revoke
    assert [k.id for k in (await h.auth.list_api_keys(10, None, [sales.id])).items] == [key_id]
    with pytest.raises(NotFound):
        await h.auth.revoke_api_key(default_id, actor, [sales.id])

    await h.projects.add_member(DEFAULT_PROJECT, "ops@example.com", "viewer", actor)
    assert (await h.auth.verify_api_key(default_id, default_digest)).role == "viewer", "the owner's current role"
    await h.projects.remove_member(sales.id, ops.id, actor)
    with pytest.raises(Unauthorized):
        await h.auth.verify_api_key(key_id, digest)
    await h.auth.verify_api_key(default_id, default_digest)

    # a platform admin: a platform key, or any role in any project
    platform_id, _, platform_digest = new_api_key()
    platform = await h.auth.create_api_key(platform_id, platform_digest, "all", None, None, actor)
    assert (platform.project_id, platform.role) == (None, "admin")
    admin_id, _, admin_digest = new_api_key()
    scoped = await h.auth.create_api_key(admin_id, admin_digest, "sales", "editor", None, actor, sales.id)
    assert (await h.auth.verify_api_key(admin_id, admin_digest)).project_id == sales.id and scoped.role == "editor"
    # a member of no project makes no key
    await h.projects.remove_member(DEFAULT_PROJECT, ops.id, actor)
    none_id, _, none_digest = new_api_key()
    with pytest.raises(Forbidden, match="no project"):
        await h.auth.create_api_key(none_id, none_digest, "x", None, None, ops_actor)


async def test_an_invitation_grants_its_role_in_its_project(harness: Harness) -> None:
    h = harness
    _, actor = await boss_of(h)
    sales = await h.projects.create_project("Sales", actor)
    with pytest.raises(NotFound):
        await h.auth.invite("x@example.com", "editor", actor, "nope")
    invitation = await h.auth.invite("eve@example.com", "editor", actor, sales.id)
    assert invitation.project_id == sales.id
    plain = await h.auth.invite("bob@example.com", "operator", actor)
    assert plain.project_id == DEFAULT_PROJECT
    await h.auth.drain_mail()
    tokens = {to: body.split("#token=")[1].split()[0] for to, _, body in h.mail.sent}
    assert "in the project Sales" in next(body for to, _, body in h.mail.sent if to == "eve@example.com")
    assert {i.id: i.project_id for i in (await h.auth.list_invitations(10, None)).items}[invitation.id] == sales.id

    eve = await h.auth.accept_invitation(tokens["eve@example.com"], h.seal(PASSWORD), None)
    assert eve.role == "viewer"
    assert (await h.projects.memberships(eve.id)).projects == {sales.id: "editor"}
    bob = await h.auth.accept_invitation(tokens["bob@example.com"], h.seal(PASSWORD), None)
    assert bob.role == "operator"
    assert (await h.projects.memberships(bob.id)).projects == {DEFAULT_PROJECT: "operator"}
    assert {eve.id, bob.id} <= await changed_for(h)
