"""Single sign-on rules: the one-use login request, ID-token checks (signature, issuer, audience, expiry,
nonce) and provider groups → role. Tokens are signed here with a provider key of the test's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from flowtape.auth.domain import sso
from flowtape.common.errors import Unauthorized

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://idp.example.test"
CLIENT = "flowtape-client"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


def published() -> KeySet:
    return KeySet.import_key_set({"keys": [PROVIDER_KEY.as_dict(private=False)]})


def id_token(key: RSAKey = PROVIDER_KEY, **changes: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user-42",
        "email": "Ada@Example.com",
        "email_verified": True,
        "nonce": "the-nonce",
        "groups": ["eng", "ops"],
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
    }
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)


def verify(token: str, *, nonce: str = "the-nonce", now: datetime = NOW) -> sso.Identity:
    return sso.verify_id_token(token, published(), issuer=ISSUER, client_id=CLIENT, nonce=nonce, now=now)


def test_a_good_id_token_names_the_user_and_their_groups() -> None:
    identity = verify(id_token())
    assert identity == sso.Identity("user-42", "ada@example.com", True, ("eng", "ops"))


@pytest.mark.parametrize(
    ("token", "nonce", "now", "reason"),
    [
        (lambda: id_token(), "another-nonce", NOW, "nonce"),
        (lambda: id_token(nonce=None), "the-nonce", NOW, "nonce"),
        (lambda: id_token(), "the-nonce", NOW + timedelta(minutes=7), "expired"),
        (lambda: id_token(aud="someone-else"), "the-nonce", NOW, "another client"),
        (lambda: id_token(iss="https://evil.example.test"), "the-nonce", NOW, "claims"),
        (lambda: id_token(OTHER_KEY), "the-nonce", NOW, "signature"),
    ],
    ids=["wrong-nonce", "no-nonce", "expired", "wrong-audience", "wrong-issuer", "wrong-key"],
)
def test_a_bad_id_token_is_refused(token: Any, nonce: str, now: datetime, reason: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        verify(token(), nonce=nonce, now=now)
    assert reason in refused.value.message


def test_the_state_must_be_the_one_handed_out_and_recent() -> None:
    request = sso.new_login_request("corp", "https://flows.example.test/api/v1/auth/sso/corp/callback", NOW)
    assert sso.check_state(request, request.state, NOW, timedelta(minutes=10)) is request
    with pytest.raises(Unauthorized):
        sso.check_state(request, "forged", NOW, timedelta(minutes=10))
    with pytest.raises(Unauthorized):
        sso.check_state(None, request.state, NOW, timedelta(minutes=10))
    with pytest.raises(Unauthorized):
        sso.check_state(request, request.state, NOW + timedelta(minutes=11), timedelta(minutes=10))


def test_the_authorization_url_carries_state_nonce_and_pkce() -> None:
    provider = sso.Provider(name="corp", kind="oidc", client_id=CLIENT, discovery_url=f"{ISSUER}/.well-known")
    request = sso.new_login_request("corp", "https://flows.example.test/cb", NOW)
    query = parse_qs(urlsplit(sso.authorization_url(provider, f"{ISSUER}/authorize", request)).query)
    assert query["state"] == [request.state] and query["nonce"] == [request.nonce]
    assert query["code_challenge"] == [request.code_challenge()] and query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid email profile"] and query["redirect_uri"] == ["https://flows.example.test/cb"]


def test_groups_map_to_the_highest_platform_role() -> None:
    grants = (
        sso.GroupGrant("eng", "editor"),
        sso.GroupGrant("ops", "operator"),
        sso.GroupGrant("admins", "admin", project_id="p1"),  # a project's grant is no platform role
    )
    assert sso.role_for(("ops", "eng", "admins"), grants, "viewer") == "editor"
    assert sso.role_for(("sales",), grants, "viewer") == "viewer"
    assert sso.role_for(("sales",), grants, None) is None


def test_presets() -> None:
    assert sso.preset("google") == "https://accounts.google.com/.well-known/openid-configuration"
    assert "/contoso-id/v2.0/" in sso.preset("microsoft", tenant="contoso-id")
    with pytest.raises(ValueError):
        sso.preset("myspace")


def test_microsofts_multi_tenant_issuer_takes_the_tokens_tenant() -> None:
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
    token = id_token(iss=f"https://login.microsoftonline.com/{tenant}/v2.0", tid=tenant)
    issuer = sso.expected_issuer(template, token)
    assert issuer == f"https://login.microsoftonline.com/{tenant}/v2.0"
    assert sso.verify_id_token(token, published(), issuer=issuer, client_id=CLIENT, nonce="the-nonce", now=NOW)
    assert sso.expected_issuer(ISSUER, token) == ISSUER
    with pytest.raises(Unauthorized):
        sso.expected_issuer(template, id_token())  # no tid
    with pytest.raises(Unauthorized):
        sso.expected_issuer(template, id_token(tid="../evil"))
