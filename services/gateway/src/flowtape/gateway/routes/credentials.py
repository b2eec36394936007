"""``/api/v1/credentials``: secrets nodes use by reference. Editors write them; anyone signed in reads their
metadata. The data goes in and never comes out: no response, log or audit entry holds it."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from flowtape.common.credentials import CredentialType
from flowtape.common.limits import StoredText
from flowtape.common.messages.connectors import CredentialCheck, CredentialPage, CredentialView, OAuth2Authorization
from flowtape.gateway.deps import (
    SIGNED_IN,
    AccessDep,
    CredentialEditor,
    CredentialViewer,
    Editor,
    GatewayDep,
    VaultDep,
    Viewer,
)

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"], dependencies=SIGNED_IN)
#: the OAuth2 callback: the authorization server's redirect carries no sign-in (the one-use state is the proof)
public_router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])

_DATA = "the secret itself, shaped as its type's data_schema says (GET /api/v1/credentials/types)"


class NewCredential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText = Field(
        min_length=1, max_length=200, description="unique in its project; nodes may refer to it by name or id"
    )
    type: CredentialType
    data: dict[str, Any] = Field(description=_DATA)
    project_id: str | None = Field(
        default=None, max_length=64, description="its project (default: yours); only that project's nodes use it"
    )


class CredentialChange(BaseModel):
    """Replaces the data as a whole; the type stays."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(description=_DATA)
    name: StoredText | None = Field(default=None, min_length=1, max_length=200, description="a new name, if given")


class CredentialTypeInfo(BaseModel):
    type: CredentialType
    description: str
    data_schema: dict[str, Any]


@router.get("/types", response_model=list[CredentialTypeInfo])
async def list_credential_types(vault: VaultDep, _: Viewer) -> Any:
    return vault.types()


@router.post("", status_code=201, response_model=CredentialView)
async def create_credential(
    body: NewCredential, vault: VaultDep, _: Editor, reach: AccessDep, gateway: GatewayDep
) -> Any:
    project = await gateway.target(reach, body.project_id, "editor")
    return await vault.create(body.name, body.type, body.data, project_id=project, actor=reach.actor())


@public_router.get("/oauth2/callback", response_class=HTMLResponse, name="oauth2_callback")
async def oauth2_callback(
    vault: VaultDep,
    state: str = Query(min_length=8, max_length=128),
    code: str | None = Query(None, max_length=4096),
    error: str | None = Query(None, max_length=200),
    error_description: str | None = Query(None, max_length=1000),
) -> Any:
    """Where the authorization server sends the user back (no sign-in: the one-use state is the proof)."""
    credential = await vault.authorized(state, code, error, error_description)
    name = html.escape(str(credential["name"]))
    return HTMLResponse(
        f"<!doctype html><title>Flowtape</title><p>Credential <b>{name}</b> is authorized. "
        "You can close this window.</p>"
    )


@router.get("", response_model=CredentialPage)
async def list_credentials(
    vault: VaultDep,
    _: Viewer,
    reach: AccessDep,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = None,
    project_id: str | None = Query(None, max_length=64, description="only this project's (one of yours)"),
) -> Any:
    return await vault.list(limit, cursor, reach.visible(project_id))


@router.get("/{credential_id}", response_model=CredentialView)
async def get_credential(credential_id: str, vault: VaultDep, _: CredentialViewer) -> Any:
    return await vault.get(credential_id)


@router.put("/{credential_id}", response_model=CredentialView)
async def replace_credential(credential_id: str, body: CredentialChange, vault: VaultDep, who: CredentialEditor) -> Any:
    return await vault.update(credential_id, body.data, body.name, actor=who.actor())


@router.post("/{credential_id}/test", response_model=CredentialCheck)
async def test_credential(credential_id: str, vault: VaultDep, _: CredentialEditor) -> Any:
    """Try the credential for real (connect, authenticate, call its test_url) and say whether it works; the
    answer never holds the data."""
    return await vault.check(credential_id)


@router.post("/{credential_id}/oauth2/authorize", response_model=OAuth2Authorization)
async def authorize_oauth2_credential(
    credential_id: str, request: Request, vault: VaultDep, _: CredentialEditor
) -> Any:
    """Start the authorization-code flow: send the user to ``authorization_url``; the authorization server
    sends them back to ``/api/v1/credentials/oauth2/callback`` (register that as the client's redirect URI)."""
    return await vault.authorize(credential_id, str(request.url_for("oauth2_callback")))


@router.delete("/{credential_id}", response_model=CredentialView)
async def delete_credential(credential_id: str, vault: VaultDep, who: CredentialEditor) -> Any:
    """Workflows that use it fail at their next run, naming the missing credential."""
    return await vault.delete(credential_id, actor=who.actor())
