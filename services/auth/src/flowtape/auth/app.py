"""``flowtape serve auth``: this service alone in a process, on RabbitMQ."""

from __future__ import annotations

from fastapi import FastAPI

from flowtape.auth.bootstrap import build
from flowtape.common.hosting import service_app
from flowtape.common.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    return service_app("auth", settings, build)
