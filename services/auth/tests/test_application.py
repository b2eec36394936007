"""The auth service's verbs on a real store (SQLite and PostgreSQL), a fake clock and the in-process bus."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from flowtape.auth.domain.keys import KeysUnreadable, KeyVault, private_key
from flowtape.auth.store import AuthStore
from flowtape.common.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from flowtape.common.messages import auth as msg
from flowtape.gateway.domain.api_keys import new_api_key

if TYPE_CHECKING:
    from services.auth.tests.conftest import Harness

PASSWORD = "correct horse battery staple"
CLI = msg.Actor(kind="cli")


def claims_of(token: str, keys: msg.PublicKeySet) -> dict[str, object]:
    verifying = KeySet([ECKey.import_key(k.jwk) for k in keys.keys if k.jwk["use"] == "sig"])  # type: ignore[list-item]
    return dict(jwt.decode(token, verifying, algorithms=["ES256"]).claims)


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def admin(h: Harness) -> msg.UserView:
    return await h.auth.set_up("Boss@Example.com ", h.seal(PASSWORD), "10.0.0.1")


async def settle() -> None:
    await asyncio.sleep(0.05)


async def test_setup_creates_the_first_admin_once(harness: Harness) -> None:
    user = await admin(harness)
    assert (user.email, user.role) == ("boss@example.com", "admin")
    with pytest.raises(Conflict):
        await harness.auth.set_up("second@example.com", harness.seal(PASSWORD), None)
    with pytest.raises(Conflict):
        await harness.auth.create_user("BOSS@example.com", harness.seal(PASSWORD), "viewer", CLI)


async def test_login_issues_a_token_the_published_keys_verify(harness: Harness) -> None:
    user = await admin(harness)
    granted = await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.0.0.1")
    assert granted.expires_in == 600 and granted.token_type == "bearer"
    claims = claims_of(granted.access_token, await harness.auth.public_keys())
    assert claims["sub"] == user.id and claims["role"] == "admin" and claims["gen"] == 0
    assert claims["iss"] == msg.TOKEN_ISSUER and claims["aud"] == msg.TOKEN_AUDIENCE
    assert claims["exp"] == claims["iat"] + 600  # type: ignore[operator]


async def test_wrong_unknown_and_disabled_logins_are_refused_and_audited(harness: Harness) -> None:
    await admin(harness)
    other = await harness.auth.create_user("ops@example.com", harness.seal(PASSWORD), "operator", CLI)
    with pytest.raises(Unauthorized, match="wrong email or password"):
        await harness.auth.login("boss@example.com", harness.seal("not it at all"), "10.0.0.2")
    with pytest.raises(Unauthorized, match="wrong email or password"):
        await harness.auth.login("ghost@example.com", harness.seal(PASSWORD), "10.0.0.3")
    boss = (await harness.auth.list_users(10, None)).items[0]
    await harness.auth.update_user(other.id, None, True, msg.Actor(kind="user", user_id=boss.id))
    with pytest.raises(Unauthorized, match="disabled"):
        await harness.auth.login("ops@example.com", harness.seal(PASSWORD), "10.0.0.4")
    failed = (await harness.auth.list_audit(50, None, "login.failed", None)).items
    assert [e.details["reason"] for e in failed] == ["disabled", "unknown_account", "wrong_password"]
    assert failed[1].actor.email is None, "an unknown account's name may be a mistyped password: not kept"


async def test_failed_logins_are_throttled_per_account_and_per_address(harness: Harness) -> None:
    await admin(harness)
    for i in range(3):
        with pytest.raises(Unauthorized):
            await harness.auth.login("boss@example.com", harness.seal("nope nope"), f"10.1.0.{i}")
    with pytest.raises(RateLimited) as limited:
        await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.1.0.99")
    assert limited.value.details == {"retry_after": 60}
    harness.clock.advance(61)
    await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.1.0.99")

    for i in range(5):
        with pytest.raises(Unauthorized):
            await harness.auth.login(f"nobody{i}@example.com", harness.seal("nope nope"), "10.2.0.1")
    with pytest.raises(RateLimited):
        await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.2.0.1")
    await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.2.0.2")


async def test_a_guesser_at_one_address_waits_ever_longer_while_the_owner_signs_in_from_theirs(
    harness: Harness,
) -> None:
    """OWASP's throttling: failures slow the account down only for the address they came from."""
    await admin(harness)
    auth = harness.with_settings(login_failures_per_address=100, login_failures_per_account=100)
    attacker, owner = "198.51.100.66", "10.0.0.1"
    waits = []
    for _ in range(8):
        for _ in range(3):  # the harness lets 3 failures pass free per account and address
            try:
                await auth.login("boss@example.com", harness.seal("a guess"), attacker)
            except Unauthorized:
                continue
            except RateLimited as limited:
                waits.append(limited.details["retry_after"])
                break
        harness.clock.advance(waits[-1] if waits else 0)
    assert waits[:4] == [1, 2, 4, 8] and waits[-1] <= 30, f"the delay doubles up to its ceiling: {waits}"
    with pytest.raises(Unauthorized):  # its wait is over: one more guess is checked
        await auth.login("boss@example.com", harness.seal("a guess"), attacker)
    # the right password from the owner's address is checked at once, attacker or not
    granted = await auth.login("boss@example.com", harness.seal(PASSWORD), owner)
    assert granted.access_token
    # and the attacker's next guess waits again: the owner's success forgave only the owner's address
    with pytest.raises(RateLimited):
        await auth.login("boss@example.com", harness.seal("a guess"), attacker)


