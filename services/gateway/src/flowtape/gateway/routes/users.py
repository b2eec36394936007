"""``/api/v1/users`` (admin): invite people with a role, list them, change their role, disable them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool

from flowtape.common.limits import StoredText
from flowtape.common.messages.auth import Role, UserPage, UserView
from flowtape.gateway.deps import SIGNED_IN, AccountsDep, Admin

router = APIRouter(prefix="/api/v1/users", tags=["users"], dependencies=SIGNED_IN)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: StoredText = Field(min_length=3, max_length=320)
    password: SecretStr = Field(min_length=1, max_length=1024)
    role: Role = "viewer"


class UserChange(BaseModel):
    """A role change or (dis)abling signs the user out everywhere within seconds."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: StrictBool | None = None  # not 0/1 or "yes": a flag that locks people out takes a real boolean


@router.post("", status_code=201, response_model=UserView)
async def create_user(body: NewUser, who: Admin, accounts: AccountsDep) -> Any:
    return await accounts.create_user(body.email, body.password.get_secret_value(), body.role, who)


@router.get("", response_model=UserPage)
async def list_users(
    _: Admin, accounts: AccountsDep, limit: int = Query(50, ge=1, le=500), cursor: str | None = None
) -> Any:
    return await accounts.list_users(limit, cursor)


@router.get("/{user_id}", response_model=UserView)
async def get_user(user_id: str, _: Admin, accounts: AccountsDep) -> Any:
    return await accounts.get_user(user_id)


@router.patch("/{user_id}", response_model=UserView)
async def change_user(user_id: str, body: UserChange, who: Admin, accounts: AccountsDep) -> Any:
    return await accounts.update_user(user_id, body.role, body.disabled, who)
