"""The web console's built files, served by the gateway: ``/`` and every console route answer ``index.html``.

The console is a single-page app, so a deep link such as ``/workflows/<id>`` or ``/executions/<id>?at=5`` must
load the same page, which then routes in the browser. Only paths outside ``/api`` and ``/hooks`` fall back to
it: an unknown ``/api/...`` path stays a JSON 404 in API.md's error shape, and webhooks keep their meaning.

Where the files are: ``FLOWTAPE_CONSOLE_DIR`` (the Docker image sets it), else ``console/dist`` of the checkout
this package runs from (``make up`` and the tests). Without a build the gateway still serves its API, and ``/``
says how to build the console.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from flowtape.gateway.errors import allowed_methods, error_response, method_not_allowed

#: first path segments that belong to the API, the webhooks and the operations endpoints, never to the console
RESERVED = ("api", "hooks", "healthz", "readyz", "metrics")

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Flowtape</title>
<body style="font-family: system-ui; margin: 3rem; max-width: 40rem">
<h1>Flowtape</h1><p>The API is up at <a href="/api/v1/docs">/api/v1/docs</a>, but the web console is not built.
Run <code>make setup</code> (or <code>cd console &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload.</p>
"""


def console_dir() -> Path | None:
    """The folder holding the built console's ``index.html``, or None when there is no build."""
    configured = os.environ.get("FLOWTAPE_CONSOLE_DIR")
    if configured:
        path = Path(configured)
        return path if (path / "index.html").is_file() else None
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "console" / "dist"
        if (candidate / "index.html").is_file():
            return candidate
    return None


def router(root: Path | None) -> APIRouter:
    """A catch-all GET route serving ``root`` (see :func:`console_dir`); include it after every other router so
    that it only sees what they do not."""
    console = APIRouter(include_in_schema=False)
    base = root.resolve() if root is not None else None

    @console.get("/{path:path}")
    def serve_console(path: str, request: Request) -> Response:  # sync: it looks at files (FastAPI threads it)
        first = path.split("/", 1)[0]
        if first in RESERVED:
            served = allowed_methods(request)  # the path exists, for other methods than GET
            if served:
                return method_not_allowed(request, served)
            return error_response(404, "not_found", f"no such endpoint: {request.method} /{path}")
        if base is None:
            return HTMLResponse(_NOT_BUILT, status_code=200 if not path else 404)
        if path:
            candidate = (base / path).resolve()
            if candidate.is_file() and candidate.is_relative_to(base):
                immutable = path.startswith("assets/")  # Vite names these by content hash
                cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
                return FileResponse(candidate, headers={"cache-control": cache})
        # every other path is a console route: the page routes itself (and shows its own "not found")
        return FileResponse(base / "index.html", headers={"cache-control": "no-cache"})

    return console
