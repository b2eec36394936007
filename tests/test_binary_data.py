"""End to end, the services as processes: a browser node's screenshot becomes binary data on the item, kept
outside the execution log, downloadable by a signed-in user who may read the execution, by nobody else."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.infra import FLOWTAPE, FakeApi, Platform, free_port, login, remember_secret, set_up_admin, wait_ready
from tests.test_credentials import run_workflow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _screenshot_workflow(fake_api: FakeApi, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {
                "id": "browse",
                "type": "browser",
                "params": {
                    "url": f"{fake_api.url}/shop/products/TEE-01",
                    "steps": [
                        {"action": "extract", "selector": ".price", "name": "price"},
                        {"action": "screenshot", "name": "shot", "file_name": "tee.png", "full_page": True},
                    ],
                },
            },
        ],
        "edges": [{"from": "start", "to": "browse"}],
    }


#: a cold Chromium's first start in its sandbox took over 20 s on a busy CI machine
BROWSER_SECONDS = 120


def _viewer(platform: Platform, api: httpx.Client) -> dict[str, str]:
    email = f"viewer-{secrets.token_hex(4)}@flowtape.test"
    password = remember_secret(secrets.token_urlsafe(16))
    created = api.post("/api/v1/users", json={"email": email, "password": password, "role": "viewer"})
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {login(platform.gateway, email, password)}"}


def test_a_screenshot_is_binary_data_outside_the_log_and_downloadable(
    platform: Platform, api: httpx.Client, anonymous: httpx.Client, fake_api: FakeApi
) -> None:
    execution = run_workflow(
        api, _screenshot_workflow(fake_api, f"binary-{secrets.token_hex(4)}"), timeout=BROWSER_SECONDS
    )
    assert execution["status"] == "succeeded", execution
    [item] = execution["nodes"]["browse"]["output"]
    assert item["price"] == "19.00 EUR"
    ref = item["shot"]["$binary"]
    assert set(ref) == {"id", "mime_type", "file_name", "size"}
    assert ref["mime_type"] == "image/png" and ref["file_name"] == "tee.png"

    url = f"/api/v1/executions/{execution['id']}/binary/{ref['id']}"
    download = api.get(url)
    assert download.status_code == 200, download.text
    assert download.content.startswith(PNG_MAGIC) and len(download.content) == ref["size"]
    assert download.headers["content-type"] == "image/png"
    assert (
        download.headers["content-disposition"].startswith("attachment;")
        and "tee.png" in (download.headers["content-disposition"])
    )
    assert download.headers["x-content-type-options"] == "nosniff"

    viewer = _viewer(platform, api)
    assert httpx.get(platform.gateway + url, headers=viewer, timeout=30).content == download.content
    assert anonymous.get(url).status_code == 401

    # the log holds the reference, never the bytes
    events = api.get(f"/api/v1/executions/{execution['id']}/events").json()["items"]
    logged = json.dumps(events)
    assert ref["id"] in logged
    assert base64.b64encode(download.content[:48]).decode()[:40] not in logged
    assert len(logged) < 20_000, f"the log grew by the screenshot: {len(logged)} bytes"


def test_binary_data_is_not_served_under_another_workflows_execution(api: httpx.Client, fake_api: FakeApi) -> None:
    first = run_workflow(
        api, _screenshot_workflow(fake_api, f"binary-a-{secrets.token_hex(4)}"), timeout=BROWSER_SECONDS
    )
    other = run_workflow(
        api,
        {
            "name": f"binary-b-{secrets.token_hex(4)}",
            "nodes": [{"id": "start", "type": "manual_trigger"}],
            "edges": [],
        },
    )
    ref = first["nodes"]["browse"]["output"][0]["shot"]["$binary"]
    wrong = api.get(f"/api/v1/executions/{other['id']}/binary/{ref['id']}")
    assert wrong.status_code == 404, wrong.text
    assert wrong.json()["error"]["code"] == "not_found"
    missing = api.get(f"/api/v1/executions/{first['id']}/binary/bin_{'x' * 24}")
    assert missing.status_code == 404
    malformed = api.get(f"/api/v1/executions/{first['id']}/binary/not-an-id")
    assert malformed.status_code == 422


def test_embedded_mode_keeps_binary_data_in_the_data_directory(tmp_path: Path, fake_api: FakeApi) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWTAPE_")}
    env["FLOWTAPE_EGRESS_ALLOW"] = "127.0.0.1"  # the test's own page server
    with (tmp_path / "embedded.log").open("ab") as log:
        process = subprocess.Popen(
            [FLOWTAPE, "up", "--data-dir", str(data_dir), "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(url, process=process)
            admin = set_up_admin(url)
            with httpx.Client(base_url=url, headers=admin.headers, timeout=60) as api:
                execution = run_workflow(
                    api, _screenshot_workflow(fake_api, "embedded-binary"), timeout=BROWSER_SECONDS
                )
                assert execution["status"] == "succeeded", execution
                ref = execution["nodes"]["browse"]["output"][0]["shot"]["$binary"]
                download = api.get(f"/api/v1/executions/{execution['id']}/binary/{ref['id']}")
                assert download.status_code == 200 and download.content.startswith(PNG_MAGIC)
            stored = [path for path in (data_dir / "binaries").rglob("*") if path.is_file()]
            assert len(stored) == 1, f"expected the screenshot's bytes under {data_dir / 'binaries'}: {stored}"
        finally:
            process.terminate()
            process.wait(timeout=20)
