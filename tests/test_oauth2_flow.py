"""End to end: an oauth2 credential authorized through the gateway's callback against a local authorization
server, then used; no token or client secret reaches a response, the log or a service log."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.infra import Platform, remember_secret
from tests.oauth2_server import FakeAuthorizationServer
from tests.test_credentials import create_credential, make_user


@pytest.fixture
def provider() -> Iterator[FakeAuthorizationServer]:
    with FakeAuthorizationServer() as server:
        remember_secret(server.client_secret)
        yield server
        for issued in server.tokens.values():
            remember_secret(issued.access_token)
            if issued.refresh_token:
                remember_secret(issued.refresh_token)


def test_authorize_through_the_callback_then_use_the_credential(
    api: httpx.Client, anonymous: httpx.Client, platform: Platform, provider: FakeAuthorizationServer
) -> None:
    created = create_credential(api, "provider-app", "oauth2", provider.credential_data())
    viewer = make_user(api, platform, "viewer")
    assert (
        anonymous.post(f"/api/v1/credentials/{created['id']}/oauth2/authorize", headers=viewer.headers).status_code
        == 403
    )
    untested = api.post(f"/api/v1/credentials/{created['id']}/test").json()
    assert untested["ok"] is False and "not authorized yet" in untested["message"]

    started = api.post(f"/api/v1/credentials/{created['id']}/oauth2/authorize")
    assert started.status_code == 200, started.text
    url = started.json()["authorization_url"]
    assert url.startswith(f"{provider.url}/authorize?") and "code_challenge=" in url
    # the user's browser: the provider signs them in and sends them back to the gateway's callback
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        landed = browser.get(url)
    assert landed.status_code == 200, landed.text
    assert str(landed.url).startswith(f"{platform.gateway}/api/v1/credentials/oauth2/callback?")
    assert "provider-app" in landed.text and "is authorized" in landed.text
    again = anonymous.get(str(landed.url).removeprefix(platform.gateway))
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found", "a state works once"

    tested = api.post(f"/api/v1/credentials/{created['id']}/test")
    assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
    assert provider.grants["authorization_code"] == 1
    issued = next(iter(provider.tokens.values()))
    for shown in (started.text, landed.text, tested.text):
        assert issued.access_token not in shown and provider.client_secret not in shown


def test_a_forged_state_is_refused(anonymous: httpx.Client) -> None:
    refused = anonymous.get("/api/v1/credentials/oauth2/callback", params={"state": "forged-state-value", "code": "x"})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    bad = anonymous.get("/api/v1/credentials/oauth2/callback")
    assert bad.status_code == 422
