"""End to end: password reset and email verification through a real SMTP server (aiosmtpd) reading the link
from the mail, and sign-in sessions revoked on a second gateway replica within 5 s, with the services as
separate OS processes (issue 16, items 3 and 4)."""

from __future__ import annotations

import email
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.infra import (
    Platform,
    free_port,
    login,
    postgres_database,
    rabbitmq_vhost,
    remember_secret,
    secrets_in_logs,
    set_up_admin,
    wait_ready,
)

PUBLIC_URL = "https://flows.example.test"


class Inbox:
    """An aiosmtpd handler keeping every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.1)
        raise AssertionError(f"no mail #{count} to {address} within {timeout:g} s")


def link_token(message: Message, page: str) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    match = re.search(rf"{re.escape(PUBLIC_URL)}/{page}#token=([A-Za-z0-9_-]+)", body.decode())
    assert match, body
    return remember_secret(match.group(1))


@dataclass
class MailPlatform(Platform):
    """The platform with its mail going to the test's SMTP server."""

    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, service: str, port: int) -> dict[str, str]:
        return {**super().env(service, port), **self.extra_env}


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, inbox: tuple[Inbox, int]) -> Iterator[MailPlatform]:
    workdir: Path = tmp_path_factory.mktemp("accounts")
    with rabbitmq_vhost("flowtape-accounts") as amqp_url, postgres_database("flowtape_accounts") as database_url:
        platform = MailPlatform(
            amqp_url=amqp_url,
            database_url=database_url,
            workdir=workdir,
            extra_env={
                "FLOWTAPE_SMTP_HOST": "127.0.0.1",
                "FLOWTAPE_SMTP_PORT": str(inbox[1]),
                "FLOWTAPE_SMTP_SECURITY": "none",
                "FLOWTAPE_MAIL_FROM": "Flowtape <noreply@flows.example.test>",
                "FLOWTAPE_PUBLIC_URL": PUBLIC_URL,
            },
        )
        try:
            platform.start_all()
            platform.admin = set_up_admin(platform.gateway, f"admin-{secrets.token_hex(3)}@flowtape.test")
            second = platform.start("gateway", name="gateway-2")
            wait_ready(second.url, process=second.popen)
            yield platform
        except Exception:
            print(platform.logs())
            raise
        finally:
            platform.stop_all()
    leaked = secrets_in_logs(sorted(workdir.glob("*.log")), {platform.secret_key})
    assert not leaked, f"secrets found in the service logs: {leaked}"


def admin_client(platform: Platform) -> httpx.Client:
    assert platform.admin is not None
    return httpx.Client(base_url=platform.gateway, headers=platform.admin.headers, timeout=30)


def new_user(platform: Platform, role: str = "editor") -> tuple[str, str, str]:
    address = f"{role}-{secrets.token_hex(4)}@flowtape.test"
    password = remember_secret(f"pw-{secrets.token_urlsafe(16)}")
    with admin_client(platform) as api:
        created = api.post("/api/v1/users", json={"email": address, "password": password, "role": role})
    assert created.status_code == 201, created.text
    return address, password, created.json()["id"]


