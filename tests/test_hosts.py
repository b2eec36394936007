"""``flowtape serve <service>`` builds each service from its own ``app.create_app``, without connecting."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

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


def test_a_service_without_an_app_module_is_built_from_its_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "flowtape.auth.app", None)  # importing it raises ModuleNotFoundError
    assert hosts.service_app("auth", _settings(tmp_path)).title == "Flowtape auth"


def test_a_module_missing_inside_an_app_module_is_not_taken_for_a_missing_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.import_module

    def import_module(name: str) -> ModuleType:
        if name == "flowtape.auth.app":
            raise ModuleNotFoundError("No module named 'aio_pika'", name="aio_pika")
        return real(name)

    monkeypatch.setattr(hosts.importlib, "import_module", import_module)
    with pytest.raises(ModuleNotFoundError, match="aio_pika"):
        hosts.service_app("auth", _settings(tmp_path))
