"""The web console's sign-in: the access token in an httpOnly cookie, with a CSRF check on every write.

Scripts keep sending ``Authorization: Bearer`` or ``X-API-Key`` exactly as before; this module only adds a way
for a browser to hold the same token where page scripts cannot read it:

- ``POST /api/v1/auth/session`` signs in (the same login, with the same throttling, as ``/auth/login``) and
  sets two cookies: ``flowtape_session`` (the access token; ``HttpOnly``, ``SameSite=Strict``, ``Path=/api``,
  ``Secure`` over HTTPS) and ``flowtape_csrf`` (readable by the page). ``DELETE`` signs out.
- :class:`CookieSession` (ASGI middleware) turns the cookie into the ``Authorization`` header the rest of the
  gateway already understands, but only when the request carries no credentials of its own, and for a
  state-changing method only when ``X-CSRF-Token`` repeats the CSRF cookie (double submit). The CSRF value is a
  hash of the token, so it is bound to this session and reveals nothing that signs anyone in.
- ``GET /api/v1/auth/session`` tells a first visit whether an admin must be created (``setup_required``).

The gateway stays stateless: nothing is stored server-side, and every replica accepts the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from flowtape.common.errors import Forbidden
from flowtape.common.messages import auth as msg
from flowtape.gateway.deps import AccountsDep, FirstRunDep, client_address
from flowtape.gateway.routes.auth import Credentials

SESSION_COOKIE = "flowtape_session"
CSRF_COOKIE = "flowtape_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: public endpoints that never need the session (signing in with a stale cookie must still work)
_PUBLIC = (
    "/api/v1/auth/session",
    "/api/v1/auth/login",
    "/api/v1/auth/setup",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/email-verification/confirm",
    "/api/v1/auth/invitations/accept",
)


def csrf_token(access_token: str) -> str:
    digest = hashlib.sha256(b"flowtape-console-csrf\0" + access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class CookieSession:
    """ASGI middleware: the session cookie becomes ``Authorization: Bearer`` for ``/api`` requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/") or scope["path"] in _PUBLIC:
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        names = {name for name, _ in headers}
        token = None
        if b"authorization" not in names and b"x-api-key" not in names:
            token = _cookies(headers).get(SESSION_COOKIE)
        if not token:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            sent = next((value.decode("latin-1") for name, value in headers if name == CSRF_HEADER.encode()), "")
            if not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
                await _refuse(send)
                return
        headers.append((b"authorization", f"Bearer {token}".encode("latin-1")))
        await self.app({**scope, "headers": headers}, receive, send)


def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is the same as none
                continue
    return {key: morsel.value for key, morsel in jar.items()}


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "csrf_failed",
                "message": f"a signed-in console request that changes something must send {CSRF_HEADER} "
                f"with the value of the {CSRF_COOKIE} cookie",
                "details": None,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SessionStatus(BaseModel):
    setup_required: bool


class SessionOpened(BaseModel):
    expires_in: int
    csrf_token: str


router = APIRouter(prefix="/api/v1/auth/session", tags=["auth"])


@router.get("", response_model=SessionStatus)
async def session_status(first_run: FirstRunDep) -> Any:
    """Public: does the first visit have to create the admin account?"""
    return {"setup_required": await first_run.setup_required()}


@router.post("", response_model=SessionOpened)
async def open_session(body: Credentials, request: Request, response: Response, accounts: AccountsDep) -> Any:
    """Sign the console in: the token goes into an httpOnly cookie, never into the page."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        # another site's page must not sign this browser in (to an account of its choosing)
        raise Forbidden("the console signs in from its own origin only")
    granted = msg.TokenGranted.model_validate(
        await accounts.login(
            body.email, body.password.get_secret_value(), client_address(request), request.headers.get("user-agent")
        )
    )
    return set_session_cookies(request, response, granted)


def set_session_cookies(request: Request, response: Response, granted: msg.TokenGranted) -> dict[str, Any]:
    """The console's two cookies for a granted token (a password or a single sign-on sign-in)."""
    secure = request.url.scheme == "https"
    csrf = csrf_token(granted.access_token)
    response.set_cookie(
        SESSION_COOKIE,
        granted.access_token,
        max_age=granted.expires_in,
        path="/api",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=granted.expires_in, path="/", httponly=False, samesite="strict", secure=secure
    )
    return {"expires_in": granted.expires_in, "csrf_token": csrf}


@router.delete("", status_code=204)
async def close_session(request: Request, response: Response, accounts: AccountsDep) -> None:
    """Sign the console out: the cookies go, and the session ends on every gateway (its token with it)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await accounts.sign_out(token, client_address(request))
    response.delete_cookie(SESSION_COOKIE, path="/api", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
