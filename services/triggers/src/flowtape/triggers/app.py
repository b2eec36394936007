"""``flowtape serve triggers``: this service alone in a process, on RabbitMQ."""

from __future__ import annotations

from fastapi import FastAPI

from flowtape.common.hosting import service_app
from flowtape.common.settings import Settings
from flowtape.triggers.bootstrap import build


def create_app(settings: Settings) -> FastAPI:
    return service_app("triggers", settings, build)
