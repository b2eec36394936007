"""End to end: single sign-on with the services as separate OS processes, against a local OpenID provider
(authlib's server side) and a GitHub stand-in started here (issue 16, item 2): a full sign-in into a console
session; a wrong state, a wrong nonce and an expired ID token refused; linking by verified email only;
require-SSO with the first admin's break-glass password sign-in; groups mapped to roles."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.identity_providers import FakeGitHub, FakeOpenIDProvider
from tests.infra import FLOWTAPE, ROOT, Platform, login, remember_secret
from tests.test_accounts import new_user


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeOpenIDProvider]:
    with FakeOpenIDProvider() as provider:
        remember_secret(provider.client_secret)
        yield provider
        for token in provider.tokens:
            remember_secret(token)


@pytest.fixture(scope="module")
def corp(api: httpx.Client, idp: FakeOpenIDProvider) -> Iterator[str]:
    """An OpenID provider mapping group ``eng`` to editor and ``ops`` to operator; others sign up as viewers."""
    name = f"corp-{secrets.token_hex(3)}"
    created = api.post(
        "/api/v1/auth/sso/providers",
        json={
            "name": name,
            "kind": "oidc",
            "display_name": "Corp SSO",
            "discovery_url": idp.discovery_url,
            "client_id": idp.client_id,
            "client_secret": idp.client_secret,
            "grants": [{"group": "eng", "role": "editor"}, {"group": "ops", "role": "operator"}],
            "default_role": "viewer",
        },
    )
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["has_client_secret"] is True and idp.client_secret not in created.text
    yield name
    assert api.delete(f"/api/v1/auth/sso/providers/{name}").status_code == 200  # the shared platform's sign-in page


def person(email: str, *, verified: bool = True, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"sub": f"sub-{secrets.token_hex(6)}", "email": email, "email_verified": verified, "groups": list(groups)}


def through_provider(platform: Platform, name: str, tamper: dict[str, str] | None = None) -> httpx.Response:
    """What a browser does: start at the gateway, pass the provider, land on the callback (``tamper`` changes
    the callback's query). Returns the callback's answer; the browser's cookies are on ``answer.browser``."""
    browser = httpx.Client(base_url=platform.gateway, timeout=30)
    started = browser.get(f"/api/v1/auth/sso/{name}/start")
    assert started.status_code == 302, started.text
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert "state" in query and browser.cookies["flowtape_sso"] == query["state"][0]
    if "scope" in query and "openid" in query["scope"][0]:
        assert {"nonce", "code_challenge"} <= set(query) and query["code_challenge_method"] == ["S256"]
    at_provider = browser.get(started.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    callback = urlsplit(at_provider.headers["location"])
    assert callback.path == f"/api/v1/auth/sso/{name}/callback"
    params = {k: v[0] for k, v in parse_qs(callback.query).items()} | (tamper or {})
    answer = browser.get(f"{callback.path}?{urlencode(params)}")
    answer.browser = browser  # type: ignore[attr-defined]
    answer.callback = f"{callback.path}?{urlencode(params)}"  # type: ignore[attr-defined]
    return answer


def signed_in(answer: httpx.Response) -> dict[str, Any]:
    """The console session the callback opened: who it is, checked with its cookie."""
    assert answer.status_code == 302 and answer.headers["location"] == "/", answer.text
    browser: httpx.Client = answer.browser  # type: ignore[attr-defined]
    remember_secret(browser.cookies["flowtape_session"])
    me = browser.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    return dict(me.json())


def refusal(answer: httpx.Response, status: int = 401) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert "Traceback" not in answer.text and "flowtape_session" not in answer.headers.get("set-cookie", "")
    return str(error["message"])


def test_a_sign_in_through_the_openid_provider_opens_a_console_session(
    api: httpx.Client, anonymous: httpx.Client, platform: Platform, idp: FakeOpenIDProvider, corp: str
) -> None:
    options = anonymous.get("/api/v1/auth/sso/options").json()
    assert {"name": corp, "display_name": "Corp SSO", "kind": "oidc"} in options["providers"]
    listed = api.get("/api/v1/auth/sso/providers")
    assert listed.status_code == 200 and idp.client_secret not in listed.text

    idp.person = person(f"ada-{secrets.token_hex(3)}@corp.test", groups=("eng",))
    me = signed_in(through_provider(platform, corp))
    assert me["email"] == idp.person["email"] and me["role"] == "editor", "group eng maps to editor"
    history = api.get("/api/v1/auth/logins", params={"user_id": me["id"]}).json()["items"]
    assert history[0]["method"] == f"sso:{corp}"
    again = signed_in(through_provider(platform, corp))
    assert again["id"] == me["id"], "the same subject signs in to the same account"

    idp.person = person(f"olga-{secrets.token_hex(3)}@corp.test", groups=("ops", "sales"))
    assert signed_in(through_provider(platform, corp))["role"] == "operator"
    idp.person = person(f"vic-{secrets.token_hex(3)}@corp.test", groups=("sales",))
    assert signed_in(through_provider(platform, corp))["role"] == "viewer", "no grant: the default role"

    turned_off = api.patch(f"/api/v1/auth/sso/providers/{corp}", json={"default_role": None})
    assert turned_off.status_code == 200 and turned_off.json()["default_role"] is None
    try:
        idp.person = person(f"sam-{secrets.token_hex(3)}@corp.test", groups=("sales",))
        assert "signing up through Corp SSO is off" in refusal(through_provider(platform, corp), 403)
    finally:
        api.patch(f"/api/v1/auth/sso/providers/{corp}", json={"default_role": "viewer"})


def test_a_wrong_state_a_wrong_nonce_and_an_expired_id_token_are_refused(
    platform: Platform, idp: FakeOpenIDProvider, corp: str
) -> None:
    idp.person = person(f"eve-{secrets.token_hex(3)}@corp.test")
    assert "not started in this browser" in refusal(through_provider(platform, corp, {"state": "forged-state-1"}))
    forged = secrets.token_urlsafe(32)
    with httpx.Client(base_url=platform.gateway, timeout=30, cookies={"flowtape_sso": forged}) as browser:
        unknown = browser.get(f"/api/v1/auth/sso/{corp}/callback", params={"state": forged, "code": "x"})
    assert "could not be matched to one this platform started" in refusal(unknown)

    idp.nonce_override = "someone-elses-nonce"
    try:
        assert "(nonce)" in refusal(through_provider(platform, corp))
    finally:
        idp.nonce_override = None
    idp.id_token_lifetime = -600
    try:
        expired = through_provider(platform, corp)
        assert "ID token has expired" in refusal(expired)
        replayed = expired.browser.get(expired.callback)  # type: ignore[attr-defined]
        assert "could not be matched" in refusal(replayed), "a state works once"
        as_browser = through_provider(platform, corp)
        page = as_browser.browser.get(as_browser.callback, headers={"Accept": "text/html"})  # type: ignore[attr-defined]
        assert page.status_code == 302 and page.headers["location"].startswith("/?sso_error=")
    finally:
        idp.id_token_lifetime = 300
    assert signed_in(through_provider(platform, corp))["email"] == idp.person["email"]


def test_accounts_link_by_verified_email_only(
    api: httpx.Client, platform: Platform, idp: FakeOpenIDProvider, corp: str
) -> None:
    address, _, user_id = new_user(platform, "operator")
    idp.person = person(address, verified=False, groups=("eng",))
    assert "did not vouch for your email address" in refusal(through_provider(platform, corp), 403)
    idp.person = person(address, groups=("ops",))
    me = signed_in(through_provider(platform, corp))
    assert me["id"] == user_id and me["role"] == "operator"
    assert api.get(f"/api/v1/users/{user_id}").json()["email_verified"] is True


def test_require_sso_refuses_passwords_but_the_first_admin_signs_in(
    api: httpx.Client, platform: Platform, idp: FakeOpenIDProvider, corp: str
) -> None:
    address, password, _ = new_user(platform, "admin")
    assert platform.admin is not None
    required = api.put("/api/v1/auth/sso/settings", json={"require_sso": True})
    assert required.status_code == 200 and required.json() == {"require_sso": True}
    try:
        refused = httpx.post(
            f"{platform.gateway}/api/v1/auth/login", json={"email": address, "password": password}, timeout=30
        )
        assert refused.status_code == 403 and "requires single sign-on" in refused.json()["error"]["message"]
        console = httpx.post(
            f"{platform.gateway}/api/v1/auth/session", json={"email": address, "password": password}, timeout=30
        )
        assert console.status_code == 403
        assert login(platform.gateway, platform.admin.email, platform.admin.password), "break-glass"
        idp.person = person(address)
        assert signed_in(through_provider(platform, corp))["email"] == address
    finally:
        assert api.put("/api/v1/auth/sso/settings", json={"require_sso": False}).status_code == 200
    assert login(platform.gateway, address, password)


def test_provider_settings_are_checked(api: httpx.Client, anonymous: httpx.Client) -> None:
    missing = api.post(
        "/api/v1/auth/sso/providers", json={"name": "nodisc", "kind": "oidc", "client_id": "c", "client_secret": "s"}
    )
    assert missing.status_code == 400 and "discovery_url" in missing.json()["error"]["message"]
    preset = api.post(
        "/api/v1/auth/sso/providers",
        json={
            "name": f"g-{secrets.token_hex(3)}",
            "kind": "oidc",
            "preset": "google",
            "client_id": "c",
            "client_secret": "s",
        },
    )
    assert preset.status_code == 201, preset.text
    assert preset.json()["discovery_url"] == "https://accounts.google.com/.well-known/openid-configuration"
    assert api.patch(f"/api/v1/auth/sso/providers/{preset.json()['name']}", json={"enabled": False}).status_code == 200
    assert anonymous.get(f"/api/v1/auth/sso/{preset.json()['name']}/start").status_code == 404
    assert api.delete(f"/api/v1/auth/sso/providers/{preset.json()['name']}").status_code == 200
    assert anonymous.post("/api/v1/auth/sso/providers", json={}).status_code == 401


def test_a_sign_in_through_github(api: httpx.Client, platform: Platform) -> None:
    with FakeGitHub() as github:
        remember_secret(github.client_secret)
        name = f"gh-{secrets.token_hex(3)}"
        created = api.post(
            "/api/v1/auth/sso/providers",
            json={
                "name": name,
                "kind": "github",
                "client_id": github.client_id,
                "client_secret": github.client_secret,
                "github_url": github.url,
                "api_url": f"{github.url}/api",
                "default_role": "viewer",
            },
        )
        assert created.status_code == 201, created.text
        address = f"octo-{secrets.token_hex(3)}@gh.test"
        github.user = {"id": 4242, "login": "octo"}
        github.emails = [
            {"email": "old@gh.test", "verified": False, "primary": False},
            {"email": address, "verified": True, "primary": True},
        ]
        me = signed_in(through_provider(platform, name))
        assert me["email"] == address and me["role"] == "viewer"
        github.emails = [{"email": f"x-{address}", "verified": False, "primary": True}]
        github.user = {"id": 4343, "login": "unverified"}
        assert "did not vouch" in refusal(through_provider(platform, name), 403)
        for token in github.tokens:
            remember_secret(token)
        assert api.delete(f"/api/v1/auth/sso/providers/{name}").status_code == 200


def test_the_cli_manages_providers(platform: Platform, idp: FakeOpenIDProvider) -> None:
    assert platform.admin is not None
    env = {**os.environ, "FLOWTAPE_URL": platform.gateway, "FLOWTAPE_TOKEN": platform.admin.token}
    name = f"cli-{secrets.token_hex(3)}"
    secret = remember_secret(f"cli-secret-{secrets.token_hex(8)}")

    def flowtape(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FLOWTAPE, "sso", *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
        )

    added = flowtape(
        "add",
        name,
        "--discovery-url",
        idp.discovery_url,
        "--client-id",
        "cli-client",
        "--client-secret-stdin",
        "--grant",
        "eng=editor",
        stdin=f"{secret}\n",
    )
    assert added.returncode == 0, added.stderr
    listed = flowtape("list")
    assert listed.returncode == 0 and name in listed.stdout and "eng=editor" in listed.stdout
    assert secret not in listed.stdout + added.stdout
    assert flowtape("update", name, "--disable").returncode == 0
    assert flowtape("remove", name).returncode == 0
    assert name not in flowtape("list").stdout


@pytest.mark.timeout(300)
def test_sign_in_with_the_provider_in_chromium(platform: Platform, idp: FakeOpenIDProvider, corp: str) -> None:
    """The sign-in page's button, through the provider and back, in real Chromium (console/e2e/sso.spec.ts)."""
    from tests.test_console import CHROMIUM, _npx

    assert platform.admin is not None
    idp.person = person(f"chris-{secrets.token_hex(3)}@corp.test", groups=("eng",))
    (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
    env = {
        "FLOWTAPE_URL": platform.gateway,
        "CHROMIUM": CHROMIUM,
        "CI": "1",
        "FLOWTAPE_SSO_PROVIDER": corp,
        "FLOWTAPE_SSO_EMAIL": idp.person["email"],
        "FLOWTAPE_SSO_ADMIN_EMAIL": platform.admin.email,
        "FLOWTAPE_SSO_ADMIN_PASSWORD": platform.admin.password,
    }
    result = _npx("playwright", "test", "e2e/sso.spec.ts", timeout=240, env=env)
    assert result.returncode == 0, f"{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