async def test_a_success_forgives_only_its_own_address(harness: Harness) -> None:
    await admin(harness)
    auth = harness.with_settings(login_failures_per_address=100, login_failures_per_account=100)
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in range(3):
            with pytest.raises(Unauthorized):
                await auth.login("boss@example.com", harness.seal("typo typo"), address)
    with pytest.raises(RateLimited) as limited:
        await auth.login("boss@example.com", harness.seal(PASSWORD), "10.0.0.1")
    assert limited.value.details == {"retry_after": 1}
    harness.clock.advance(1)
    await auth.login("boss@example.com", harness.seal(PASSWORD), "10.0.0.1")
    for _ in range(3):  # counting starts again there: typos are checked, not delayed
        with pytest.raises(Unauthorized):
            await auth.login("boss@example.com", harness.seal("typo typo"), "10.0.0.1")
    with pytest.raises(Unauthorized):  # the other address waited its second out; its count goes on
        await auth.login("boss@example.com", harness.seal("typo typo"), "10.0.0.2")
    with pytest.raises(RateLimited) as other:
        await auth.login("boss@example.com", harness.seal("typo typo"), "10.0.0.2")
    assert other.value.details == {"retry_after": 2}


async def test_under_a_distributed_attack_only_known_addresses_may_try(harness: Harness) -> None:
    await admin(harness)
    await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.0.0.1")  # the owner's usual place
    for i in range(3):  # the harness's per-account ceiling: 3 failures a minute, from anywhere
        with pytest.raises(Unauthorized):
            await harness.auth.login("boss@example.com", harness.seal("a guess"), f"203.0.113.{i}")
    with pytest.raises(RateLimited):  # an address the account never signed in from waits
        await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "192.0.2.200")
    await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "10.0.0.1")
    harness.clock.advance(61)
    await harness.auth.login("boss@example.com", harness.seal(PASSWORD), "192.0.2.200")


async def test_a_stale_or_foreign_seal_is_refused(harness: Harness) -> None:
    await admin(harness)
    sealed = harness.seal(PASSWORD)
    harness.clock.advance(300)
    with pytest.raises(InvalidInput, match="too old"):
        await harness.auth.login("boss@example.com", sealed, None)
    with pytest.raises(InvalidInput, match="cannot be opened"):
        await harness.auth.login("boss@example.com", "not.a.jwe.at.all", None)


