from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.infra import FakeApi, Platform, postgres_database, rabbitmq_vhost


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The distributed platform: five OS processes on a private vhost and database."""
    workdir: Path = tmp_path_factory.mktemp("platform")
    with rabbitmq_vhost() as amqp_url, postgres_database() as database_url:
        platform = Platform(amqp_url=amqp_url, database_url=database_url, workdir=workdir)
        try:
            platform.start_all()
            yield platform
        except Exception:
            print(platform.logs())
            raise
        finally:
            platform.stop_all()


@pytest.fixture(scope="session")
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.gateway, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server
