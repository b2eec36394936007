"""The engine reads its own settings under the names operators set (docs/operations.md), and only it does."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from flowtape.common.settings import Settings
from flowtape.engine.settings import EngineSettings


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("FLOWTAPE_MAX_CALL_DEPTH", "3", "max_call_depth", 3),
        ("FLOWTAPE_RETENTION_DAYS", "0", "retention_days", 0),
        ("FLOWTAPE_RETENTION_RUNS", "1", "retention_runs", 1),
        ("FLOWTAPE_RETENTION_FAILED_DAYS", "30", "retention_failed_days", 30),
        ("FLOWTAPE_RETENTION_INTERVAL_SECONDS", "0", "retention_interval_seconds", 0.0),
        ("FLOWTAPE_RETENTION_ARCHIVE", "file:///archive", "retention_archive", "file:///archive"),
        (
            "FLOWTAPE_RETENTION_ARCHIVE_S3_ENDPOINT_URL",
            "http://s3:9000",
            "retention_archive_s3_endpoint_url",
            "http://s3:9000",
        ),
        ("FLOWTAPE_RETENTION_ARCHIVE_S3_REGION", "eu-west-1", "retention_archive_s3_region", "eu-west-1"),
        ("FLOWTAPE_RETENTION_ARCHIVE_S3_ACCESS_KEY_ID", "AKIA", "retention_archive_s3_access_key_id", "AKIA"),
    ],
)
def test_each_setting_keeps_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: Any
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(EngineSettings(_env_file=None), field) == expected  # type: ignore[call-arg]
    assert field not in Settings.model_fields, "read by the engine alone: not a platform-wide setting"


def test_by_default_calls_nest_ten_deep_and_nothing_is_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_CALL_DEPTH", "RETENTION_DAYS", "RETENTION_RUNS", "RETENTION_FAILED_DAYS", "RETENTION_ARCHIVE"):
        monkeypatch.delenv(f"FLOWTAPE_{name}", raising=False)
    settings = EngineSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.max_call_depth == 10
    assert (settings.retention_days, settings.retention_runs, settings.retention_failed_days) == (None, None, None)
    assert settings.retention_archive is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FLOWTAPE_MAX_CALL_DEPTH", "0"), ("FLOWTAPE_MAX_CALL_DEPTH", "101"), ("FLOWTAPE_RETENTION_DAYS", "-1")],
)
def test_a_value_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        EngineSettings(_env_file=None)  # type: ignore[call-arg]
