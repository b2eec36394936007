"""The triggers service's own settings: none yet.

Everything it reads is platform-wide (:class:`flowtape.common.settings.Settings`: its database URL, the egress
allow list its MQTT subscriptions pass, which the connectors read too). A setting only the triggers read goes
here, under its ``FLOWTAPE_*`` name, and is built by :mod:`flowtape.triggers.bootstrap` like the connectors' and
the engine's own.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class TriggersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWTAPE_", env_file=".env", extra="ignore")
