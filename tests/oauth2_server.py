"""A local OAuth2 authorization server standing in for a SaaS provider's (authlib's server side on Flask):
authorization code with PKCE required, refresh tokens rotated on every refresh, client credentials, and a
protected ``/me`` endpoint that answers 401 to unknown or expired tokens. It counts what it issues."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, jsonify, request
from werkzeug.serving import make_server


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return True

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return True


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None


@dataclass
class Issued:
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return False  # refresh tokens live on; access tokens expire (checked by /me)

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class FakeAuthorizationServer:
    client_id: str = "flowtape-test-client"
    client_secret: str = field(default_factory=lambda: f"cs-{secrets.token_urlsafe(16)}")
    #: lifetime of the access tokens it issues, in seconds
    expires_in: int = 3600
    #: how long the token endpoint takes to answer (a slow provider makes concurrent refreshes overlap)
    token_delay: float = 0.0
    grants: Counter[str] = field(default_factory=Counter)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    refresh_tokens: dict[str, Issued] = field(default_factory=dict)
    me_calls: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.app = self._build()

    def _build(self) -> Flask:
        fake = self
        app = Flask("fake-authorization-server")
        client = Client(self.client_id, self.client_secret)

        def save_token(token: dict[str, Any], req: Any) -> None:
            issued = Issued(
                token["access_token"],
                token.get("refresh_token"),
                req.client.client_id,
                token.get("scope", ""),
                time.time() + int(token["expires_in"]),
            )
            fake.tokens[issued.access_token] = issued
            if issued.refresh_token:
                fake.refresh_tokens[issued.refresh_token] = issued

        server = AuthorizationServer(
            app, query_client=lambda cid: client if cid == fake.client_id else None, save_token=save_token
        )
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: f"at-{secrets.token_urlsafe(24)}",
                refresh_token_generator=lambda **_: f"rt-{secrets.token_urlsafe(24)}",
                expires_generator=lambda client, grant_type: fake.expires_in,
            ),
        )

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                fake.codes[code] = Code(
                    code,
                    req.client.client_id,
                    req.payload.redirect_uri,
                    req.payload.scope or "",
                    req.payload.data.get("code_challenge"),
                    req.payload.data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = fake.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                fake.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> dict[str, str]:
                return {"id": "ada"}

        class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Issued | None:
                found = fake.refresh_tokens.get(refresh_token)
                return found if found is not None and not found.revoked else None

            def authenticate_user(self, refresh_token: Issued) -> dict[str, str]:
                return {"id": "ada"}

            def revoke_old_credential(self, refresh_token: Issued) -> None:
                refresh_token.revoked = True  # rotation: an old refresh token never works twice

        class ClientGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_grant(ClientGrant)

        @app.get("/authorize")
        def authorize() -> Any:  # the user signs in and consents at once
            return server.create_authorization_response(grant_user={"id": "ada"})

        @app.post("/token")
        def token() -> Any:
            fake.grants[request.form.get("grant_type", "?")] += 1
            if fake.token_delay:
                time.sleep(fake.token_delay)
            return server.create_token_response()

        @app.get("/me")
        def me() -> Any:
            header = request.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ").strip()
            fake.me_calls.append(token)
            issued = fake.tokens.get(token)
            if issued is None or issued.expires_at < time.time():
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"user": "ada", "scope": issued.scope})

        return app

    def expire_all(self) -> None:
        """Every access token issued so far stops working (the provider revoked them early)."""
        for issued in self.tokens.values():
            issued.expires_at = 0

    def __enter__(self) -> FakeAuthorizationServer:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def credential_data(self, grant_type: str = "authorization_code", **extra: Any) -> dict[str, Any]:
        return {
            "grant_type": grant_type,
            "token_url": f"{self.url}/token",
            "authorization_url": f"{self.url}/authorize",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": "read",
            "test_url": f"{self.url}/me",
            **extra,
        }


def follow_authorization(authorization_url: str) -> tuple[str, dict[str, str]]:
    """What the user's browser does: open the URL, get redirected; returns the redirect target and its query."""
    import httpx

    response = httpx.get(authorization_url, follow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return location, query
