"""Single sign-on's verbs on a real store (SQLite and PostgreSQL) with the provider faked at the HTTP transport
(``httpx.MockTransport``): secrets at rest, the one-use pending sign-in, require-SSO's break-glass."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from flowtape.auth.domain.keys import KeyVault
from flowtape.auth.single_sign_on import SingleSignOn
from flowtape.common.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from flowtape.common.messages import auth as msg
from flowtape.common.projects import DEFAULT_PROJECT

if TYPE_CHECKING:
    from services.auth.tests.conftest import Harness

ISSUER = "https://idp.example.test"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
CLI = msg.Actor(kind="cli")
PASSWORD = "correct horse battery staple"
CALLBACK = "https://flows.example.test/api/v1/auth/sso/corp/callback"


class Provider:
    """The outside world: discovery, JWKS and a token endpoint answering an ID token for ``claims``."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.nonce = ""
        self.claims: dict[str, Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if path == "/token":
            now = int(self.clock().timestamp())
            claims = {"iss": ISSUER, "aud": "client", "iat": now, "exp": now + 300, "nonce": self.nonce}
            token = jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, **self.claims}, KEY)
            return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer", "id_token": token})
        return httpx.Response(404)


def single_sign_on(h: Harness, provider: Provider) -> SingleSignOn:
    return SingleSignOn(
        auth=h.auth,
        store=h.auth._store,
        vault=KeyVault("test-secret", purpose=b"flowtape/auth/sso-secrets/v1"),
        transport=httpx.MockTransport(provider),
        clock=h.clock,
        leeway_seconds=0,
    )


def fields(**changes: Any) -> msg.SsoProviderFields:
    return msg.SsoProviderFields(
        client_id="client", discovery_url=f"{ISSUER}/.well-known/openid-configuration", **changes
    )


async def add_corp(h: Harness, sso: SingleSignOn) -> msg.SsoProviderView:
    return await sso.create_provider(
        "corp", "oidc", fields(default_role="viewer", default_role_set=True), h.seal("the-client-secret"), CLI
    )


async def test_the_client_secret_is_encrypted_at_rest_and_never_shown(harness: Harness) -> None:
    sso = single_sign_on(harness, Provider(harness.clock))
    view = await add_corp(harness, sso)
    assert view.has_client_secret and "the-client-secret" not in view.model_dump_json()
    async with harness.auth._store.reading() as tx:
        row = await tx.sso_provider("corp")
    assert row is not None and b"the-client-secret" not in row["encrypted_client_secret"]
    assert "the-client-secret" not in json.dumps(row, default=str)
    with pytest.raises(InvalidInput):
        await sso.create_provider("Not A Name", "oidc", fields(), harness.seal("s"), CLI)
    with pytest.raises(InvalidInput):
        await sso.create_provider("nodiscovery", "oidc", msg.SsoProviderFields(client_id="c"), harness.seal("s"), CLI)
    with pytest.raises(Conflict):
        await add_corp(harness, sso)


@pytest.mark.parametrize("url", ["\u0097\u00c2\u00ec\u0011", "ftp://idp.example.test", "https://", "not a url"])
async def test_a_provider_url_that_is_not_http_is_refused_as_input(harness: Harness, url: str) -> None:
    """Found by the API fuzzer: a control character made httpx raise past the check, answered as a 500."""
    sso = single_sign_on(harness, Provider(harness.clock))
    for field in ("discovery_url", "api_url"):
        with pytest.raises(InvalidInput) as refused:
            await sso.create_provider(
                "badurl",
                "github" if field == "api_url" else "oidc",
                msg.SsoProviderFields(client_id="c", **{field: url}),
                harness.seal("s"),
                CLI,
            )
        assert refused.value.details == [{"field": field, "message": "not a URL"}]


async def test_a_pending_sign_in_is_taken_once_and_only_while_recent(harness: Harness) -> None:
    provider = Provider(harness.clock)
    sso = single_sign_on(harness, provider)
    await add_corp(harness, sso)
    provider.claims = {"sub": "s1", "email": "ada@example.com", "email_verified": True}

    started = await sso.start("corp", CALLBACK)
    provider.nonce = parse_qs(urlsplit(started.authorization_url).query)["nonce"][0]
    granted = await sso.complete("corp", started.state, "code", None, None, "10.0.0.1", "test")
    sessions = await harness.auth.list_sessions((await harness.auth.list_users(10, None)).items[0].id, False, 10, None)
    assert granted.session_id == sessions.items[0].id and sessions.items[0].method == "sso:corp"
    with pytest.raises(Unauthorized, match="could not be matched"):
        await sso.complete("corp", started.state, "code", None, None, None, None)
    with pytest.raises(Unauthorized, match="wrong email or password"):  # the SSO-made account has no password
        await harness.auth.login("ada@example.com", harness.seal("!sso"), None)

    late = await sso.start("corp", CALLBACK)
    harness.clock.advance(11 * 60)
    with pytest.raises(Unauthorized, match="too long"):
        await sso.complete("corp", late.state, "code", None, None, None, None)
    refused = await harness.auth.list_audit(10, None, "login.failed", None)
    assert refused.items and refused.items[0].details["method"] == "sso:corp"


