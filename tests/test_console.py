"""The web console: served by the gateway with its SPA fallback, signed in with an httpOnly cookie and CSRF
protection, typed against the OpenAPI document the gateway serves, and driven end to end in real Chromium.

The browser test runs the Playwright spec in ``console/e2e/`` against a distributed platform of its own (the
first visit must create the admin, so it cannot share the session platform), with Debian's ``chromium``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.infra import ROOT, Platform, postgres_database, rabbitmq_vhost, secrets_in_logs

CONSOLE = ROOT / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _npx(*args: str, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE / "node_modules" / ".bin" / args[0]), *args[1:]],
        cwd=CONSOLE,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_console_is_built() -> None:
    assert (CONSOLE / "dist" / "index.html").is_file(), "scripts/setup.sh builds the console: run make setup"


def test_console_routes_fall_back_to_the_page(anonymous: httpx.Client) -> None:
    page = anonymous.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="root">' in page.text
    for route in ("/workflows", "/workflows/abc", "/executions/abc?at=3", "/credentials", "/dead-letters"):
        deep = anonymous.get(route)
        assert deep.status_code == 200, route
        assert deep.text == page.text, route
    asset = next(p for p in (CONSOLE / "dist" / "assets").iterdir() if p.suffix == ".js")
    served = anonymous.get(f"/assets/{asset.name}")
    assert served.status_code == 200
    assert "immutable" in served.headers["cache-control"]


def test_api_and_hooks_keep_their_meaning(anonymous: httpx.Client) -> None:
    for path in ("/api/v1/no-such-thing", "/api/nothing", "/api"):
        missing = anonymous.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "not_found", path
    assert anonymous.get("/api/v1/workflows").status_code == 401
    hook = anonymous.post("/hooks/no-such-hook", json={})
    assert hook.status_code == 404
    assert "error" in hook.json()
    assert anonymous.get("/healthz").json() == {"status": "ok"}


def test_api_types_are_generated_from_what_the_gateway_serves(platform: Platform, tmp_path: Path) -> None:
    """console/src/lib/api-types.ts must be regenerated (npm run gen:api) whenever the API changes."""
    document = tmp_path / "openapi.json"
    document.write_text(httpx.get(f"{platform.gateway}/api/v1/openapi.json", timeout=30).text)
    generated = tmp_path / "api-types.ts"
    result = _npx("openapi-typescript", str(document), "-o", str(generated), timeout=120)
    assert result.returncode == 0, result.stderr
    committed = (CONSOLE / "src" / "lib" / "api-types.ts").read_text()
    assert generated.read_text() == committed, (
        "console/src/lib/api-types.ts is stale: with the platform up, run `cd console && npm run gen:api`"
    )


def test_the_console_session_is_an_httponly_cookie_with_csrf_protection(platform: Platform) -> None:
    assert platform.admin is not None
    with httpx.Client(base_url=platform.gateway, timeout=30) as browser:
        assert browser.get("/api/v1/auth/session").json() == {"setup_required": False}
        opened = browser.post(
            "/api/v1/auth/session", json={"email": platform.admin.email, "password": platform.admin.password}
        )
        assert opened.status_code == 200, opened.text
        cookies = opened.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("flowtape_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/api" in session
        csrf = opened.json()["csrf_token"]
        assert any(c.startswith(f"flowtape_csrf={csrf}") and "HttpOnly" not in c for c in cookies)
        assert csrf not in session

        assert browser.get("/api/v1/auth/me").json()["email"] == platform.admin.email
        definition = {"name": "cookie", "nodes": [{"id": "t", "type": "manual_trigger"}], "edges": []}
        refused = browser.post("/api/v1/workflows", json=definition)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        forged = browser.post("/api/v1/workflows", json=definition, headers={"X-CSRF-Token": "x" * len(csrf)})
        assert forged.status_code == 403
        created = browser.post("/api/v1/workflows", json=definition, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text

        closed = browser.delete("/api/v1/auth/session")
        assert closed.status_code == 204
        assert browser.get("/api/v1/auth/me").status_code == 401

    # scripts are untouched: a bearer token wins over any cookie and needs no CSRF header
    with httpx.Client(base_url=platform.gateway, timeout=30, headers=platform.admin.headers) as script:
        script.cookies.set("flowtape_session", "not-a-token", path="/api")
        assert script.post("/api/v1/workflows", json={**definition, "name": "script"}).status_code == 201


def test_a_wrong_password_opens_no_session(anonymous: httpx.Client, platform: Platform) -> None:
    assert platform.admin is not None
    refused = anonymous.post("/api/v1/auth/session", json={"email": platform.admin.email, "password": "wrong"})
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers


@pytest.fixture(scope="module")
def fresh_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A distributed platform nobody has signed up to yet: the browser's first visit creates the admin."""
    workdir = tmp_path_factory.mktemp("console-platform")
    with rabbitmq_vhost("flowtape-console") as amqp_url, postgres_database("flowtape_console") as database_url:
        platform = Platform(amqp_url=amqp_url, database_url=database_url, workdir=workdir)
        try:
            platform.start_all()
            yield platform
        except Exception:
            print(platform.logs())
            raise
        finally:
            platform.stop_all()
    never_logged = {platform.secret_key, "s3cret-value-never-shown", "vault-secret-never-shown-7f3a"}
    leaked = secrets_in_logs(sorted(workdir.glob("*.log")), never_logged)
    assert not leaked, f"secrets found in the service logs: {leaked}"


def _send_poison(amqp_url: str) -> None:
    """A message no service understands: it is dead-lettered with its reason, for the dead letters page."""
    import asyncio

    from flowtape.common.bus.rabbit import RabbitBus
    from flowtape.common.topology import COMMANDS

    async def send() -> None:
        bus = RabbitBus(amqp_url, service="test")
        await bus.start()
        try:
            await bus.publish_raw(COMMANDS, "engine.requests", b'{"type": "engine.Nonsense.v1", "body": {}}')
        finally:
            await bus.stop()

    asyncio.run(send())


@pytest.mark.timeout(600)
def test_the_console_end_to_end_in_chromium(fresh_platform: Platform) -> None:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    _send_poison(fresh_platform.amqp_url)
    (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
    result = _npx(
        "playwright",
        "test",
        timeout=540,
        env={"FLOWTAPE_URL": fresh_platform.gateway, "CHROMIUM": CHROMIUM, "CI": "1", "FLOWTAPE_POISONED": "1"},
    )
    assert result.returncode == 0, f"{result.stdout[-12000:]}\n{result.stderr[-4000:]}\n{fresh_platform.logs()}"
