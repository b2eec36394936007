"""Assembling services into processes: one service on RabbitMQ, or all five on the in-process bus."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from flowtape.common.bus.factory import memory_bus
from flowtape.common.hosting import build_app, process_registry
from flowtape.common.settings import SERVICES, ServiceName, Settings


def _runtime(service: ServiceName, settings: Settings, bus: Any, registry: CollectorRegistry) -> Any:
    module = importlib.import_module(f"flowtape.{service}.bootstrap")
    return module.build(settings, bus, registry)


def service_app(service: ServiceName, settings: Settings) -> FastAPI:
    """The service alone in its process: its own ``app.create_app``."""
    app: FastAPI = importlib.import_module(f"flowtape.{service}.app").create_app(settings)
    return app


def embedded_app(settings: Settings) -> FastAPI:
    registry = process_registry()
    bus = memory_bus(registry)
    runtimes = [_runtime(service, settings, bus, registry) for service in SERVICES]
    return build_app(bus, runtimes, registry, title="Flowtape")
