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
    # sign-in throttling (see flowtape.auth.domain.throttling and docs/security.md, "Sign-in throttling"):
    #: failures of one account from one client address before each further attempt waits (1 s, 2 s, 4 s, ...)
    login_free_attempts: int = Field(default=5, ge=1)
    #: the longest such wait
    login_max_delay_seconds: int = Field(default=900, ge=1)
    #: how long failures of one account from one address keep counting (a success from there clears them)
    login_memory_seconds: int = Field(default=24 * 3600, ge=1)
    #: failures from one client address, on any accounts, within the window before it waits
    login_failures_per_address: int = Field(default=20, ge=1)
    #: failures of one account, from any addresses, within the window before only its known addresses may try
    login_failures_per_account: int = Field(default=100, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    #: an address stays known to an account this long after a sign-in from it
    login_known_address_days: int = Field(default=30, ge=1)
    #: a sealed password older than this is refused (it was replayed, or sat in a queue)
    sealed_secret_max_age_seconds: int = Field(default=120, ge=5)
    #: clock skew tolerated between services when judging expiry
    leeway_seconds: int = Field(default=30, ge=0)
    #: argon2 hashes run in threads; this many at once (each takes ~64 MiB)
    hashing_concurrency: int = Field(default=2, ge=1)
