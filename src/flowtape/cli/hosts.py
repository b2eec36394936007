"""Assembling services into processes: one service on RabbitMQ, or all five on the in-process bus."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from flowtape.common.bus.factory import memory_bus, rabbit_bus
from flowtape.common.hosting import build_app
from flowtape.common.settings import SERVICES, ServiceName, Settings


def _runtime(service: ServiceName, settings: Settings, bus: Any, registry: CollectorRegistry) -> Any:
    module = importlib.import_module(f"flowtape.{service}.bootstrap")
    return module.build(settings, bus, registry)


def _registry() -> CollectorRegistry:
    """A registry per process with the process's own CPU and memory, as dashboards expect."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def service_app(service: ServiceName, settings: Settings) -> FastAPI:
    registry = _registry()
    bus = rabbit_bus(settings.amqp_url, service, registry)
    return build_app(bus, [_runtime(service, settings, bus, registry)], registry, title=f"Flowtape {service}")


def embedded_app(settings: Settings) -> FastAPI:
    registry = _registry()
    bus = memory_bus(registry)
    runtimes = [_runtime(service, settings, bus, registry) for service in SERVICES]
    return build_app(bus, runtimes, registry, title="Flowtape")
