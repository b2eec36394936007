"""The auth service's own settings (``FLOWTAPE_AUTH_*``), beside the platform's common ones.

The defaults suit production; tests tighten the rate limits rather than loosen anything.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_AUTH_", env_file=".env", extra="ignore")

    #: lifetime of an access token; a retired signing key stays published this long (plus leeway) after rotation
    token_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    #: failed logins allowed per account, and per client address, within the window before 429
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    #: a sealed password older than this is refused (it was replayed, or sat in a queue)
    sealed_secret_max_age_seconds: int = Field(default=120, ge=5)
    #: clock skew tolerated between services when judging expiry
    leeway_seconds: int = Field(default=30, ge=0)
    #: argon2 hashes run in threads; this many at once (each takes ~64 MiB)
    hashing_concurrency: int = Field(default=2, ge=1)
