"""The auth service's own settings (``FLOWTAPE_AUTH_*``), beside the platform's common ones.

The defaults suit production; tests tighten the rate limits rather than loosen anything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
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
    #: how long a password reset link works (it works once)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)
    #: how long an email verification link works (it works once)
    verification_token_ttl_seconds: int = Field(default=3 * 24 * 3600, ge=60)
    #: how long an invitation link works (it works once)
    invitation_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    #: at most one reset (or verification) mail per account this often, so nobody can flood an inbox
    mail_interval_seconds: int = Field(default=60, ge=0)


class MailSettings(BaseSettings):
    """The platform's outgoing mail (``FLOWTAPE_SMTP_*``, ``FLOWTAPE_MAIL_FROM``): password reset and email
    verification links. Unset ``smtp_host``: no mail is sent (a warning says so), everything else works."""

    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_", env_file=".env", extra="ignore")

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    #: ``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (a relay on a trusted network)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    #: verify the server's certificate (turn off only for a relay with a self-signed one)
    smtp_verify_certificate: bool = True
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    mail_from: str = "Flowtape <flowtape@localhost>"