async def test_role_changes_and_disabling_bump_the_token_generation(harness: Harness) -> None:
    boss = await admin(harness)
    actor = msg.Actor(kind="user", user_id=boss.id)
    user = await harness.auth.create_user("ed@example.com", harness.seal(PASSWORD), "editor", actor)
    changed = await harness.auth.update_user(user.id, "viewer", None, actor)
    assert changed.role == "viewer"
    await harness.auth.update_user(user.id, None, True, actor)
    await settle()
    changes = [e for e in harness.events if isinstance(e, msg.UserAccessChanged)]
    assert [(e.generation, e.role, e.disabled) for e in changes] == [(1, "viewer", False), (2, "viewer", True)]
    assert (await harness.auth.access_state()).generations[user.id] == 2
    unchanged = await harness.auth.update_user(user.id, "viewer", True, actor)
    assert unchanged.disabled and (await harness.auth.access_state()).generations[user.id] == 2
    with pytest.raises(NotFound):
        await harness.auth.update_user("nobody", "viewer", None, actor)


async def test_the_last_admin_stays(harness: Harness) -> None:
    boss = await admin(harness)
    actor = msg.Actor(kind="user", user_id=boss.id)
    with pytest.raises(Conflict, match="last active admin"):
        await harness.auth.update_user(boss.id, "editor", None, actor)
    with pytest.raises(Conflict, match="last active admin"):
        await harness.auth.update_user(boss.id, None, True, actor)
    second = await harness.auth.create_user("two@example.com", harness.seal(PASSWORD), "admin", actor)
    assert (await harness.auth.update_user(boss.id, "editor", None, actor)).role == "editor"
    with pytest.raises(Conflict):
        await harness.auth.update_user(second.id, None, True, actor)


async def test_api_keys_verify_until_revoked_expired_or_their_owner_is_disabled(harness: Harness) -> None:
    boss = await admin(harness)
    actor = msg.Actor(kind="user", user_id=boss.id)
    ops = await harness.auth.create_user("ops@example.com", harness.seal(PASSWORD), "operator", actor)
    ops_actor = msg.Actor(kind="user", user_id=ops.id)

    key_id, _, digest = new_api_key()
    view = await harness.auth.create_api_key(key_id, digest, "ci", None, None, ops_actor)
    assert view.role == "operator"
    principal = await harness.auth.verify_api_key(key_id, digest)
    assert (principal.user_id, principal.role, principal.key_id) == (ops.id, "operator", key_id)
    with pytest.raises(Forbidden, match="more rights than its owner"):
        other_id, _, other_digest = new_api_key()
        await harness.auth.create_api_key(other_id, other_digest, "too much", "admin", None, ops_actor)
    with pytest.raises(Unauthorized):
        await harness.auth.verify_api_key(key_id, "0" * 64)

    await harness.auth.update_user(ops.id, "viewer", None, actor)
    assert (await harness.auth.verify_api_key(key_id, digest)).role == "viewer", "never above the owner's role"
    await harness.auth.update_user(ops.id, None, True, actor)
    with pytest.raises(Unauthorized):
        await harness.auth.verify_api_key(key_id, digest)
    await harness.auth.update_user(ops.id, "operator", False, actor)

    revoked = await harness.auth.revoke_api_key(key_id, actor)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthorized):
        await harness.auth.verify_api_key(key_id, digest)
    await settle()
    assert any(isinstance(e, msg.ApiKeyRevoked) and e.key_id == key_id for e in harness.events)

    short_id, _, short_digest = new_api_key()
    await harness.auth.create_api_key(
        short_id, short_digest, "short", None, harness.clock() + timedelta(minutes=5), actor
    )
    await harness.auth.verify_api_key(short_id, short_digest)
    harness.clock.advance(301)
    with pytest.raises(Unauthorized):
        await harness.auth.verify_api_key(short_id, short_digest)
    listed = await harness.auth.list_api_keys(1, None)
    assert len(listed.items) == 1 and listed.next_cursor is not None
    rest = await harness.auth.list_api_keys(10, listed.next_cursor)
    assert {k.id for k in listed.items + rest.items} == {key_id, short_id}


