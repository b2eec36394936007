"""The gateway's own settings (``FLOWTAPE_GATEWAY_*``, ``FLOWTAPE_RATE_LIMIT_*``), beside the platform's common ones.

The gateway also enforces limits every service knows of (``FLOWTAPE_MAX_BODY_BYTES``, ``FLOWTAPE_MAX_JSON_DEPTH``,
``FLOWTAPE_REQUEST_TIMEOUT_SECONDS``): those stay in :class:`flowtape.common.settings.Settings`, read from there.
"""

from __future__ import annotations

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SecuritySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_GATEWAY_", env_file=".env", extra="ignore")

    #: how long a verified API key is trusted without asking auth again (revocations also arrive as events)
    api_key_cache_seconds: float = Field(default=10.0, ge=0)
    #: how often the gateway pulls auth's keys, token generations and revoked sessions, in case an event was
    #: missed: the longest a revocation can take to reach a replica whose broadcast was lost
    auth_refresh_seconds: float = Field(default=5.0, gt=0)
    #: clock skew tolerated on ``exp``/``iat``
    leeway_seconds: int = Field(default=10, ge=0)


class RateLimitSettings(BaseSettings):
    """Limits in the ``limits`` library's notation (``1200/minute``, ``10/second``); see
    :mod:`flowtape.gateway.rate_limits` for who counts against which."""

    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_RATE_LIMIT_", env_file=".env", extra="ignore")

    api: str = "1200/minute"
    anonymous: str = "300/minute"
    webhook: str = "6000/minute"

    @field_validator("api", "anonymous", "webhook")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit (e.g. 1200/minute, 10/second)") from exc
        return value
