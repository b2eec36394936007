from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.infra import FakeApi, Platform, running_platform, secrets_in_logs


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The distributed platform: five OS processes on a private vhost and database, with its first admin.

    When the run is over, every service log is searched for every password, API key and token the tests
    used (and the platform's secret key): finding one fails the run.
    """
    workdir: Path = tmp_path_factory.mktemp("platform")
    with running_platform(workdir, "flowtape-test", "flowtape_test") as platform:
        yield platform
    leaked = secrets_in_logs(sorted(workdir.glob("*.log")), {platform.secret_key})
    assert not leaked, f"secrets found in the service logs: {leaked}"


@pytest.fixture(scope="session")
def admin_headers(platform: Platform) -> dict[str, str]:
    assert platform.admin is not None
    return platform.admin.headers


@pytest.fixture(scope="session")
def api(platform: Platform, admin_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """A client of the gateway signed in as the first admin."""
    with httpx.Client(base_url=platform.gateway, timeout=60, headers=admin_headers) as client:
        yield client


@pytest.fixture(scope="session")
def anonymous(platform: Platform) -> Iterator[httpx.Client]:
    """A client of the gateway with no credentials at all."""
    with httpx.Client(base_url=platform.gateway, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that restart the shared RabbitMQ or PostgreSQL run last, so no other test sees the outage."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)
