"""The API's documentation page (Swagger UI) served from the service itself, without a CDN.

Self-hosted platforms often cannot reach a CDN, and a page that pulls scripts from one would need a
Content-Security-Policy that trusts it. Here the page, its start-up script and Swagger UI's files (shipped by the
``fastapi-offline`` package) all come from the service, with no inline script, so the gateway's strict policy
(``script-src 'self'``) holds for the docs as for the console. URLs are relative, so the page also works when a
proxy serves the API under a path prefix.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

DOCS_PATH = "/api/v1/docs"
#: Swagger UI's files, as the fastapi-offline package ships them
_ASSETS = Path(str(files("fastapi_offline") / "static"))
_SERVED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""

# the same options FastAPI's own page passes; no validator badge (it would call a third-party server)
_START = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def docs_router(title: str) -> APIRouter:
    """``/api/v1/docs`` (the page), ``/api/v1/docs/start.js`` and ``/api/v1/docs/assets/<file>``."""
    router = APIRouter(include_in_schema=False)
    page = _PAGE.format(title=html.escape(title))

    @router.get(DOCS_PATH)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    @router.get(f"{DOCS_PATH}/start.js")
    async def docs_start() -> Response:
        return Response(_START, media_type="text/javascript")

    @router.get(DOCS_PATH + "/assets/{name}")
    async def docs_asset(name: str) -> FileResponse:
        media_type = _SERVED.get(name)
        if media_type is None:
            raise HTTPException(404, f"no such file: {name}")
        return FileResponse(_ASSETS / name, media_type=media_type, headers={"cache-control": "public, max-age=86400"})

    return router