def sign_in(url: str, address: str, password: str, agent: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/api/v1/auth/login",
        json={"email": address, "password": password},
        headers={"User-Agent": agent},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    remember_secret(answer.json()["access_token"])
    return dict(answer.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(url: str, token: str) -> int:
    return httpx.get(f"{url}/api/v1/auth/me", headers=bearer(token), timeout=30).status_code


def test_a_password_reset_through_smtp_ends_every_session(platform: MailPlatform, inbox: tuple[Inbox, int]) -> None:
    mail, _ = inbox
    address, password, user_id = new_user(platform)
    replica = platform.processes["gateway-2"].url
    old = sign_in(platform.gateway, address, password, "old-laptop")
    assert me(platform.gateway, old["access_token"]) == me(replica, old["access_token"]) == 200

    nobody = f"nobody-{secrets.token_hex(4)}@flowtape.test"
    known = httpx.post(f"{platform.gateway}/api/v1/auth/password-reset", json={"email": address}, timeout=30)
    unknown = httpx.post(f"{platform.gateway}/api/v1/auth/password-reset", json={"email": nobody}, timeout=30)
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content) == (202, known.content)
    message = mail.wait_for(address)
    assert message["From"] == "Flowtape <noreply@flows.example.test>"
    token = link_token(message, "reset-password")
    time.sleep(1)
    assert mail.to(nobody) == []

    with psycopg.connect(platform.database_url) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM auth.mailed_tokens").fetchall()]
    assert stored and token not in stored  # hashed at rest

    new_password = remember_secret(f"new-{secrets.token_urlsafe(16)}")
    reset = httpx.post(
        f"{platform.gateway}/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": new_password},
        timeout=30,
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["id"] == user_id and reset.json()["email_verified"] is True
    again = httpx.post(
        f"{platform.gateway}/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": f"x{new_password}"},
        timeout=30,
    )
    assert again.status_code == 400 and again.json()["error"]["code"]

    # the old session is over on both replicas; the old password is refused, the new one works
    started = time.monotonic()
    while me(replica, old["access_token"]) != 401:
        assert time.monotonic() - started < 5, "the reset did not reach the second replica within 5 s"
        time.sleep(0.1)
    assert me(platform.gateway, old["access_token"]) == 401
    refused = httpx.post(
        f"{platform.gateway}/api/v1/auth/login", json={"email": address, "password": password}, timeout=30
    )
    assert refused.status_code == 401
    fresh = sign_in(platform.gateway, address, new_password, "new-laptop")
    assert me(replica, fresh["access_token"]) == 200


def test_email_verification_through_smtp(platform: MailPlatform, inbox: tuple[Inbox, int]) -> None:
    mail, _ = inbox
    address, password, user_id = new_user(platform, "viewer")
    token = login(platform.gateway, address, password)
    with admin_client(platform) as api:
        assert api.get(f"/api/v1/users/{user_id}").json()["email_verified"] is False
    asked = httpx.post(f"{platform.gateway}/api/v1/auth/email-verification", headers=bearer(token), timeout=30)
    assert asked.status_code == 202, asked.text
    link = link_token(mail.wait_for(address), "verify-email")
    confirmed = httpx.post(
        f"{platform.gateway}/api/v1/auth/email-verification/confirm", json={"token": link}, timeout=30
    )
    assert confirmed.status_code == 200 and confirmed.json()["email_verified"] is True
    with admin_client(platform) as api:
        assert api.get(f"/api/v1/users/{user_id}").json()["email_verified"] is True
    reused = httpx.post(f"{platform.gateway}/api/v1/auth/email-verification/confirm", json={"token": link}, timeout=30)
    assert reused.status_code == 400


