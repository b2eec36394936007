"""Choosing the bus adapter: RabbitMQ when a broker URL is configured, else the in-process bus."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from flowtape.common.bus.base import Bus

LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def rabbit_bus(url: str | None, service: str, registry: CollectorRegistry | None = None) -> Bus:
    from flowtape.common.bus.rabbit import RabbitBus

    return RabbitBus(url or LOCAL_AMQP_URL, service=service, registry=registry)


def memory_bus(registry: CollectorRegistry | None = None) -> Bus:
    from flowtape.common.bus.memory import MemoryBus

    return MemoryBus(registry)
