"""A small client of the REST API for the terminal commands, with errors that say what to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import typer


class ApiError(Exception):
    pass


class ApiClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = (url or os.environ.get("FLOWTAPE_URL") or "http://127.0.0.1:8080").rstrip("/")
        headers = {}
        token = token or os.environ.get("FLOWTAPE_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._connection():
            response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(_error_message(response))
        return response.json() if response.content else None

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A response read as it arrives (a backup); an error answer raises ApiError as :meth:`call` does."""
        with self._connection(), self._http.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(_error_message(response))
            yield response

    @contextmanager
    def _connection(self) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError:
            raise ApiError(
                f"cannot reach Flowtape at {self.url}: start it with `flowtape up` or set FLOWTAPE_URL"
            ) from None
        except httpx.TimeoutException:
            raise ApiError(f"Flowtape at {self.url} did not answer in time") from None


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        message = f"{error['message']} ({error['code']}, HTTP {response.status_code})"
        if isinstance(error.get("details"), list):
            message += "".join(
                f"\n  - {d.get('node') or d.get('field') or ''}: {d.get('message')}"
                for d in error["details"]
                if isinstance(d, dict)
            )
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:300]}"
    return message


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)
