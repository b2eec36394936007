"""OAuth2 against a local authorization server (authlib's server side): the authorization-code flow with state
and PKCE, tokens encrypted at rest, one refresh however many tasks (on two "replicas") need it, on expiry and
on a 401, rotated refresh tokens kept, and client credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flowtape.common.db import async_engine
from flowtape.common.errors import NodeError, NotFound
from flowtape.common.messages import connectors as msg
from flowtape.common.nodes.sdk import Credential
from flowtape.connectors.api_calls import ApiCalls
from flowtape.connectors.completed import SCHEMA
from flowtape.connectors.connections import Connections
from flowtape.connectors.credential_checks import check_credential
from flowtape.connectors.credentials import CredentialStore
from flowtape.connectors.keys import DataCipher
from flowtape.connectors.oauth2 import OAuth2Authorizations, OAuth2Tokens, SqlTokens, tokens_table
from flowtape.connectors.vault import Vault
from services.connectors.tests.fakes import LOCAL_SERVERS
from services.connectors.tests.test_vault import SECRET_KEY, sealed
from tests.infra import postgres_database
from tests.oauth2_server import FakeAuthorizationServer, follow_authorization

REDIRECT = "http://127.0.0.1:8080/api/v1/credentials/oauth2/callback"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_database("flowtape_test_oauth2") as url:
        yield url


@pytest.fixture
def provider() -> Iterator[FakeAuthorizationServer]:
    with FakeAuthorizationServer() as server:
        yield server


class Replica:
    """What one connectors replica holds: its own engine, vault, token manager and connections."""

    def __init__(self, url: str) -> None:
        self.db: AsyncEngine = async_engine(url, SCHEMA)
        self.vault = Vault(CredentialStore(self.db), SECRET_KEY)
        self.store = SqlTokens(self.db, DataCipher(SECRET_KEY))
        self.tokens = OAuth2Tokens(self.store, LOCAL_SERVERS, self.vault.open)
        self.connections = Connections(LOCAL_SERVERS, tokens=self.tokens)
        self.calls = ApiCalls(self.connections)
        self.authorizations = OAuth2Authorizations(self.vault, self.tokens)

    async def open(self) -> Replica:
        await CredentialStore(self.db).create()
        await self.store.create()
        return self

    async def close(self) -> None:
        await self.connections.close()
        await self.db.dispose()


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    pair = (await Replica(postgres_url).open(), await Replica(postgres_url).open())
    yield pair
    for replica in pair:
        await replica.close()


async def authorized(replica: Replica, provider: FakeAuthorizationServer, name: str) -> Credential:
    created = await replica.vault.create(
        msg.CreateCredential(name=name, type="oauth2", sealed_data=sealed(replica.vault, provider.credential_data()))
    )
    started = await replica.authorizations.start(
        msg.StartOAuth2Authorization(credential_id=created.id, redirect_uri=REDIRECT)
    )
    location, query = await asyncio.to_thread(follow_authorization, started.authorization_url)
    assert location.startswith(REDIRECT) and query["state"] == started.state
    view = await replica.authorizations.complete(
        msg.CompleteOAuth2Authorization(state=query["state"], code=query["code"])
    )
    assert view.id == created.id
    return await replica.vault.open(created.id)


async def test_the_authorization_code_flow_with_state_and_pkce(replicas: tuple[Replica, Replica], provider):
    replica, _ = replicas
    created = await replica.vault.create(
        msg.CreateCredential(name="zoho", type="oauth2", sealed_data=sealed(replica.vault, provider.credential_data()))
    )
    started = await replica.authorizations.start(
        msg.StartOAuth2Authorization(credential_id=created.id, redirect_uri=REDIRECT)
    )
    sent = {k: v[0] for k, v in parse_qs(urlsplit(started.authorization_url).query).items()}
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) >= 43
    assert sent["state"] == started.state and sent["redirect_uri"] == REDIRECT and sent["client_id"]
    assert "code_verifier" not in sent, "the verifier never leaves the connectors"

    _, query = await asyncio.to_thread(follow_authorization, started.authorization_url)
    await replica.authorizations.complete(msg.CompleteOAuth2Authorization(state=query["state"], code=query["code"]))
    credential = await replica.vault.open(created.id)
    answer = await replica.calls.call("the fake API", "GET", f"{provider.url}/me", credential=credential)

    assert answer.body == {"user": "ada", "scope": "read"}
    assert provider.grants == {"authorization_code": 1}
    with pytest.raises(NotFound, match="unknown, used or expired"):
        await replica.authorizations.complete(msg.CompleteOAuth2Authorization(state=query["state"], code=query["code"]))
    async with replica.db.connect() as conn:
        blob = await conn.scalar(select(tokens_table.c.data).where(tokens_table.c.credential_id == created.id))
    [issued] = provider.tokens.values()
    assert blob and issued.access_token.encode() not in blob and issued.refresh_token.encode() not in blob  # type: ignore[union-attr]
    checked = await check_credential(replica.connections, credential)
    assert checked.ok and "answered HTTP 200" in checked.message and issued.access_token not in checked.message


async def test_a_declined_authorization_says_so(replicas: tuple[Replica, Replica], provider):
    replica, _ = replicas
    created = await replica.vault.create(
        msg.CreateCredential(
            name="declined", type="oauth2", sealed_data=sealed(replica.vault, provider.credential_data())
        )
    )
    started = await replica.authorizations.start(
        msg.StartOAuth2Authorization(credential_id=created.id, redirect_uri=REDIRECT)
    )
    with pytest.raises(Exception, match="did not authorize: access_denied"):
        await replica.authorizations.complete(
            msg.CompleteOAuth2Authorization(state=started.state, error="access_denied")
        )
    with pytest.raises(NodeError, match="not authorized yet"):
        await replica.tokens.access_token(await replica.vault.open(created.id))


async def test_expiry_under_twenty_concurrent_tasks_on_two_replicas_refreshes_once(
    replicas: tuple[Replica, Replica], provider: FakeAuthorizationServer
):
    first, second = replicas
    provider.expires_in = 2
    credential = await authorized(first, provider, "expiring")
    old = next(iter(provider.tokens.values()))
    provider.token_delay = 0.3  # a slow token endpoint: every task arrives while the refresh is in flight
    await asyncio.sleep(1.2)  # past half the lifetime: due for a refresh

    tokens = await asyncio.gather(
        *(replica.tokens.access_token(credential) for replica in (first, second) for _ in range(10))
    )

    assert provider.grants["refresh_token"] == 1, provider.grants
    assert len(set(tokens)) == 1 and tokens[0] != old.access_token
    assert old.revoked, "the refresh token was rotated"
    new = provider.tokens[tokens[0]]
    stored = await first.store.load(credential.id)
    assert stored is not None and stored.refresh_token == new.refresh_token != old.refresh_token


async def test_a_401_refreshes_once_and_every_call_succeeds(
    replicas: tuple[Replica, Replica], provider: FakeAuthorizationServer
):
    first, second = replicas
    credential = await authorized(first, provider, "revoked-early")
    await first.calls.call("me", "GET", f"{provider.url}/me", credential=credential)
    provider.expire_all()  # the provider stops honouring the token before its stated expiry
    provider.token_delay = 0.3

    answers = await asyncio.gather(
        *(
            replica.calls.call("me", "GET", f"{provider.url}/me", credential=credential)
            for replica in (first, second)
            for _ in range(10)
        )
    )

    assert all(answer.body["user"] == "ada" for answer in answers)
    assert provider.grants["refresh_token"] == 1, provider.grants
    # a second rotation works with the kept refresh token
    provider.expire_all()
    provider.token_delay = 0
    await second.calls.call("me", "GET", f"{provider.url}/me", credential=credential)
    assert provider.grants["refresh_token"] == 2


async def test_client_credentials_fetches_a_token_once_and_a_wrong_secret_fails_clearly(
    replicas: tuple[Replica, Replica], provider: FakeAuthorizationServer
):
    replica, _ = replicas

    async def stored(name: str, data: dict[str, Any]) -> Credential:
        created = await replica.vault.create(
            msg.CreateCredential(name=name, type="oauth2", sealed_data=sealed(replica.vault, data))
        )
        return await replica.vault.open(created.id)

    good = await stored("machine", provider.credential_data("client_credentials", token_auth="client_secret_post"))
    wrong = await stored("machine-bad", {**provider.credential_data("client_credentials"), "client_secret": "nope"})

    assert await replica.tokens.access_token(good) == await replica.tokens.access_token(good)
    assert provider.grants["client_credentials"] == 1
    with pytest.raises(NodeError, match="refused: invalid_client"):
        await replica.tokens.access_token(wrong)
    checked = await check_credential(replica.connections, wrong)
    assert not checked.ok and provider.client_secret not in checked.message
