"""``/api/v1/auth/sso``: single sign-on. Public: the enabled providers, and a sign-in's start and callback (the
browser's round trip through the provider). Admin: the providers and the require-SSO setting.

The callback ends in the console signed in with the same cookies as a password sign-in. A sign-in is bound to
the browser that started it: ``start`` sets ``flowtape_sso`` (httpOnly, ``SameSite=Lax`` so that the provider's
redirect carries it) to the flow's state, and the callback refuses a state that is not this browser's (login
CSRF: someone else's finished flow pasted into your browser).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool

from flowtape.common.errors import FlowtapeError, Unauthorized
from flowtape.common.limits import StoredText
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import Role, SsoOptions, SsoProviderList, SsoProviderView, SsoSettingsView
from flowtape.gateway.console_session import set_session_cookies
from flowtape.gateway.deps import SIGNED_IN, AccountsDep, Admin, client_address

public_router = APIRouter(prefix="/api/v1/auth/sso", tags=["sso"])
router = APIRouter(prefix="/api/v1/auth/sso", tags=["sso"], dependencies=SIGNED_IN)

FLOW_COOKIE = "flowtape_sso"
FLOW_COOKIE_PATH = "/api/v1/auth/sso"
ProviderName = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class GroupGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: StoredText = Field(min_length=1, max_length=255, description="a value of the provider's group claim")
    role: Role
    project_id: str | None = Field(
        default=None, max_length=64, description="the project the role is in (none: the platform-wide role)"
    )


class _ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: StoredText | None = Field(default=None, max_length=100, description="the sign-in button's text")
    enabled: StrictBool | None = None
    preset: Literal["google", "microsoft"] | None = Field(default=None, description="fills in discovery_url")
    tenant: StoredText | None = Field(default=None, max_length=100, description="Microsoft's tenant (common)")
    client_id: StoredText | None = Field(default=None, min_length=1, max_length=500)
    client_secret: SecretStr | None = Field(default=None, min_length=1, max_length=2000)
    discovery_url: StoredText | None = Field(default=None, max_length=2000, description="OpenID Connect only")
    github_url: StoredText | None = Field(default=None, max_length=2000, description="GitHub only")
    api_url: StoredText | None = Field(default=None, max_length=2000, description="GitHub only: its API's base")
    scopes: list[StoredText] | None = Field(default=None, max_length=20)
    group_claim: StoredText | None = Field(default=None, min_length=1, max_length=100)
    grants: list[GroupGrant] | None = Field(default=None, max_length=200)
    default_role: Role | None = Field(
        default=None, description="the role of a new account no grant matched; null: no such sign-ups"
    )

    def fields(self) -> msg.SsoProviderFields:
        given = self.model_dump(exclude={"client_secret", "grants", "name", "kind"}, exclude_none=True)
        return msg.SsoProviderFields(
            **{k: v for k, v in given.items() if k != "default_role"},
            grants=[msg.SsoGrantView(group=g.group, role=g.role, project_id=g.project_id) for g in self.grants]
            if self.grants is not None
            else None,
            default_role=self.default_role,
            default_role_set="default_role" in self.model_fields_set,
        )


class NewSsoProvider(_ProviderSettings):
    name: StoredText = Field(min_length=1, max_length=63, description="lowercase, digits, dashes: it is in URLs")
    kind: Literal["oidc", "github"]
    client_id: StoredText = Field(min_length=1, max_length=500)
    client_secret: SecretStr = Field(min_length=1, max_length=2000)


class SsoProviderChange(_ProviderSettings):
    """Only the settings named change; a new ``client_secret`` replaces the old one."""


class SsoSettingsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_sso: StrictBool  # not 0/1: a switch that locks people out takes a real boolean


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


# ---- public


@public_router.get("/options", response_model=SsoOptions)
async def sso_options(accounts: AccountsDep) -> Any:
    """The enabled providers, for the sign-in page's buttons, and whether password sign-in is off."""
    return await accounts.sso_options()


@public_router.get("/{provider}/start", status_code=302, response_class=RedirectResponse)
async def start_sso(provider: ProviderName, request: Request, accounts: AccountsDep) -> Response:
    """Send the browser to the provider (with state, nonce and PKCE); it comes back to ``.../callback``."""
    callback = str(request.url_for("sso_callback", provider=provider))
    started = await accounts.start_sso(provider, callback)
    response = RedirectResponse(started.authorization_url, status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        started.state,
        max_age=600,
        path=FLOW_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@public_router.get("/{provider}/callback", status_code=302, response_class=RedirectResponse, name="sso_callback")
async def sso_callback(
    provider: ProviderName,
    request: Request,
    accounts: AccountsDep,
    state: Annotated[str, Query(min_length=8, max_length=200)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """Where the provider sends the browser back: signed in, to the console. A refusal is API.md's error shape
    (401/403), or for a browser a redirect to the console's sign-in page with ``?sso_error=<message>``."""
    try:
        started_here = request.cookies.get(FLOW_COOKIE, "")
        if not hmac.compare_digest(started_here.encode(), state.encode()):
            raise Unauthorized("this sign-in was not started in this browser (or took too long); start it again")
        granted = await accounts.complete_sso(
            provider,
            state,
            code,
            error,
            error_description,
            client_address(request),
            request.headers.get("user-agent"),
        )
    except FlowtapeError as refused:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        failed = RedirectResponse(f"/?sso_error={quote(refused.message)}", status_code=302)
        failed.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
        return failed
    response = RedirectResponse("/", status_code=302)
    set_session_cookies(request, response, granted)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH)
    return response


# ---- admin


@router.get("/providers", response_model=SsoProviderList)
async def list_sso_providers(_: Admin, accounts: AccountsDep) -> Any:
    return await accounts.list_sso_providers()


@router.post("/providers", status_code=201, response_model=SsoProviderView)
async def create_sso_provider(body: NewSsoProvider, who: Admin, accounts: AccountsDep) -> Any:
    """Add an OpenID Connect provider (by discovery URL, or a preset) or GitHub. Register
    ``/api/v1/auth/sso/{name}/callback`` at the provider as the redirect URI. The secret is never returned."""
    fields = body.fields().model_copy(update={"client_id": body.client_id})
    return await accounts.create_sso_provider(body.name, body.kind, fields, _secret(body.client_secret), who)


@router.patch("/providers/{provider}", response_model=SsoProviderView)
async def update_sso_provider(
    provider: ProviderName, body: SsoProviderChange, who: Admin, accounts: AccountsDep
) -> Any:
    return await accounts.update_sso_provider(provider, body.fields(), _secret(body.client_secret), who)


@router.delete("/providers/{provider}", response_model=SsoProviderView)
async def delete_sso_provider(provider: ProviderName, who: Admin, accounts: AccountsDep) -> Any:
    """Its accounts stay (they sign in another way, or with another provider by the same verified email)."""
    return await accounts.delete_sso_provider(provider, who)


@router.get("/settings", response_model=SsoSettingsView)
async def sso_settings(_: Admin, accounts: AccountsDep) -> Any:
    options = msg.SsoOptions.model_validate(await accounts.sso_options())
    return {"require_sso": options.require_sso}


@router.put("/settings", response_model=SsoSettingsView)
async def change_sso_settings(body: SsoSettingsChange, who: Admin, accounts: AccountsDep) -> Any:
    """``require_sso``: refuse password sign-in to everyone but the first admin (break-glass); 409 without an
    enabled provider."""
    return await accounts.set_sso_settings(body.require_sso, who)