async def test_require_sso_leaves_only_the_first_admin_a_password(harness: Harness) -> None:
    sso = single_sign_on(harness, Provider(harness.clock))
    with pytest.raises(Conflict, match="enabled provider"):
        await sso.set_settings(True, CLI)
    await harness.auth.set_up("boss@example.com", harness.seal(PASSWORD), None)
    harness.clock.advance(1)  # the test's clock stands still: the second account is made a second later
    await harness.auth.create_user("second@example.com", harness.seal(PASSWORD), "admin", CLI)
    await add_corp(harness, sso)
    await sso.set_settings(True, CLI)
    assert (await sso.options()).require_sso is True
    with pytest.raises(Forbidden, match="requires single sign-on"):
        await harness.auth.login("second@example.com", harness.seal(PASSWORD), None)
    with pytest.raises(Forbidden, match="requires single sign-on"):
        await harness.auth.login("nobody@example.com", harness.seal(PASSWORD), None)
    assert (await harness.auth.login("boss@example.com", harness.seal(PASSWORD), None)).access_token


async def sign_in(sso: SingleSignOn, provider: Provider, claims: dict[str, Any]) -> None:
    provider.claims = claims
    started = await sso.start("corp", CALLBACK)
    provider.nonce = parse_qs(urlsplit(started.authorization_url).query)["nonce"][0]
    await sso.complete("corp", started.state, "code", None, None, None, None)


async def test_groups_granting_a_project_make_the_user_a_member_there(harness: Harness) -> None:
    h = harness
    provider = Provider(h.clock)
    sso = single_sign_on(h, provider)
    boss = await h.auth.set_up("boss@example.com", h.seal(PASSWORD), None)
    actor = msg.Actor(kind="user", user_id=boss.id)
    sales = await h.projects.create_project("Sales", actor)
    other = await h.projects.create_project("Other", actor)
    grants = [
        msg.SsoGrantView(group="sales", role="viewer", project_id=sales.id),
        msg.SsoGrantView(group="leads", role="editor", project_id=sales.id),
        msg.SsoGrantView(group="ghosts", role="editor", project_id="gone"),
    ]
    await sso.create_provider(
        "corp", "oidc", fields(default_role="viewer", default_role_set=True, grants=grants), h.seal("secret"), CLI
    )

    await sign_in(sso, provider, {"sub": "a", "email": "ada@example.com", "email_verified": True, "groups": ["sales"]})
    [ada] = [u for u in (await h.auth.list_users(10, None)).items if u.email == "ada@example.com"]
    assert (await h.projects.memberships(ada.id)).projects == {DEFAULT_PROJECT: "viewer", sales.id: "viewer"}
    await h.projects.add_member(other.id, "ada@example.com", "operator", actor)
    groups = ["sales", "leads", "ghosts"]
    await sign_in(sso, provider, {"sub": "a", "email": "ada@example.com", "email_verified": True, "groups": groups})
    assert (await h.projects.memberships(ada.id)).projects == {
        DEFAULT_PROJECT: "viewer",
        sales.id: "editor",
        other.id: "operator",
    }, "the highest grant, and memberships no grant mentions are kept"

    # sign-up is off, yet a project grant lets someone in: there only
    await sso.update_provider("corp", msg.SsoProviderFields(default_role=None, default_role_set=True), None, CLI)
    await sign_in(sso, provider, {"sub": "b", "email": "bob@example.com", "email_verified": True, "groups": ["leads"]})
    [bob] = [u for u in (await h.auth.list_users(10, None)).items if u.email == "bob@example.com"]
    assert (await h.projects.memberships(bob.id)).projects == {sales.id: "editor"}
    with pytest.raises(Forbidden, match="signing up"):
        await sign_in(sso, provider, {"sub": "c", "email": "cy@example.com", "email_verified": True, "groups": []})