async def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(harness: Harness) -> None:
    await admin(harness)
    old_token = (await harness.auth.login("boss@example.com", harness.seal(PASSWORD), None)).access_token
    before = await harness.auth.public_keys()
    rotated = await harness.auth.rotate_keys(CLI)
    harness.keys = rotated
    new_token = (await harness.auth.login("boss@example.com", harness.seal(PASSWORD), None)).access_token
    assert claims_of(old_token, rotated)["sub"] == claims_of(new_token, rotated)["sub"]
    old_kid, new_kid = kid_of(old_token), kid_of(new_token)
    assert old_kid != new_kid and rotated.encryption_kid != before.encryption_kid
    published = {k.jwk["kid"]: k for k in rotated.keys}
    assert published[old_kid].not_after == harness.clock() + timedelta(seconds=600 + 30)
    await settle()
    assert any(isinstance(e, msg.PublicKeysPublished) for e in harness.events)

    harness.clock.advance(631)
    keys = await harness.auth.ensure_keys()
    assert {k.jwk["kid"] for k in keys.keys if k.jwk["use"] == "sig"} == {new_kid}
    entry = (await harness.auth.list_audit(5, None, "keys.rotated", None)).items[0]
    assert entry.actor.kind == "cli" and entry.details["retired"]


async def test_private_keys_do_not_open_with_another_secret(harness: Harness) -> None:
    store: AuthStore = harness.auth._store  # type: ignore[attr-defined]
    async with store.reading() as tx:
        material = next(k for k in await tx.keys() if k.use == "sig")
    assert material.encrypted_private_key is not None and b"PRIVATE KEY" not in material.encrypted_private_key
    private_key(material, KeyVault("test-secret"))
    with pytest.raises(KeysUnreadable, match="FLOWTAPE_SECRET_KEY"):
        private_key(material, KeyVault("another secret"))


async def test_the_audit_trail_is_append_only_and_idempotent(harness: Harness) -> None:
    await admin(harness)
    entry = msg.RecordAudit(
        actor=msg.Actor(kind="user", user_id="u1", email="a@example.com"),
        action="workflow.updated",
        target_type="workflow",
        target_id="w1",
        details={"version": 2},
    )
    await harness.auth.record(entry)
    await harness.auth.record(entry)  # a redelivery
    page = await harness.auth.list_audit(50, None, "workflow.updated", None)
    assert len(page.items) == 1 and page.items[0].details == {"version": 2}

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    store: AuthStore = harness.auth._store  # type: ignore[attr-defined]
    engine = store._engine  # type: ignore[attr-defined]
    table = "audit_log" if engine.dialect.name == "sqlite" else "auth.audit_log"
    for statement in (f"UPDATE {table} SET action = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    assert len((await harness.auth.list_audit(50, None, None, None)).items) == 2


async def test_audit_pages_walk_every_entry_once(harness: Harness) -> None:
    await admin(harness)
    for i in range(7):
        await harness.auth.record(msg.RecordAudit(actor=CLI, action="workflow.created", target_id=f"w{i}"))
    seen: list[int] = []
    cursor = None
    while True:
        page = await harness.auth.list_audit(3, cursor, None, None)
        seen.extend(e.id for e in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 8
    with pytest.raises(InvalidInput):
        await harness.auth.list_audit(3, "garbage", None, None)


async def test_passwords_shorter_than_the_policy_are_refused(harness: Harness) -> None:
    with pytest.raises(InvalidInput, match="at least 8"):
        await harness.auth.set_up("boss@example.com", harness.seal("short"), None)
    with pytest.raises(InvalidInput, match="not an email"):
        await harness.auth.set_up("no-at-sign", harness.seal(PASSWORD), None)


async def test_store_created_twice_is_harmless(harness: Harness) -> None:
    store: AuthStore = harness.auth._store  # type: ignore[attr-defined]
    await store.create()
    await admin(harness)
