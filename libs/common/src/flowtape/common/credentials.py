"""Credential types: what each kind of secret holds, as a pydantic model whose JSON Schema the API shows.

The gateway validates data with these before sealing it for the connectors, and the connectors validate it
again after opening it (they own credentials). Secret fields are ``SecretStr``, so a repr, a log line or an
error never shows them; :meth:`CredentialData.secret_values` says what a node's output must not contain.
Validation errors name fields, never values.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from flowtape.common.errors import InvalidCredential

CredentialType = Literal["http_header", "http_basic", "http_bearer", "generic"]
_HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]*$")


def _sendable_in_a_header(value: SecretStr) -> SecretStr:
    if not _HEADER_VALUE.match(value.get_secret_value()):
        raise ValueError("must be printable ASCII without line breaks (it is sent in an HTTP header)")
    return value


class CredentialData(BaseModel):
    """Base of every credential type; unknown fields are refused (a typo must not pass as a missing secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type_name: ClassVar[CredentialType]
    description: ClassVar[str]

    def reveal(self) -> dict[str, str]:
        """The data in clear, for the node that uses it (and the seal and cipher that carry it)."""
        return {name: _clear(value) for name, value in self}

    def secret_values(self) -> list[str]:
        """What must never appear in a node's output or error: each secret field, and what encodes it."""
        return [value.get_secret_value() for _, value in self if isinstance(value, SecretStr)]


def _clear(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


class HttpHeaderCredential(CredentialData):
    type_name = "http_header"
    description = "One HTTP header sent with each request, e.g. X-API-Key: <key>"

    name: str = Field(min_length=1, max_length=200, pattern=_HEADER_NAME, description="the header's name")
    value: SecretStr = Field(min_length=1, max_length=8192, description="the header's value (secret)")

    @field_validator("value")
    @classmethod
    def _sendable(cls, value: SecretStr) -> SecretStr:
        return _sendable_in_a_header(value)


class HttpBasicCredential(CredentialData):
    type_name = "http_basic"
    description = "HTTP Basic authentication: a user name and a password"

    username: str = Field(min_length=1, max_length=1024)
    password: SecretStr = Field(max_length=1024, description="secret")

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':' (HTTP Basic cannot carry it)")
        return value

    def authorization(self) -> str:
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def secret_values(self) -> list[str]:
        # an API that echoes the Authorization header shows the pair base64-encoded, not the password
        return [*super().secret_values(), self.authorization().removeprefix("Basic ")]


class HttpBearerCredential(CredentialData):
    type_name = "http_bearer"
    description = "A bearer token sent as Authorization: Bearer <token>"

    token: SecretStr = Field(min_length=1, max_length=8192, description="secret")

    @field_validator("token")
    @classmethod
    def _sendable(cls, value: SecretStr) -> SecretStr:
        return _sendable_in_a_header(value)


class GenericCredential(CredentialData):
    """Any string fields, every one of them secret: for nodes (plugins) with their own kind of secret."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type_name = "generic"
    description = "Any string fields, each one secret; for nodes that use their own kind of credential"

    __pydantic_extra__: dict[str, SecretStr] = Field(init=False)

    @model_validator(mode="after")
    def _not_empty(self) -> GenericCredential:
        if not self.__pydantic_extra__:
            raise ValueError("give at least one field")
        return self


CREDENTIAL_TYPES: dict[str, type[CredentialData]] = {
    cls.type_name: cls for cls in (HttpHeaderCredential, HttpBasicCredential, HttpBearerCredential, GenericCredential)
}


def parse_credential(type_name: str, data: Mapping[str, Any]) -> CredentialData:
    """``data`` as the typed model of ``type_name``, or :class:`InvalidCredential` naming the fields at fault."""
    cls = CREDENTIAL_TYPES.get(type_name)
    if cls is None:
        known = ", ".join(CREDENTIAL_TYPES)
        raise InvalidCredential(f"unknown credential type {type_name!r}; known types: {known}")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            {"field": ".".join(["data", *(str(part) for part in error["loc"])]), "message": error["msg"]}
            for error in exc.errors(include_input=False, include_url=False)
        ]
    first = problems[0] if problems else {"field": "data", "message": "invalid"}
    raise InvalidCredential(
        f"the data does not fit a {type_name} credential: {first['field']}: {first['message']}", details=problems
    )


def credential_types() -> list[dict[str, Any]]:
    """Each type's name, description and the JSON Schema of its data (``GET /api/v1/credentials/types``)."""
    return [
        {"type": name, "description": cls.description, "data_schema": cls.model_json_schema()}
        for name, cls in CREDENTIAL_TYPES.items()
    ]