def test_a_revoked_session_is_refused_on_the_second_replica_within_5_s(platform: MailPlatform) -> None:
    address, password, user_id = new_user(platform)
    replica = platform.processes["gateway-2"].url
    laptop = sign_in(platform.gateway, address, password, "Laptop/1.0")
    phone = sign_in(replica, address, password, "Phone/2.0")
    assert me(replica, laptop["access_token"]) == 200  # verified and cached there before the revocation

    listed = httpx.get(f"{platform.gateway}/api/v1/auth/sessions", headers=bearer(phone["access_token"]), timeout=30)
    assert listed.status_code == 200
    sessions = {s["id"]: s for s in listed.json()["items"]}
    assert set(sessions) == {laptop["session_id"], phone["session_id"]}
    assert sessions[laptop["session_id"]]["user_agent"] == "Laptop/1.0"
    assert sessions[phone["session_id"]]["client_address"] == "127.0.0.1"
    assert all(s["method"] == "password" and s["active"] for s in sessions.values())

    # someone else can neither end nor see these sessions
    other_address, other_password, _ = new_user(platform, "operator")
    other = sign_in(platform.gateway, other_address, other_password, "x")
    stranger = httpx.delete(
        f"{platform.gateway}/api/v1/auth/sessions/{laptop['session_id']}",
        headers=bearer(other["access_token"]),
        timeout=30,
    )
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "not_found"
    peek = httpx.get(
        f"{platform.gateway}/api/v1/auth/sessions",
        params={"user_id": user_id},
        headers=bearer(other["access_token"]),
        timeout=30,
    )
    assert peek.status_code == 403

    revoked = httpx.delete(
        f"{platform.gateway}/api/v1/auth/sessions/{laptop['session_id']}",
        headers=bearer(phone["access_token"]),
        timeout=30,
    )
    assert revoked.status_code == 204, revoked.text
    started = time.monotonic()
    while me(replica, laptop["access_token"]) != 401:
        assert time.monotonic() - started < 5, "the revoked session still worked on the second replica after 5 s"
        time.sleep(0.05)
    assert me(platform.gateway, laptop["access_token"]) == 401
    assert me(replica, phone["access_token"]) == 200  # only that session ended

    history = httpx.get(f"{replica}/api/v1/auth/logins", headers=bearer(phone["access_token"]), timeout=30).json()
    ended = {s["id"]: s for s in history["items"]}[laptop["session_id"]]
    assert ended["active"] is False and ended["end_reason"] == "revoked" and ended["ended_at"]
    active = httpx.get(f"{replica}/api/v1/auth/sessions", headers=bearer(phone["access_token"]), timeout=30).json()
    assert [s["id"] for s in active["items"]] == [phone["session_id"]]

    # an admin sees anyone's sessions and may end them
    with admin_client(platform) as api:
        theirs = api.get("/api/v1/auth/sessions", params={"user_id": user_id})
        assert [s["id"] for s in theirs.json()["items"]] == [phone["session_id"]]
        assert api.delete(f"/api/v1/auth/sessions/{phone['session_id']}").status_code == 204
    started = time.monotonic()
    while me(replica, phone["access_token"]) != 401:
        assert time.monotonic() - started < 5
        time.sleep(0.05)


def test_signing_the_console_out_ends_its_session(platform: MailPlatform) -> None:
    address, password, _ = new_user(platform, "viewer")
    replica = platform.processes["gateway-2"].url
    with httpx.Client(base_url=platform.gateway, timeout=30) as browser:
        opened = browser.post("/api/v1/auth/session", json={"email": address, "password": password})
        assert opened.status_code == 200, opened.text
        token = remember_secret(browser.cookies["flowtape_session"])
        assert me(replica, token) == 200
        assert browser.delete("/api/v1/auth/session").status_code == 204
    started = time.monotonic()
    while me(replica, token) != 401:
        assert time.monotonic() - started < 5
        time.sleep(0.05)


def test_an_invitation_through_smtp(platform: MailPlatform, inbox: tuple[Inbox, int]) -> None:
    mail, _ = inbox
    invitee = f"invited-{secrets.token_hex(4)}@flowtape.test"
    with admin_client(platform) as api:
        invited = api.post("/api/v1/auth/invitations", json={"email": invitee, "role": "operator"})
        assert invited.status_code == 201, invited.text
        assert invited.json()["email"] == invitee and invited.json()["role"] == "operator"
        assert invitee in [i["email"] for i in api.get("/api/v1/auth/invitations").json()["items"]]
    token = link_token(mail.wait_for(invitee), "accept-invitation")

    password = remember_secret(f"invitee-{secrets.token_urlsafe(16)}")
    accepted = httpx.post(
        f"{platform.gateway}/api/v1/auth/invitations/accept", json={"token": token, "password": password}, timeout=30
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "operator" and accepted.json()["email_verified"] is True
    signed_in = sign_in(platform.processes["gateway-2"].url, invitee, password, "invitee")
    who = httpx.get(f"{platform.gateway}/api/v1/auth/me", headers=bearer(signed_in["access_token"]), timeout=30)
    assert who.json()["role"] == "operator"
    reused = httpx.post(
        f"{platform.gateway}/api/v1/auth/invitations/accept", json={"token": token, "password": password}, timeout=30
    )
    assert reused.status_code == 400

    # only admins invite
    forbidden = httpx.post(
        f"{platform.gateway}/api/v1/auth/invitations",
        json={"email": f"x-{invitee}", "role": "admin"},
        headers=bearer(signed_in["access_token"]),
        timeout=30,
    )
    assert forbidden.status_code == 403
