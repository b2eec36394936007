"""OAuth2 for ``oauth2`` credentials (authlib's client): client credentials, and authorization code with state
and PKCE; tokens kept encrypted, refreshed before they expire and when an API answers 401.

Tokens live apart from the credential's data (``connectors.oauth2_tokens``, encrypted like it, bound to the
credential's id), since the connectors write them and users never do. A refresh happens once however many
tasks need it at the same moment, on every replica: callers queue on a process lock per credential, and on
PostgreSQL the refresher also holds the credential's token row ``FOR UPDATE``, so a replica that waited
finds the fresh token in the row and uses it instead of refreshing again. A rotated refresh token replaces
the old one; a token answer without one keeps the old one.

The authorization-code flow: ``start`` makes a state and a PKCE verifier (kept, encrypted, ten minutes, one
use) and the URL to send the user to; the gateway's callback hands back state and code to ``complete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from authlib.integrations.base_client import OAuthError
from authlib.oauth2 import OAuth2Error
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flowtape.common.credentials import OAuth2Credential
from flowtape.common.db import ensure_schema
from flowtape.common.egress import EgressPolicy
from flowtape.common.errors import InvalidInput, NodeError, NotFound
from flowtape.common.messages.connectors import (
    CompleteOAuth2Authorization,
    CredentialView,
    OAuth2Authorization,
    StartOAuth2Authorization,
)
from flowtape.common.nodes.sdk import Credential
from flowtape.connectors.keys import DataCipher
from flowtape.connectors.outbound import GuardedTransport
from flowtape.connectors.vault import Vault

with warnings.catch_warnings():
    # authlib 1.9 warns at import that it will move to "httpx2"; the httpx client it ships is the one we use
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

SCHEMA = "connectors"
#: refresh this long before the access token expires
REFRESH_AHEAD_SECONDS = 60.0
STATE_LIFETIME = timedelta(minutes=10)
TOKEN_TIMEOUT_SECONDS = 30.0

metadata = MetaData(schema=SCHEMA)
tokens_table = Table(
    "oauth2_tokens",
    metadata,
    Column("credential_id", String(64), primary_key=True),
    #: encrypted JSON (access_token, refresh_token, expires_at, ...); empty until the first token
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
states_table = Table(
    "oauth2_states",
    metadata,
    Column("state", String(128), primary_key=True),
    Column("credential_id", String(64), nullable=False),
    #: encrypted JSON: the PKCE verifier and the redirect URI the flow started with
    Column("data", LargeBinary, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Token:
    access_token: str
    refresh_token: str | None
    expires_at: float | None
    token_type: str = "Bearer"
    issued_at: float | None = None

    def fresh(self, now: float) -> bool:
        """Not about to expire: refreshed a minute ahead, or halfway through a lifetime shorter than two."""
        if self.expires_at is None:
            return True
        ahead = REFRESH_AHEAD_SECONDS
        if self.issued_at is not None:
            ahead = min(ahead, (self.expires_at - self.issued_at) / 2)
        return self.expires_at - ahead > now

    def dump(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "token_type": self.token_type,
            "issued_at": self.issued_at,
        }

    @classmethod
    def of(cls, answer: dict[str, Any], previous: Token | None, now: float) -> Token:
        if not answer.get("access_token"):
            raise NodeError("the token endpoint answered without an access_token")
        expires_at = answer.get("expires_at")
        if expires_at is None and answer.get("expires_in") is not None:
            expires_at = now + float(answer["expires_in"])
        return cls(
            access_token=str(answer["access_token"]),
            refresh_token=answer.get("refresh_token") or (previous.refresh_token if previous else None),
            expires_at=float(expires_at) if expires_at is not None else None,
            token_type=str(answer.get("token_type") or "Bearer"),
            issued_at=now,
        )


class TokenStore(Protocol):
    async def load(self, credential_id: str) -> Token | None: ...

    def locked(self, credential_id: str) -> contextlib.AbstractAsyncContextManager[LockedToken]: ...

    async def put_state(self, state: str, credential_id: str, data: dict[str, str], expires_at: datetime) -> None: ...

    async def take_state(self, state: str, now: datetime) -> tuple[str, dict[str, str]] | None: ...


class LockedToken(Protocol):
    """The token row of one credential while this caller alone may refresh it."""

    async def read(self) -> Token | None: ...

    async def write(self, token: Token) -> None: ...


class MemoryTokens:
    """Tokens in this process (tests, and a Connections built without a database)."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._states: dict[str, tuple[str, dict[str, str], datetime]] = {}

    async def load(self, credential_id: str) -> Token | None:
        return self._tokens.get(credential_id)

    @contextlib.asynccontextmanager
    async def locked(self, credential_id: str) -> AsyncIterator[LockedToken]:
        store = self

        class Held:
            async def read(self) -> Token | None:
                return store._tokens.get(credential_id)

            async def write(self, token: Token) -> None:
                store._tokens[credential_id] = token

        yield Held()

    async def put_state(self, state: str, credential_id: str, data: dict[str, str], expires_at: datetime) -> None:
        self._states[state] = (credential_id, data, expires_at)

    async def take_state(self, state: str, now: datetime) -> tuple[str, dict[str, str]] | None:
        found = self._states.pop(state, None)
        if found is None or found[2] < now:
            return None
        return found[0], found[1]


