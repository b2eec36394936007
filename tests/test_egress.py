"""End to end: a workflow cannot make the connectors reach internal addresses; the operator's allow list
(here the tests' own 127.0.0.1 servers) opens exactly what it names."""

from __future__ import annotations

import httpx
import pytest

from tests.infra import FakeApi
from tests.test_credentials import run_workflow


def calling(url: str, name: str) -> dict[str, object]:
    return {
        "name": name,
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "call", "type": "http_request", "params": {"url": url, "timeout": 5}},
        ],
        "edges": [{"from": "start", "to": "call"}],
    }


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]/", "http://127.0.0.2/"]
)
def test_internal_addresses_fail_the_node_with_a_clear_error(api: httpx.Client, url: str) -> None:
    execution = run_workflow(api, calling(url, f"ssrf-{url}"))

    assert execution["status"] == "failed"
    error = execution["nodes"]["call"]["error"]
    assert "refused to connect to" in error and "FLOWTAPE_EGRESS_ALLOW" in error, error


def test_the_allow_list_opens_the_tests_own_server(api: httpx.Client, fake_api: FakeApi) -> None:
    execution = run_workflow(api, calling(f"{fake_api.url}/allowed", "ssrf-allowed"))

    assert execution["status"] == "succeeded", execution
    assert fake_api.counts["/allowed"] == 1
