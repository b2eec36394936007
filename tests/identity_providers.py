"""Local identity providers for single sign-on tests: an OpenID Connect provider (authlib's server side: the
authorization code grant with PKCE and the OpenID extension, discovery, JWKS, userinfo) and a GitHub stand-in
(its OAuth endpoints, ``/user`` and ``/user/emails``).

Whoever "signs in" at the provider is :attr:`FakeOpenIDProvider.person` (the test sets it before each flow);
``nonce_override`` and ``id_token_lifetime`` make the next ID tokens wrong on purpose.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from tests.oauth2_server import Client, Code


@dataclass
class OpenIDCodeRecord(Code):
    nonce: str | None = None

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class _Served:
    """A Flask app on a free loopback port, in a thread, for the length of a ``with``."""

    app: Flask
    url: str

    def __enter__(self) -> Any:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


@dataclass
class FakeOpenIDProvider(_Served):
    client_id: str = "flowtape-sso-client"
    client_secret: str = field(default_factory=lambda: f"oidc-{secrets.token_urlsafe(16)}")
    #: the claims of whoever signs in next (``sub``, ``email``, ``email_verified``, ``groups`` ...)
    person: dict[str, Any] = field(default_factory=dict)
    #: put this nonce into ID tokens instead of the one the client sent
    nonce_override: str | None = None
    #: seconds an ID token is valid from now (negative: already expired)
    id_token_lifetime: int = 300
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "idp-1"}, private=True))
    codes: dict[str, OpenIDCodeRecord] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self.app = self._build()

    def _build(self) -> Flask:
        fake = self
        app = Flask("fake-openid-provider")
        client = Client(self.client_id, self.client_secret)

        def save_token(token: dict[str, Any], req: Any) -> None:
            fake.tokens[token["access_token"]] = dict(req.user)

        server = AuthorizationServer(
            app, query_client=lambda cid: client if cid == fake.client_id else None, save_token=save_token
        )

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                fake.codes[code] = OpenIDCodeRecord(
                    code,
                    req.client.client_id,
                    req.payload.redirect_uri,
                    req.payload.scope or "",
                    req.payload.data.get("code_challenge"),
                    req.payload.data.get("code_challenge_method"),
                    nonce=req.payload.data.get("nonce"),
                )

            def query_authorization_code(self, code: str, client: Client) -> OpenIDCodeRecord | None:
                found = fake.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: OpenIDCodeRecord) -> None:
                fake.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: OpenIDCodeRecord) -> dict[str, Any]:
                return fake.person

        class OpenID(OpenIDCode):  # type: ignore[misc]
            def resolve_client_private_key(self, client: Client) -> RSAKey:
                return fake.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": "idp-1"}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                return {"iss": fake.url, "aud": [client.client_id], "iat": now, "exp": now + fake.id_token_lifetime}

            def get_authorization_code_claims(self, authorization_code: OpenIDCodeRecord) -> dict[str, Any]:
                claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
                if fake.nonce_override is not None:
                    claims["nonce"] = fake.nonce_override
                return claims

            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return False

            def generate_user_info(self, user: dict[str, Any], scope: str) -> dict[str, Any]:
                return dict(user)

        server.register_grant(CodeGrant, [CodeChallenge(required=True), OpenID(require_nonce=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                {
                    "issuer": fake.url,
                    "authorization_endpoint": f"{fake.url}/authorize",
                    "token_endpoint": f"{fake.url}/token",
                    "jwks_uri": f"{fake.url}/jwks",
                    "userinfo_endpoint": f"{fake.url}/userinfo",
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify({"keys": [fake.key.as_dict(private=False)]})

        @app.get("/authorize")
        def authorize() -> Any:  # the person signs in and consents at once
            return server.create_authorization_response(grant_user=fake.person)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo() -> Any:
            claims = fake.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
            return (jsonify(claims), 200) if claims is not None else (jsonify({"error": "invalid_token"}), 401)

        return app

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


@dataclass
class FakeGitHub(_Served):
    """GitHub's OAuth web flow and the two API calls sign-in needs, under ``/login/oauth`` and ``/api``."""

    client_id: str = "Iv1.flowtape-test"
    client_secret: str = field(default_factory=lambda: f"gh-{secrets.token_urlsafe(16)}")
    #: the GitHub account signing in next: ``{"id", "login"}`` and its addresses ``[{"email","verified","primary"}]``
    user: dict[str, Any] = field(default_factory=dict)
    emails: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=dict)
    codes: dict[str, tuple[str, tuple[dict[str, Any], list[dict[str, Any]]]]] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self.app = self._build()

    def _build(self) -> Flask:
        fake = self
        app = Flask("fake-github")

        @app.get("/login/oauth/authorize")
        def authorize() -> Any:
            if request.args.get("client_id") != fake.client_id:
                return "unknown client", 404
            code = secrets.token_urlsafe(12)
            fake.codes[code] = (request.args["redirect_uri"], (dict(fake.user), list(fake.emails)))
            state = request.args.get("state", "")
            return "", 302, {"Location": f"{request.args['redirect_uri']}?code={code}&state={state}"}

        @app.post("/login/oauth/access_token")
        def access_token() -> Any:
            form = request.form
            if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret:
                return jsonify({"error": "incorrect_client_credentials"})
            found = fake.codes.pop(form.get("code", ""), None)
            if found is None or found[0] != form.get("redirect_uri"):
                return jsonify({"error": "bad_verification_code"})
            token = f"gho_{secrets.token_urlsafe(20)}"
            fake.tokens[token] = found[1]
            return jsonify({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

        def account() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            return fake.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

        @app.get("/api/user")
        def user() -> Any:
            found = account()
            return (jsonify(found[0]), 200) if found else (jsonify({"message": "Bad credentials"}), 401)

        @app.get("/api/user/emails")
        def emails() -> Any:
            found = account()
            return (jsonify(found[1]), 200) if found else (jsonify({"message": "Bad credentials"}), 401)

        return app