class SqlTokens:
    """Tokens and flow states in the connectors' database, encrypted; the refresh lock is the token row."""

    def __init__(self, engine: AsyncEngine, cipher: DataCipher) -> None:
        self._engine = engine
        self._cipher = cipher
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def create(self) -> None:
        await ensure_schema(self._engine, SCHEMA)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    def _token(self, credential_id: str, blob: bytes | None) -> Token | None:
        if not blob:
            return None
        data = self._cipher.decrypt(bytes(blob), f"oauth2:{credential_id}")
        return Token(**data)

    async def load(self, credential_id: str) -> Token | None:
        async with self._engine.connect() as conn:
            blob = await conn.scalar(select(tokens_table.c.data).where(tokens_table.c.credential_id == credential_id))
        return self._token(credential_id, blob)

    @contextlib.asynccontextmanager
    async def locked(self, credential_id: str) -> AsyncIterator[LockedToken]:
        store = self
        async with self._engine.begin() as conn:
            await conn.execute(
                self._insert(tokens_table)
                .values(credential_id=credential_id, data=b"", updated_at=datetime.now(UTC))
                .on_conflict_do_nothing()
            )
            query = select(tokens_table.c.data).where(tokens_table.c.credential_id == credential_id)
            if self._engine.dialect.name == "postgresql":
                query = query.with_for_update()
            blob = await conn.scalar(query)

            class Held:
                async def read(self) -> Token | None:
                    return store._token(credential_id, blob)

                async def write(self, token: Token) -> None:
                    await _write(conn, store._cipher, credential_id, token)

            yield Held()

    async def put_state(self, state: str, credential_id: str, data: dict[str, str], expires_at: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(states_table).where(states_table.c.expires_at < datetime.now(UTC)))
            await conn.execute(
                states_table.insert().values(
                    state=state,
                    credential_id=credential_id,
                    data=self._cipher.encrypt(data, f"oauth2-state:{state}"),
                    expires_at=expires_at,
                )
            )

    async def take_state(self, state: str, now: datetime) -> tuple[str, dict[str, str]] | None:
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(states_table).where(states_table.c.state == state))).first()
            if row is None:
                return None
            await conn.execute(delete(states_table).where(states_table.c.state == state))
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        if expires < now:
            return None
        return str(row.credential_id), self._cipher.decrypt(bytes(row.data), f"oauth2-state:{state}")


async def _write(conn: AsyncConnection, cipher: DataCipher, credential_id: str, token: Token) -> None:
    await conn.execute(
        update(tokens_table)
        .where(tokens_table.c.credential_id == credential_id)
        .values(data=cipher.encrypt(token.dump(), f"oauth2:{credential_id}"), updated_at=datetime.now(UTC))
    )


Resolve = Callable[[str], Awaitable[Credential]]


