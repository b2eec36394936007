"""``flowtape serve <service>`` builds each service from its own ``app.create_app``, without connecting."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flowtape.cli import hosts
from flowtape.common.settings import SERVICES, Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, amqp_url=None, database_url=None, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_app_is_that_service_alone(service: str, tmp_path: Path) -> None:
    app = hosts.service_app(service, _settings(tmp_path))  # type: ignore[arg-type]
    assert app.title == f"Flowtape {service}"
    assert TestClient(app).get("/healthz").status_code == 200  # not started: no lifespan, no connection
