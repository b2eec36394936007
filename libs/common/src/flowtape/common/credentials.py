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

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from flowtape.common.errors import InvalidCredential

CredentialType = Literal[
    "http_header",
    "http_basic",
    "http_bearer",
    "api_key",
    "webhook_url",
    "postgres",
    "mysql",
    "redis",
    "amqp",
    "mqtt",
    "smtp",
    "aws",
    "oauth2",
    "generic",
]
TlsMode = Literal["disable", "require", "verify"]
_HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]*$")


def _sendable_in_a_header(value: SecretStr) -> SecretStr:
    if not _HEADER_VALUE.match(value.get_secret_value()):
        raise ValueError("must be printable ASCII without line breaks (it is sent in an HTTP header)")
    return value


class RateLimit(BaseModel):
    """At most ``burst`` requests in any ``burst / per_second`` seconds, held across every connectors replica."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0, le=10_000, description="sustained requests per second")
    burst: int = Field(default=1, ge=1, le=1000, description="requests allowed at once before the rate applies")

    @property
    def window_seconds(self) -> float:
        return self.burst / self.per_second


class CredentialData(BaseModel):
    """Base of every credential type; unknown fields are refused (a typo must not pass as a missing secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type_name: ClassVar[CredentialType]
    description: ClassVar[str]

    rate_limit: RateLimit | None = Field(
        default=None, description="limit the requests nodes make with this credential (all replicas together)"
    )

    def reveal(self) -> dict[str, Any]:
        """The data in clear as JSON values, for the node that uses it (and the seal and cipher that carry it)."""
        return {name: _clear(value) for name, value in self if value is not None}

    def secret_values(self) -> list[str]:
        """What must never appear in a node's output or error: each secret field, and what encodes it."""
        return [value.get_secret_value() for _, value in self if isinstance(value, SecretStr) and value]


def _clear(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)  # URLs


def _secret(description: str, max_length: int = 8192) -> Any:
    return Field(min_length=1, max_length=max_length, description=f"{description} (secret)")


_TEST_URL = Field(
    default=None,
    description="a cheap GET endpoint the credential test calls to see that it authenticates (e.g. /user)",
)
_HOST = Field(min_length=1, max_length=255, description="host name or IP address")


class _TestUrl(CredentialData):
    test_url: AnyHttpUrl | None = _TEST_URL


class _Server(CredentialData):
    """A server reached over TCP: where it is, and whether the connection uses TLS."""

    host: str = _HOST
    port: int = Field(ge=1, le=65535)
    tls: TlsMode = Field(
        default="verify",
        description="disable: no TLS; require: TLS without checking the certificate; verify: TLS with the "
        "certificate and host name checked",
    )


class HttpHeaderCredential(_TestUrl):
    type_name = "http_header"
    description = "One HTTP header sent with each request, e.g. X-API-Key: <key>"

    name: str = Field(min_length=1, max_length=200, pattern=_HEADER_NAME, description="the header's name")
    value: SecretStr = Field(min_length=1, max_length=8192, description="the header's value (secret)")

    @field_validator("value")
    @classmethod
    def _sendable(cls, value: SecretStr) -> SecretStr:
        return _sendable_in_a_header(value)


class HttpBasicCredential(_TestUrl):
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


class HttpBearerCredential(_TestUrl):
    type_name = "http_bearer"
    description = "A bearer token sent as Authorization: Bearer <token>"

    token: SecretStr = Field(min_length=1, max_length=8192, description="secret")

    @field_validator("token")
    @classmethod
    def _sendable(cls, value: SecretStr) -> SecretStr:
        return _sendable_in_a_header(value)


class ApiKeyCredential(CredentialData):
    type_name = "api_key"
    description = "An API key that a node sends the way its API expects (e.g. a Telegram bot token)"

    key: SecretStr = _secret("the key")


class WebhookUrlCredential(CredentialData):
    type_name = "webhook_url"
    description = "A URL that is itself the secret, such as a Discord or Slack incoming webhook"

    url: SecretStr = _secret("the full https:// URL", 2048)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class _Database(_Server):
    database: str = Field(min_length=1, max_length=255, description="the database to connect to")
    username: str = Field(min_length=1, max_length=255)
    password: SecretStr = Field(default=SecretStr(""), max_length=1024, description="secret")


class PostgresCredential(_Database):
    type_name = "postgres"
    description = "A PostgreSQL server: host, port, database, user and password"

    port: int = Field(default=5432, ge=1, le=65535)


class MysqlCredential(_Database):
    type_name = "mysql"
    description = "A MySQL or MariaDB server: host, port, database, user and password"

    port: int = Field(default=3306, ge=1, le=65535)


class RedisCredential(_Server):
    type_name = "redis"
    description = "A Redis server (or a compatible one): host, port, database number, optional user and password"

    port: int = Field(default=6379, ge=1, le=65535)
    tls: TlsMode = "disable"
    database: int = Field(default=0, ge=0, le=1024)
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=1024, description="secret")


