"""Password reset, email verification and sign-in sessions, on a real store (SQLite and PostgreSQL), a fake
clock and a stand-in mailer."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from flowtape.auth.store import mailed_tokens
from flowtape.common.errors import Conflict, InvalidInput, NotFound, Unauthorized
from flowtape.common.messages import auth as msg

if TYPE_CHECKING:
    from services.auth.tests.conftest import Harness

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
CLI = msg.Actor(kind="cli")


async def user(h: Harness, email: str = "ada@example.com") -> msg.UserView:
    return await h.auth.create_user(email, h.seal(PASSWORD), "editor", CLI)


def link_token(body: str, page: str) -> str:
    match = re.search(rf"https://flows\.example\.com/{page}#token=([A-Za-z0-9_-]+)", body)
    assert match, body
    return match.group(1)


async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(harness: Harness) -> None:
    h = harness
    ada = await user(h)
    first = await h.auth.login("ada@example.com", h.seal(PASSWORD), "10.0.0.1", "Firefox")
    second = await h.auth.login("ada@example.com", h.seal(PASSWORD), "10.0.0.2", "curl")
    assert await h.auth.request_password_reset(" ADA@example.com", "10.0.0.9") == msg.MailAccepted()
    await h.auth.drain_mail()
    [(to, subject, body)] = h.mail.sent
    assert to == "ada@example.com" and "password" in subject.lower()
    token = link_token(body, "reset-password")

    async with h.auth._store.reading() as tx:
        rows = (await tx._conn.execute(select(mailed_tokens.c.token_hash))).scalars().all()
    assert rows == [hashlib.sha256(token.encode()).hexdigest()]  # only the hash is kept

    reset = await h.auth.reset_password(token, h.seal(NEW_PASSWORD), "10.0.0.9")
    assert reset.id == ada.id and reset.email_verified
    with pytest.raises(Unauthorized):
        await h.auth.login("ada@example.com", h.seal(PASSWORD), None)
    h.clock.advance(1)
    await h.auth.login("ada@example.com", h.seal(NEW_PASSWORD), None)
    with pytest.raises(InvalidInput):  # single use
        await h.auth.reset_password(token, h.seal("yet another passphrase"), None)

    state = await h.auth.access_state()
    assert {first.session_id, second.session_id} <= set(state.revoked_sessions)
    assert state.generations[ada.id] == 1  # older tokens are void at every gateway, sessions or not
    revoked = [e for e in h.events if isinstance(e, msg.SessionsRevoked)]
    assert revoked and set(revoked[-1].session_ids) == {first.session_id, second.session_id}
    history = await h.auth.list_sessions(ada.id, False, 50, None)
    assert [s.end_reason for s in history.items] == [None, "password_reset", "password_reset"]


async def test_the_answer_does_not_tell_who_has_an_account(harness: Harness) -> None:
    h = harness
    await user(h)
    known = await h.auth.request_password_reset("ada@example.com", None)
    unknown = await h.auth.request_password_reset("nobody@example.com", None)
    malformed = await h.auth.request_password_reset("not an address", None)
    assert known == unknown == malformed
    await h.auth.drain_mail()
    assert [to for to, _, _ in h.mail.sent] == ["ada@example.com"]


async def test_a_reset_link_expires(harness: Harness) -> None:
    h = harness
    await user(h)
    await h.auth.request_password_reset("ada@example.com", None)
    await h.auth.drain_mail()
    token = link_token(h.mail.sent[0][2], "reset-password")
    h.clock.advance(3601)
    with pytest.raises(InvalidInput):
        await h.auth.reset_password(token, h.seal(NEW_PASSWORD), None)
    with pytest.raises(InvalidInput):
        await h.auth.reset_password("made-up-token", h.seal(NEW_PASSWORD), None)
    await h.auth.login("ada@example.com", h.seal(PASSWORD), None)


async def test_one_mail_per_account_per_interval(harness: Harness) -> None:
    h = harness
    await user(h)
    for _ in range(3):
        await h.auth.request_password_reset("ada@example.com", None)
    await h.auth.drain_mail()
    assert len(h.mail.sent) == 1
    h.clock.advance(61)
    await h.auth.request_password_reset("ada@example.com", None)
    await h.auth.drain_mail()
    assert len(h.mail.sent) == 2


async def test_email_verification(harness: Harness) -> None:
    h = harness
    ada = await user(h)
    assert not (await h.auth.get_user(ada.id)).email_verified
    await h.auth.request_email_verification(ada.id, None)
    await h.auth.drain_mail()
    token = link_token(h.mail.sent[0][2], "verify-email")
    with pytest.raises(InvalidInput):  # a verification token is no reset token
        await h.auth.reset_password(token, h.seal(NEW_PASSWORD), None)
    assert (await h.auth.verify_email(token, None)).email_verified
    assert (await h.auth.get_user(ada.id)).email_verified
    with pytest.raises(InvalidInput):
        await h.auth.verify_email(token, None)


async def test_sessions_are_listed_and_revoked_by_their_owner_only(harness: Harness) -> None:
    h = harness
    ada = await user(h)
    bob = await user(h, "bob@example.com")
    one = await h.auth.login("ada@example.com", h.seal(PASSWORD), "10.0.0.1", "Firefox")
    h.clock.advance(1)
    two = await h.auth.login("ada@example.com", h.seal(PASSWORD), "10.0.0.2", "curl/8")
    active = await h.auth.list_sessions(ada.id, True, 50, None)
    assert [(s.id, s.client_address, s.user_agent, s.method) for s in active.items] == [
        (two.session_id, "10.0.0.2", "curl/8", "password"),
        (one.session_id, "10.0.0.1", "Firefox", "password"),
    ]
    assert one.session_id is not None
    with pytest.raises(NotFound):  # bob may not end ada's session, nor learn that it exists
        await h.auth.revoke_session(one.session_id, bob.id, CLI)
    ended = await h.auth.revoke_session(one.session_id, ada.id, CLI)
    assert not ended.active and ended.end_reason == "revoked"
    assert [s.id for s in (await h.auth.list_sessions(ada.id, True, 50, None)).items] == [two.session_id]
    page = await h.auth.list_sessions(ada.id, False, 1, None)
    assert [s.id for s in page.items] == [two.session_id] and page.next_cursor
    rest = await h.auth.list_sessions(ada.id, False, 1, page.next_cursor)
    assert [s.id for s in rest.items] == [one.session_id]
    assert one.session_id in (await h.auth.access_state()).revoked_sessions
    h.clock.advance(601)  # its token has expired anyway: gateways may forget it
    assert one.session_id not in (await h.auth.access_state()).revoked_sessions
    assert (await h.auth.list_sessions(ada.id, True, 50, None)).items == []


async def test_an_invitation_becomes_an_account_once(harness: Harness) -> None:
    h = harness
    boss = await h.auth.set_up("boss@example.com", h.seal(PASSWORD), None)
    actor = msg.Actor(kind="user", user_id=boss.id, email=boss.email)
    invitation = await h.auth.invite(" New@Example.com", "operator", actor)
    assert (invitation.email, invitation.role, invitation.invited_by) == ("new@example.com", "operator", boss.id)
    await h.auth.drain_mail()
    [(to, subject, body)] = h.mail.sent
    assert to == "new@example.com" and "invited" in subject and "boss@example.com" in body and "operator" in body
    token = link_token(body, "accept-invitation")

    joined = await h.auth.accept_invitation(token, h.seal(NEW_PASSWORD), "10.0.0.3")
    assert (joined.email, joined.role, joined.email_verified) == ("new@example.com", "operator", True)
    await h.auth.login("new@example.com", h.seal(NEW_PASSWORD), None)
    with pytest.raises(InvalidInput):
        await h.auth.accept_invitation(token, h.seal(NEW_PASSWORD), None)
    [listed] = (await h.auth.list_invitations(50, None)).items
    assert listed.user_id == joined.id and listed.accepted_at is not None
    with pytest.raises(Conflict):  # the address has an account now
        await h.auth.invite("new@example.com", "viewer", actor)


async def test_a_revoked_or_expired_invitation_opens_nothing(harness: Harness) -> None:
    h = harness
    revoked = await h.auth.invite("late@example.com", "viewer", CLI)
    await h.auth.invite("slow@example.com", "viewer", CLI)
    await h.auth.drain_mail()
    tokens = {to: link_token(body, "accept-invitation") for to, _, body in h.mail.sent}
    assert (await h.auth.revoke_invitation(revoked.id, CLI)).revoked_at is not None
    with pytest.raises(InvalidInput):
        await h.auth.accept_invitation(tokens["late@example.com"], h.seal(NEW_PASSWORD), None)
    h.clock.advance(7 * 24 * 3600 + 1)
    with pytest.raises(InvalidInput):
        await h.auth.accept_invitation(tokens["slow@example.com"], h.seal(NEW_PASSWORD), None)
    with pytest.raises(NotFound):
        await h.auth.revoke_invitation("no-such-invitation", CLI)
    assert (await h.auth.list_users(50, None)).items == []
