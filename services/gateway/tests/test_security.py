"""The gateway's guard: tokens verified against auth's published keys, revocations, API key shapes, and roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from flowtape.auth.domain import keys as keyring
from flowtape.auth.domain import tokens
from flowtape.common.bus.memory import MemoryBus
from flowtape.common.errors import Unauthorized, Unavailable
from flowtape.gateway.domain.api_keys import new_api_key, parse_api_key
from flowtape.gateway.security import Guard
from flowtape.gateway.settings import SecuritySettings

if TYPE_CHECKING:
    from services.gateway.tests.conftest import Gateway

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


def keys_and_signer() -> tuple[list[keyring.KeyMaterial], object]:
    vault = keyring.KeyVault("guard-tests")
    signing = keyring.new_key("sig", NOW, vault)
    return [signing, keyring.new_key("enc", NOW, vault)], keyring.private_key(signing, vault)


def token(private: object, *, generation: int = 0, issued: datetime = NOW, ttl: float = 600) -> str:
    return tokens.issue(
        user_id="u-1",
        email="ada@flowtape.test",
        role="editor",
        generation=generation,
        key=private,  # type: ignore[arg-type]
        now=issued,
        ttl=timedelta(seconds=ttl),
    )


@pytest.fixture
def guard() -> tuple[Guard, Clock, object]:
    held, private = keys_and_signer()
    clock = Clock()
    guard = Guard(MemoryBus(), SecuritySettings(leeway_seconds=5), clock=clock)
    guard.learn_keys(keyring.public_key_set(held, NOW))
    return guard, clock, private


async def test_a_valid_token_is_the_caller_it_names(guard: tuple[Guard, Clock, object]) -> None:
    check, _, private = guard
    principal = await check.authenticate(token(private), None, "203.0.113.5")
    assert (principal.user_id, principal.role, principal.via) == ("u-1", "editor", "token")
    assert principal.actor().client_address == "203.0.113.5"


async def test_expired_tampered_foreign_and_revoked_tokens_are_refused(guard: tuple[Guard, Clock, object]) -> None:
    check, clock, private = guard
    good = token(private)
    clock.now += 600 + 6
    with pytest.raises(Unauthorized, match="expired"):
        await check.authenticate(good, None)
    clock.now = NOW.timestamp()
    header, claims, signature = good.split(".")
    with pytest.raises(Unauthorized, match="not valid"):
        await check.authenticate(f"{header}.{claims}.{signature[::-1]}", None)
    _, stranger = keys_and_signer()  # a key auth never published
    with pytest.raises(Unauthorized, match="not valid"):
        await check.authenticate(token(stranger), None)
    check.learn_generation("u-1", 1)  # the user was disabled or changed role since
    with pytest.raises(Unauthorized, match="revoked"):
        await check.authenticate(good, None)
    assert (await check.authenticate(token(private, generation=1), None)).user_id == "u-1"
    check.learn_generation("u-1", 0)  # a stale answer cannot bring the old tokens back
    with pytest.raises(Unauthorized, match="revoked"):
        await check.authenticate(good, None)


async def test_without_auths_keys_a_token_is_not_judged() -> None:
    _, private = keys_and_signer()
    with pytest.raises(Unavailable):
        await Guard(MemoryBus()).authenticate(token(private), None)
    with pytest.raises(Unauthorized, match="sign in first"):
        await Guard(MemoryBus()).authenticate(None, None)


def test_api_keys_have_a_shape_and_only_their_hash_travels() -> None:
    key_id, key, digest = new_api_key()
    assert key.startswith(f"ftk_{key_id}_") and parse_api_key(key) == (key_id, digest)
    assert key not in digest and len(digest) == 64
    for bad in ("ftk_short_x", "not-a-key", key + "x", key.replace("ftk_", "ftx_")):
        assert parse_api_key(bad) is None


async def test_each_route_asks_for_its_least_role(gateway: Gateway, client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/workflows")).status_code == 401
    assert (await client.get("/api/v1/workflows", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    forbidden = await client.post("/api/v1/workflows", json={}, headers=gateway.headers("operator"))
    assert forbidden.status_code == 403 and "editor role or higher" in forbidden.json()["error"]["message"]
    expired = await client.get("/api/v1/auth/me", headers=gateway.headers("viewer", expires_in=-60))
    assert expired.status_code == 401 and expired.headers["www-authenticate"] == "Bearer"
    me = await client.get("/api/v1/auth/me", headers=gateway.headers("viewer"))
    assert me.status_code == 200 and me.json()["role"] == "viewer"