class AmqpCredential(_Server):
    type_name = "amqp"
    description = "An AMQP 0-9-1 broker of your own (RabbitMQ): host, port, virtual host, user and password"

    port: int = Field(default=5672, ge=1, le=65535)
    tls: TlsMode = "disable"
    virtual_host: str = Field(default="/", max_length=255)
    username: str = Field(min_length=1, max_length=255)
    password: SecretStr = Field(max_length=1024, description="secret")


class MqttCredential(_Server):
    type_name = "mqtt"
    description = "An MQTT broker: host, port, optional user and password"

    port: int = Field(default=1883, ge=1, le=65535)
    tls: TlsMode = "disable"
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=1024, description="secret")


class SmtpCredential(_Server):
    type_name = "smtp"
    description = "An SMTP server to send mail through: host, port, security, optional user and password"

    port: int = Field(default=587, ge=1, le=65535)
    tls: TlsMode = Field(default="verify", description="verify or require: check the certificate or not")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (port 587), tls from the first byte (465) or none (25, local relays)"
    )
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=1024, description="secret")
    from_address: str | None = Field(default=None, max_length=320, description="the sender when a node names none")


class AwsCredential(CredentialData):
    type_name = "aws"
    description = "AWS-style access keys, for S3 and S3-compatible storage (MinIO, R2, Ceph ...)"

    access_key_id: str = Field(min_length=1, max_length=256)
    secret_access_key: SecretStr = _secret("the secret access key", 1024)
    session_token: SecretStr | None = Field(default=None, max_length=8192, description="secret, for temporary keys")
    region: str = Field(default="us-east-1", min_length=1, max_length=64)
    endpoint_url: AnyHttpUrl | None = Field(
        default=None, description="an S3-compatible server's URL; empty for AWS itself (https://s3.<region>...)"
    )


class OAuth2Credential(CredentialData):
    """The client's side of an OAuth2 grant; the tokens it earns are stored apart (encrypted) by the connectors."""

    type_name = "oauth2"
    description = (
        "OAuth2: client credentials, or authorization code (with PKCE) through "
        "POST /api/v1/credentials/{id}/oauth2/authorize; tokens are refreshed automatically"
    )

    grant_type: Literal["client_credentials", "authorization_code"] = "authorization_code"
    token_url: AnyHttpUrl
    authorization_url: AnyHttpUrl | None = Field(default=None, description="required for authorization_code")
    client_id: str = Field(min_length=1, max_length=1024)
    client_secret: SecretStr = Field(default=SecretStr(""), max_length=4096, description="secret")
    scope: str | None = Field(default=None, max_length=4096, description="space separated scopes")
    audience: str | None = Field(default=None, max_length=1024)
    token_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    authorize_params: dict[str, str] = Field(
        default_factory=dict, description="extra authorization request parameters, e.g. access_type=offline"
    )
    test_url: AnyHttpUrl | None = _TEST_URL

    @model_validator(mode="after")
    def _authorization_url_for_code(self) -> OAuth2Credential:
        if self.grant_type == "authorization_code" and self.authorization_url is None:
            raise ValueError("authorization_url is required for the authorization_code grant")
        return self


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
    cls.type_name: cls
    for cls in (
        HttpHeaderCredential,
        HttpBasicCredential,
        HttpBearerCredential,
        ApiKeyCredential,
        WebhookUrlCredential,
        PostgresCredential,
        MysqlCredential,
        RedisCredential,
        AmqpCredential,
        MqttCredential,
        SmtpCredential,
        AwsCredential,
        OAuth2Credential,
        GenericCredential,
    )
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
