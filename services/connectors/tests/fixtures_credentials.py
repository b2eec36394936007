"""Sample data of every credential type, with fresh secret values: what the secrecy checks feed the platform."""

from __future__ import annotations

import secrets
from typing import Any


def secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def sample_data() -> dict[str, dict[str, Any]]:
    """One valid data object per credential type; every secret field set."""
    return {
        "http_header": {"name": "X-Api-Key", "value": secret("hv")},
        "http_basic": {"username": "ada", "password": secret("bp")},
        "http_bearer": {"token": secret("bt")},
        "api_key": {"key": secret("ak")},
        "webhook_url": {"url": f"https://hooks.example.com/{secret('wh')}"},
        "postgres": {"host": "127.0.0.1", "database": "d", "username": "u", "password": secret("pg"), "tls": "disable"},
        "mysql": {"host": "127.0.0.1", "database": "d", "username": "u", "password": secret("my"), "tls": "disable"},
        "redis": {"host": "127.0.0.1", "password": secret("rd")},
        "amqp": {"host": "127.0.0.1", "username": "u", "password": secret("mq")},
        "mqtt": {"host": "127.0.0.1", "username": "u", "password": secret("mt")},
        "smtp": {"host": "127.0.0.1", "username": "u", "password": secret("sm")},
        "aws": {"access_key_id": "AKIA", "secret_access_key": secret("aw"), "session_token": secret("st")},
        "oauth2": {
            "grant_type": "client_credentials",
            "token_url": "https://auth.example.com/token",
            "client_id": "c",
            "client_secret": secret("cs"),
        },
        "generic": {"api_key": secret("gk"), "other": secret("go")},
    }


def secrets_of(data: dict[str, Any]) -> list[str]:
    """The values in ``data`` made by :func:`secret` (the URL's secret part included)."""
    found = []
    for value in data.values():
        if isinstance(value, str) and "-" in value and len(value) > 20:
            found.append(value.rsplit("/", 1)[-1] if value.startswith("https://") else value)
    return found
