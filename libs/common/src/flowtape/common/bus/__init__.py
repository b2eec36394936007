"""The message bus: one interface, a RabbitMQ adapter (FastStream) and an in-process adapter."""

from flowtape.common.bus.base import Bus, Handler, Handlers, RawHandler

__all__ = ["Bus", "Handler", "Handlers", "RawHandler"]
