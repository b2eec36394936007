"""The auth service's composition root: the only place that builds its connections."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
from prometheus_client import CollectorRegistry

from flowtape.auth import bus as handlers
from flowtape.auth.application import AuthMetrics, AuthService
from flowtape.auth.domain.keys import KeyVault
from flowtape.auth.domain.passwords import Passwords
from flowtape.auth.mail import SmtpMailer
from flowtape.auth.projects import Projects
from flowtape.auth.settings import AuthSettings, MailSettings
from flowtape.auth.single_sign_on import SingleSignOn
from flowtape.auth.store import SCHEMA, AuthStore
from flowtape.common.backup_tables import DataSource, ServiceBackup, TableBackup
from flowtape.common.bus import Bus
from flowtape.common.db import async_engine, ping
from flowtape.common.hosting import BaseRuntime
from flowtape.common.ops import Check
from flowtape.common.settings import Settings

log = logging.getLogger("flowtape.auth")


def _now() -> datetime:
    return datetime.now(UTC)


#: tables a backup leaves out: this platform's own signing keys (tokens of the old one do not carry over), sign-in
#: sessions, and short-lived records (failed logins, addresses seen, mailed one-use tokens)
BACKUP_SKIPS = frozenset(
    {"keys", "sessions", "login_failures", "login_known_addresses", "mailed_tokens", "email_verifications"}
)


class AuthRuntime(BaseRuntime):
    name = "auth"

    def __init__(
        self, settings: Settings, bus: Bus, registry: CollectorRegistry | None = None, auth: AuthSettings | None = None
    ) -> None:
        self._settings = settings
        self._auth_settings = auth or AuthSettings()
        self._bus = bus
        self._url = settings.database_url_for("auth")
        self._metrics = AuthMetrics(registry)

    async def open(self) -> None:
        self._db = async_engine(self._url, SCHEMA, pool_size=5)
        store = AuthStore(self._db)
        await store.create()
        passwords = await asyncio.to_thread(Passwords)
        self.auth = AuthService(
            store=store,
            settings=self._auth_settings,
            vault=KeyVault(self._settings.secret_key),
            passwords=passwords,
            bus=self._bus,
            clock=_now,
            metrics=self._metrics,
            mailer=SmtpMailer(MailSettings()),
            public_url=self._settings.public_url,
        )
        self.projects = Projects(store=store, auth=self.auth, clock=_now)
        self._http = httpx.AsyncHTTPTransport(retries=1)
        self.sso = SingleSignOn(
            auth=self.auth,
            store=store,
            vault=KeyVault(self._settings.secret_key, purpose=b"flowtape/auth/sso-secrets/v1"),
            transport=self._http,
            clock=_now,
            leeway_seconds=self._auth_settings.leeway_seconds,
        )
        await self.auth.ensure_keys()
        # the first admin may be there already: it is the one who restores (the backup's users replace it)
        self.backup = ServiceBackup(
            "auth",
            TableBackup(
                "auth", [DataSource(self._db, SCHEMA, skip=BACKUP_SKIPS, append_only=frozenset({"audit_log"}))]
            ),
            {"users": ("users", 1), "api_keys": ("API keys", 0)},
            after_restore=store.restored,
        )

    def subscribe(self, bus: Bus) -> None:
        handlers.subscribe(bus, self.auth, self.sso, self.projects, self.backup.handlers())

    async def started(self) -> None:
        await self.auth.publish_keys()
        if await self.auth.needs_setup():
            log.info(
                "no users yet: create the first admin with POST /api/v1/auth/setup "
                "or `flowtape admin create-user --email ...`"
            )

    async def close(self) -> None:
        if hasattr(self, "auth"):
            await self.auth.drain_mail()
        if hasattr(self, "_http"):
            await self._http.aclose()
        if hasattr(self, "_db"):
            await self._db.dispose()

    def checks(self) -> Mapping[str, Check]:
        return {"database": lambda: ping(self._db)}


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> AuthRuntime:
    return AuthRuntime(settings, bus, registry)
