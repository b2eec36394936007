"""The connectors read their own settings under the names operators set (docs/deployment.md), and only they do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flowtape.common.settings import Settings
from flowtape.connectors.settings import ConnectorsSettings


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("FLOWTAPE_CONNECTORS_CONCURRENCY", "32", "connectors_concurrency", 32),
        ("FLOWTAPE_CODE_ISOLATION", "process", "code_isolation", "process"),
        ("FLOWTAPE_CODE_NETWORK", "per_workflow", "code_network", "per_workflow"),
        ("FLOWTAPE_EGRESS_RATE_LIMITS", "api.example.com=10/s:20", "egress_rate_limits", "api.example.com=10/s:20"),
        ("FLOWTAPE_MAX_BINARY_BYTES", "2048", "max_binary_bytes", 2048),
        ("FLOWTAPE_BINARY_RETENTION_DAYS", "7", "binary_retention_days", 7),
        ("FLOWTAPE_BINARY_S3_BUCKET", "files", "binary_s3_bucket", "files"),
        ("FLOWTAPE_BINARY_S3_ENDPOINT_URL", "http://s3:9000", "binary_s3_endpoint_url", "http://s3:9000"),
        ("FLOWTAPE_BINARY_S3_REGION", "eu-west-1", "binary_s3_region", "eu-west-1"),
        ("FLOWTAPE_BINARY_S3_ACCESS_KEY_ID", "AKIA", "binary_s3_access_key_id", "AKIA"),
        ("FLOWTAPE_BINARY_S3_PREFIX", "bin/", "binary_s3_prefix", "bin/"),
        ("FLOWTAPE_BROWSER_MAX_SECONDS", "30", "browser_max_seconds", 30.0),
        ("FLOWTAPE_BROWSER_EXECUTABLE", "/opt/chromium", "browser_executable", Path("/opt/chromium")),
        ("FLOWTAPE_BROWSER_CONCURRENCY", "2", "browser_concurrency", 2),
        ("FLOWTAPE_BROWSER_ISOLATION", "none", "browser_isolation", "none"),
    ],
)
def test_each_setting_keeps_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: Any
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(ConnectorsSettings(_env_file=None), field) == expected  # type: ignore[call-arg]
    assert field not in Settings.model_fields, "read by the connectors alone: not a platform-wide setting"


def test_the_secret_of_the_binary_bucket_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWTAPE_BINARY_S3_SECRET_ACCESS_KEY", "s3cret")
    settings = ConnectorsSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.binary_s3_secret_access_key is not None
    assert settings.binary_s3_secret_access_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLOWTAPE_CODE_ISOLATION", "none"),
        ("FLOWTAPE_CODE_NETWORK", "on"),
        ("FLOWTAPE_CONNECTORS_CONCURRENCY", "0"),
        ("FLOWTAPE_MAX_BINARY_BYTES", str(65 * 1024 * 1024)),
        ("FLOWTAPE_BROWSER_CONCURRENCY", "65"),
    ],
)
def test_a_value_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        ConnectorsSettings(_env_file=None)  # type: ignore[call-arg]
