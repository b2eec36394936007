"""Settings only one service reads are that service's own, under the ``FLOWTAPE_*`` names operators set
(docs/deployment.md, docs/operations.md): moving them out of the platform-wide settings renamed nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from flowtape.common.settings import Settings
from flowtape.connectors.settings import ConnectorsSettings
from flowtape.engine.settings import EngineSettings


@pytest.mark.parametrize(
    ("owner", "variable", "value", "expected"),
    [
        (ConnectorsSettings, "FLOWTAPE_CONNECTORS_CONCURRENCY", "32", 32),
        (ConnectorsSettings, "FLOWTAPE_CODE_ISOLATION", "process", "process"),
        (ConnectorsSettings, "FLOWTAPE_CODE_NETWORK", "per_workflow", "per_workflow"),
        (ConnectorsSettings, "FLOWTAPE_EGRESS_RATE_LIMITS", "a.example=1/s", "a.example=1/s"),
        (ConnectorsSettings, "FLOWTAPE_MAX_BINARY_BYTES", "2048", 2048),
        (ConnectorsSettings, "FLOWTAPE_BINARY_RETENTION_DAYS", "7", 7),
        (ConnectorsSettings, "FLOWTAPE_BINARY_S3_BUCKET", "files", "files"),
        (ConnectorsSettings, "FLOWTAPE_BINARY_S3_ENDPOINT_URL", "http://s3", "http://s3"),
        (ConnectorsSettings, "FLOWTAPE_BINARY_S3_REGION", "eu-west-1", "eu-west-1"),
        (ConnectorsSettings, "FLOWTAPE_BINARY_S3_ACCESS_KEY_ID", "AKIA", "AKIA"),
        (ConnectorsSettings, "FLOWTAPE_BINARY_S3_PREFIX", "bin/", "bin/"),
        (ConnectorsSettings, "FLOWTAPE_BROWSER_MAX_SECONDS", "30", 30.0),
        (ConnectorsSettings, "FLOWTAPE_BROWSER_EXECUTABLE", "/opt/chromium", Path("/opt/chromium")),
        (ConnectorsSettings, "FLOWTAPE_BROWSER_CONCURRENCY", "2", 2),
        (ConnectorsSettings, "FLOWTAPE_BROWSER_ISOLATION", "none", "none"),
        (EngineSettings, "FLOWTAPE_MAX_CALL_DEPTH", "3", 3),
        (EngineSettings, "FLOWTAPE_RETENTION_DAYS", "0", 0),
        (EngineSettings, "FLOWTAPE_RETENTION_RUNS", "1", 1),
        (EngineSettings, "FLOWTAPE_RETENTION_FAILED_DAYS", "30", 30),
        (EngineSettings, "FLOWTAPE_RETENTION_INTERVAL_SECONDS", "0", 0.0),
        (EngineSettings, "FLOWTAPE_RETENTION_ARCHIVE", "file:///a", "file:///a"),
        (EngineSettings, "FLOWTAPE_RETENTION_ARCHIVE_S3_ENDPOINT_URL", "http://s3", "http://s3"),
        (EngineSettings, "FLOWTAPE_RETENTION_ARCHIVE_S3_REGION", "eu-west-1", "eu-west-1"),
        (EngineSettings, "FLOWTAPE_RETENTION_ARCHIVE_S3_ACCESS_KEY_ID", "AKIA", "AKIA"),
    ],
)
def test_a_service_setting_keeps_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, owner: type[BaseSettings], variable: str, value: str, expected: Any
) -> None:
    field = variable.removeprefix("FLOWTAPE_").lower()
    monkeypatch.setenv(variable, value)
    assert getattr(owner(_env_file=None), field) == expected  # type: ignore[call-arg]
    assert field not in Settings.model_fields, "read by one service alone: not a platform-wide setting"


@pytest.mark.parametrize(
    ("owner", "variable"),
    [
        (ConnectorsSettings, "FLOWTAPE_BINARY_S3_SECRET_ACCESS_KEY"),
        (EngineSettings, "FLOWTAPE_RETENTION_ARCHIVE_S3_SECRET_ACCESS_KEY"),
    ],
)
def test_a_secret_is_read_but_not_shown(
    monkeypatch: pytest.MonkeyPatch, owner: type[BaseSettings], variable: str
) -> None:
    monkeypatch.setenv(variable, "s3cret")
    settings = owner(_env_file=None)  # type: ignore[call-arg]
    assert getattr(settings, variable.removeprefix("FLOWTAPE_").lower()).get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("owner", "variable", "value"),
    [
        (ConnectorsSettings, "FLOWTAPE_CODE_ISOLATION", "none"),
        (ConnectorsSettings, "FLOWTAPE_CODE_NETWORK", "on"),
        (ConnectorsSettings, "FLOWTAPE_CONNECTORS_CONCURRENCY", "0"),
        (ConnectorsSettings, "FLOWTAPE_MAX_BINARY_BYTES", str(65 * 1024 * 1024)),
        (ConnectorsSettings, "FLOWTAPE_BROWSER_CONCURRENCY", "65"),
        (EngineSettings, "FLOWTAPE_MAX_CALL_DEPTH", "0"),
        (EngineSettings, "FLOWTAPE_MAX_CALL_DEPTH", "101"),
        (EngineSettings, "FLOWTAPE_RETENTION_DAYS", "-1"),
    ],
)
def test_a_value_out_of_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, owner: type[BaseSettings], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        owner(_env_file=None)  # type: ignore[call-arg]


def test_by_default_calls_nest_ten_deep_and_no_run_is_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_CALL_DEPTH", "RETENTION_DAYS", "RETENTION_RUNS", "RETENTION_FAILED_DAYS", "RETENTION_ARCHIVE"):
        monkeypatch.delenv(f"FLOWTAPE_{name}", raising=False)
    engine = EngineSettings(_env_file=None)  # type: ignore[call-arg]
    assert engine.max_call_depth == 10
    assert (engine.retention_days, engine.retention_runs, engine.retention_failed_days) == (None, None, None)
    assert engine.retention_archive is None


def _environment_variables() -> list[str]:
    """Every variable a settings class of the platform reads, by the name operators set."""
    from flowtape.auth.settings import AuthSettings, MailSettings
    from flowtape.gateway.settings import RateLimitSettings, SecuritySettings
    from flowtape.triggers import settings as triggers_settings

    owners: list[type[BaseSettings]] = [
        Settings,
        ConnectorsSettings,
        EngineSettings,
        AuthSettings,
        MailSettings,
        SecuritySettings,
        RateLimitSettings,
    ]
    owners += [
        value
        for value in vars(triggers_settings).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings
    ]
    names: list[str] = []
    for owner in owners:
        prefix = str(owner.model_config.get("env_prefix", ""))
        for field, info in owner.model_fields.items():
            alias = info.validation_alias or info.alias
            names.append(alias.upper() if isinstance(alias, str) else f"{prefix}{field}".upper())
    return names


@pytest.mark.parametrize("variable", _environment_variables())
def test_every_setting_is_in_the_deployment_guide(variable: str) -> None:
    """docs/deployment.md's settings table is where operators look: a setting missing there does not exist for them."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    settings_section = guide.split("## Settings", 1)[1].split("\n## ", 1)[0]
    assert f"`{variable}`" in settings_section, f"{variable} is not in docs/deployment.md's settings table"
