"""``POST /hooks/resume/<token>``: the resume URLs of waits for a call (``wait`` with ``resume: webhook``).

Public like webhooks: the token itself is the capability (unguessable, checked by the engine, which alone holds
the key it is derived with). POST only: mail scanners and link previews fetch GET links on their own, and
must not approve anything.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from flowtape.common.errors import InvalidInput, NotFound
from flowtape.common.messages.engine import ResumeExecution
from flowtape.common.resume_tokens import execution_of
from flowtape.gateway.deps import PlatformDep
from flowtape.gateway.domain.bodies import is_json

router = APIRouter(prefix="/hooks/resume", tags=["webhooks"])
#: real tokens are 64 characters; anything much longer names no wait
MAX_TOKEN_LENGTH = 200


@router.post(
    "/{token}",
    summary="Resume a wait for a call",
    responses={
        200: {"description": '{"execution_id", "node", "status"}: the wait goes on with the body as item.resume'},
        404: {"description": "no wait has this resume URL"},
        409: {"description": "the URL was used already, or its wait timed out, or its run ended"},
    },
)
async def resume_wait(token: str, request: Request, platform: PlatformDep) -> Any:
    """The waiting node goes on; a JSON body arrives on each of its items as ``resume`` (any other body as
    ``{"body": "<text>"}``), e.g. ``{"approved": true, "comment": "fine"}``."""
    execution_id = execution_of(token) if len(token) <= MAX_TOKEN_LENGTH else None
    if execution_id is None:
        raise NotFound("this resume URL does not exist")
    raw = await request.body()
    body: Any = None
    if raw.strip():
        if is_json(request.headers.get("content-type")):
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise InvalidInput(f"the body is not JSON: {exc}") from None
        else:
            body = {"body": raw.decode("utf-8", errors="replace")}
    return await platform.ask(ResumeExecution(execution_id=execution_id, token=token, body=body))
