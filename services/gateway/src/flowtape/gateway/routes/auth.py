"""``/api/v1/auth``: first-run set-up and sign-in (public), who am I, and key rotation (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from flowtape.common.limits import StoredText
from flowtape.common.messages.auth import PublicKeySet, Role, TokenGranted, UserView
from flowtape.gateway.deps import AccountsDep, Admin, CurrentUser, client_address

#: no authentication: these are how a caller gets credentials in the first place
public_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=3, max_length=320)
    password: SecretStr = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    id: str
    email: str
    role: Role
    via: str
    key_id: str | None = None


@public_router.post("/setup", status_code=201, response_model=UserView)
async def set_up(body: Credentials, request: Request, accounts: AccountsDep) -> Any:
    """Create the first admin. 409 once any user exists."""
    return await accounts.set_up(body.email, body.password.get_secret_value(), client_address(request))


@public_router.post("/login", response_model=TokenGranted)
async def login(body: Credentials, request: Request, accounts: AccountsDep) -> Any:
    """An access token. Failed attempts are limited per account and per address (429 with Retry-After)."""
    return await accounts.login(body.email, body.password.get_secret_value(), client_address(request))


@router.get("/me", response_model=Me)
async def me(who: CurrentUser) -> Any:
    return {"id": who.user_id, "email": who.email, "role": who.role, "via": who.via, "key_id": who.key_id}


@router.post("/keys/rotate", response_model=PublicKeySet)
async def rotate_keys(who: Admin, accounts: AccountsDep) -> Any:
    """Sign new tokens with a new key; tokens signed before stay valid until they expire."""
    return await accounts.rotate_keys(who)
