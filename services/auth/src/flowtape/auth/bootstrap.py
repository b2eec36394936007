"""The auth service's composition root.

Until its own issue lands the service only runs its operations endpoints, so deployments and health
checks already have their final shape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from flowtape.common.bus import Bus
from flowtape.common.hosting import BaseRuntime
from flowtape.common.settings import Settings


class AuthRuntime(BaseRuntime):
    name = "auth"

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self._settings = settings
        self._bus = bus


def build(settings: Settings, bus: Bus, registry: CollectorRegistry) -> AuthRuntime:
    return AuthRuntime(settings, bus)
