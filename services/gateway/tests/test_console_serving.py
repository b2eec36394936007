"""The console's static serving and cookie session, on a bare app (no bus): routing, caching, CSRF."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from flowtape.gateway import console, errors
from flowtape.gateway.console_session import CSRF_HEADER, SESSION_COOKIE, CookieSession, csrf_token


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><div id="root"></div>')
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("not for the browser")
    return tmp_path


def app_with(dist: Path | None) -> TestClient:
    app = FastAPI()
    errors.install(app)
    api = APIRouter()

    @api.get("/api/v1/echo")
    async def echo(request: Request) -> dict[str, str | None]:
        return {"authorization": request.headers.get("authorization")}

    @api.post("/api/v1/echo")
    async def echo_write(request: Request) -> dict[str, str | None]:
        return {"authorization": request.headers.get("authorization")}

    app.include_router(api)
    app.include_router(console.router(dist))
    app.add_middleware(CookieSession)
    return TestClient(app)


def test_console_routes_answer_the_page_and_assets_are_cached(dist: Path) -> None:
    client = app_with(dist)
    page = client.get("/")
    assert page.status_code == 200 and 'id="root"' in page.text
    assert page.headers["cache-control"] == "no-cache"
    for route in ("/workflows/abc", "/executions/x?at=3", "/no/such/page"):
        assert client.get(route).text == page.text
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert client.get("/favicon.svg").text == "<svg/>"


def test_files_outside_the_build_are_never_served(dist: Path) -> None:
    client = app_with(dist)
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"):
        assert "not for the browser" not in client.get(path).text, path


def test_api_and_hooks_paths_are_never_the_console(dist: Path) -> None:
    client = app_with(dist)
    for path in ("/api", "/api/v1/nope", "/hooks/x", "/metrics/x"):
        missing = client.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "not_found", path


def test_without_a_build_the_root_says_how_to_make_one() -> None:
    client = app_with(None)
    assert "make setup" in client.get("/").text
    assert client.get("/workflows").status_code == 404


def test_the_cookie_becomes_a_bearer_token_and_writes_need_the_csrf_header(dist: Path) -> None:
    client = app_with(dist)
    client.cookies.set(SESSION_COOKIE, "the-token", path="/api")
    assert client.get("/api/v1/echo").json() == {"authorization": "Bearer the-token"}
    refused = client.post("/api/v1/echo")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert client.post("/api/v1/echo", headers={CSRF_HEADER: csrf_token("another-token")}).status_code == 403
    allowed = client.post("/api/v1/echo", headers={CSRF_HEADER: csrf_token("the-token")})
    assert allowed.json() == {"authorization": "Bearer the-token"}


def test_a_request_with_its_own_credentials_ignores_the_cookie(dist: Path) -> None:
    client = app_with(dist)
    client.cookies.set(SESSION_COOKIE, "the-token", path="/api")
    own = client.post("/api/v1/echo", headers={"Authorization": "Bearer script"})
    assert own.json() == {"authorization": "Bearer script"}
    keyed = client.post("/api/v1/echo", headers={"X-API-Key": "ftk_x"})
    assert keyed.json() == {"authorization": None}


def test_the_csrf_value_is_bound_to_the_token_and_reveals_nothing() -> None:
    assert csrf_token("a") == csrf_token("a")
    assert csrf_token("a") != csrf_token("b")
    assert len(csrf_token("a")) == 43  # a SHA-256 in base64url: the token cannot be read back from it
