"""``/hooks/<path>``: the public webhook endpoints (no auth: a webhook may carry its own HMAC signature)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from flowtape.gateway.deps import WebhooksDep
from flowtape.gateway.domain.webhooks import WebhookRequest

router = APIRouter(prefix="/hooks", tags=["webhooks"])

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


async def call_webhook(path: str, request: Request, webhooks: WebhooksDep) -> Any:
    """Runs the active workflow whose webhook node has this path and method: 202 with the execution id
    (``respond: immediately``) or the workflow's answer (``respond: last_node``; 504 after its timeout)."""
    answer = await webhooks.call(
        WebhookRequest(
            method=request.method,
            path=path,
            headers=[(key, value) for key, value in request.headers.items()],
            query=list(request.query_params.multi_items()),
            body=await request.body(),
        )
    )
    if answer.raw:
        return Response(content=str(answer.body), status_code=answer.status, headers=dict(answer.headers))
    return JSONResponse(answer.body, status_code=answer.status, headers=dict(answer.headers))


for _method in METHODS:
    router.add_api_route(
        "/{path:path}",
        call_webhook,
        methods=[_method],
        name=f"webhook_{_method.lower()}",
        summary=f"{_method} webhook",
        responses={
            202: {"description": "respond 'immediately': {\"execution_id\"}"},
            401: {"description": "missing or wrong X-Flowtape-Signature"},
            404: {"description": "no active workflow serves this path and method"},
            413: {"description": "body over the limit"},
            504: {"description": "respond 'last_node': the execution did not finish in time"},
        },
    )