class OAuth2Tokens:
    def __init__(
        self,
        store: TokenStore,
        egress: EgressPolicy,
        resolve: Resolve | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``resolve`` finds a credential by id (the vault's), for completing an authorization."""
        self._store = store
        self._egress = egress
        self._resolve = resolve
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        #: how many times a token was fetched or refreshed, by credential id (operators' metric, tests)
        self.refreshes: dict[str, int] = {}

    @classmethod
    def in_memory(cls, connections: Any) -> OAuth2Tokens:
        return cls(MemoryTokens(), connections.egress)

    def _client(self, data: OAuth2Credential, **kwargs: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=data.client_id,
            client_secret=data.client_secret.get_secret_value() or None,
            token_endpoint_auth_method=data.token_auth,
            scope=data.scope,
            transport=GuardedTransport(self._egress),
            trust_env=False,
            timeout=TOKEN_TIMEOUT_SECONDS,
            **kwargs,
        )

    async def access_token(self, credential: Credential, rejected: str | None = None) -> str:
        """A token that is not about to expire (nor ``rejected``: the one an API just answered 401 to)."""
        data = credential.data
        if not isinstance(data, OAuth2Credential):
            raise NodeError(f"credential {credential.name!r} is not an oauth2 credential")
        known = await self._store.load(credential.id)
        if known is not None and known.fresh(self._clock()) and known.access_token != rejected:
            return known.access_token
        async with self._locks.setdefault(credential.id, asyncio.Lock()), self._store.locked(credential.id) as row:
            current = await row.read()
            if current is not None and current.fresh(self._clock()) and current.access_token != rejected:
                return current.access_token  # another task or replica refreshed it while we waited
            token = await self._fetch(credential, data, current)
            await row.write(token)
        return token.access_token

    async def _fetch(self, credential: Credential, data: OAuth2Credential, current: Token | None) -> Token:
        extra = {"audience": data.audience} if data.audience else {}
        async with self._client(data) as client:
            try:
                if data.grant_type == "client_credentials":
                    answer = await client.fetch_token(str(data.token_url), grant_type="client_credentials", **extra)
                elif current is not None and current.refresh_token:
                    answer = await client.refresh_token(str(data.token_url), refresh_token=current.refresh_token)
                else:
                    raise NodeError(
                        f"credential {credential.name!r} is not authorized yet (or lost its refresh token): an editor "
                        f"opens POST /api/v1/credentials/{credential.id}/oauth2/authorize and signs in"
                    )
            except (OAuth2Error, OAuthError) as exc:
                raise NodeError(
                    f"the token endpoint of credential {credential.name!r} refused: {exc.error}"
                    + (f" ({exc.description})" if exc.description else "")
                ) from None
            except NodeError:
                raise
            except Exception as exc:
                raise NodeError(
                    f"could not get a token for credential {credential.name!r} from {data.token_url}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        self.refreshes[credential.id] = self.refreshes.get(credential.id, 0) + 1
        return Token.of(dict(answer), current, self._clock())

    async def start(self, credential: Credential, redirect_uri: str) -> OAuth2Authorization:
        data = credential.data
        if not isinstance(data, OAuth2Credential) or data.grant_type != "authorization_code":
            raise InvalidInput(f"credential {credential.name!r} does not use the authorization_code grant")
        assert data.authorization_url is not None
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        async with self._client(data, redirect_uri=redirect_uri, code_challenge_method="S256") as client:
            url, _ = client.create_authorization_url(
                str(data.authorization_url), state=state, code_verifier=verifier, **data.authorize_params
            )
        expires_at = datetime.now(UTC) + STATE_LIFETIME
        await self._store.put_state(
            state, credential.id, {"verifier": verifier, "redirect_uri": redirect_uri}, expires_at
        )
        return OAuth2Authorization(authorization_url=url, state=state, expires_at=expires_at)

    async def complete(self, state: str, code: str | None, error: str | None, description: str | None) -> Credential:
        found = await self._store.take_state(state, datetime.now(UTC))
        if found is None:
            raise NotFound("this authorization is unknown, used or expired: start it again from the credential")
        credential_id, flow = found
        if error is not None or not code:
            raise InvalidInput(
                f"the authorization server did not authorize: {error or 'no code'}"
                + (f" ({description[:200]})" if description else "")
            )
        assert self._resolve is not None
        credential = await self._resolve(credential_id)
        data = credential.data
        assert isinstance(data, OAuth2Credential)
        async with self._client(data, redirect_uri=flow["redirect_uri"], code_challenge_method="S256") as client:
            try:
                answer = await client.fetch_token(str(data.token_url), code=code, code_verifier=flow["verifier"])
            except (OAuth2Error, OAuthError) as exc:
                raise InvalidInput(f"the token endpoint refused the code: {exc.error}") from None
            except Exception as exc:
                raise InvalidInput(f"could not exchange the code at {data.token_url}: {type(exc).__name__}") from None
        async with self._store.locked(credential_id) as row:
            await row.write(Token.of(dict(answer), await row.read(), self._clock()))
        self.refreshes[credential_id] = self.refreshes.get(credential_id, 0) + 1
        return credential

    async def secrets_of(self, credential_id: str) -> list[str]:
        token = await self._store.load(credential_id)
        if token is None:
            return []
        return [s for s in (token.access_token, token.refresh_token) if s]


class OAuth2Authorizations:
    """The connectors' verbs behind the authorization-code flow (``StartOAuth2Authorization``, ``Complete...``)."""

    def __init__(self, vault: Vault, tokens: OAuth2Tokens) -> None:
        self._vault = vault
        self._tokens = tokens

    async def start(self, command: StartOAuth2Authorization) -> OAuth2Authorization:
        return await self._tokens.start(await self._vault.open(command.credential_id), command.redirect_uri)

    async def complete(self, command: CompleteOAuth2Authorization) -> CredentialView:
        credential = await self._tokens.complete(command.state, command.code, command.error, command.error_description)
        return await self._vault.get(credential.id)
