"""Who is calling, decided at the gateway: JWTs checked locally, API keys checked by auth and cached briefly.

- Access tokens (ES256 JWTs) are verified against auth's public keys, learned over the bus when the gateway
  starts, whenever auth publishes them (rotation) and every ``auth_refresh_seconds`` as a backstop. A token
  whose ``gen`` is older than its user's current token generation was revoked (user disabled, role changed,
  password reset); a token whose ``sid`` names a revoked session is void too. Auth broadcasts both to every
  replica at once; the pull every ``auth_refresh_seconds`` (5 s) bounds the delay when a broadcast is lost.
- API keys (``ftk_<id>_<secret>``) are generated here and only their SHA-256 travels to auth; a verified key
  is cached for ``api_key_cache_seconds``, and dropped at once when auth announces a revocation.
- Passwords are sealed here (JWE to auth's encryption key) before they go on the bus.

Every failure is the same 401 to the caller; the reason is counted in ``flowtape_gateway_auth_failures_total``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from joserfc import jwe, jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import ECKey, KeySet
from prometheus_client import CollectorRegistry, Counter

from flowtape.common.bus import Bus
from flowtape.common.errors import Unauthorized, Unavailable
from flowtape.common.messages import auth as msg
from flowtape.common.messages.auth import ROLES
from flowtape.gateway.domain.api_keys import API_KEY_PREFIX, parse_api_key
from flowtape.gateway.domain.principals import Principal
from flowtape.gateway.settings import SecuritySettings

log = logging.getLogger("flowtape.gateway.security")

_MAX_CACHED_KEYS = 10_000
#: verified tokens kept (each a few hundred bytes): more distinct live tokens than this are checked again
_MAX_CACHED_TOKENS = 10_000


def seal(secret: str, keys: msg.PublicKeySet, now: float | None = None) -> str:
    """A compact JWE of ``secret`` that only auth can open, and only for a couple of minutes."""
    jwk = next((k.jwk for k in keys.keys if k.jwk.get("kid") == keys.encryption_kid), None)
    if jwk is None:
        raise Unavailable("auth's encryption key is not in its published key set")
    payload = json.dumps({"secret": secret, "iat": time.time() if now is None else now}).encode()
    header = {"alg": msg.SEALING_ALGORITHM, "enc": msg.SEALING_ENCRYPTION, "kid": keys.encryption_kid}
    return jwe.encrypt_compact(header, payload, ECKey.import_key(jwk))


@dataclass
class _CachedKey:
    principal: Principal
    owner_id: str
    expires: float


class Guard:
    """The gateway's security state: auth's public keys, token generations and the API key cache."""

    def __init__(
        self,
        bus: Bus,
        settings: SecuritySettings | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._settings = settings or SecuritySettings()
        self._clock = clock
        self._keys: msg.PublicKeySet | None = None
        self._verifying = KeySet([])
        self._generations: dict[str, int] = {}
        #: revoked session id -> when its tokens expire anyway (then it is forgotten)
        self._revoked_sessions: dict[str, float] = {}
        self._api_keys: OrderedDict[str, _CachedKey] = OrderedDict()
        #: tokens whose signature and claims were checked: token -> (principal, generation, expiry)
        self._verified: OrderedDict[str, tuple[Principal, int, float]] = OrderedDict()
        self._last_refresh = 0.0
        self._failures = Counter(
            "flowtape_gateway_auth_failures_total", "Requests refused by authentication", ["reason"], registry=registry
        )

    @property
    def ready(self) -> bool:
        return self._keys is not None

    @property
    def keys(self) -> msg.PublicKeySet:
        if self._keys is None:
            raise Unavailable("the gateway has not learned auth's keys yet; is the auth service running?")
        return self._keys

    # -- learning from auth

    def learn_keys(self, keys: msg.PublicKeySet) -> None:
        now = self._clock()
        verifying = [
            ECKey.import_key(k.jwk)
            for k in keys.keys
            if k.jwk.get("use") == "sig" and (k.not_after is None or k.not_after.timestamp() > now)
        ]
        self._verifying = KeySet(list[Any](verifying))
        self._keys = keys
        self._verified.clear()  # a key may have gone: every token is checked against the new set

    def learn_generation(self, user_id: str, generation: int) -> None:
        """Generations only grow: a stale answer must not resurrect revoked tokens."""
        if generation > self._generations.get(user_id, -1):
            self._generations[user_id] = generation

    def learn_revoked_sessions(self, session_ids: list[str], until: float) -> None:
        now = self._clock()
        for session_id in session_ids:
            self._revoked_sessions[session_id] = max(until, self._revoked_sessions.get(session_id, 0.0))
        for session_id, expiry in list(self._revoked_sessions.items()):
            if expiry + self._settings.leeway_seconds < now:
                del self._revoked_sessions[session_id]

    def forget_api_keys(self, *, key_id: str | None = None, owner_id: str | None = None) -> None:
        for digest, cached in list(self._api_keys.items()):
            if cached.principal.key_id == key_id or cached.owner_id == owner_id:
                del self._api_keys[digest]

    async def refresh(self) -> None:
        self._last_refresh = self._clock()
        keys = await self._bus.ask(msg.GetPublicKeys(), timeout=5, into=msg.PublicKeySet)
        state = await self._bus.ask(msg.GetAccessState(), timeout=5, into=msg.AccessState)
        self.learn_keys(keys)
        for user_id, generation in state.generations.items():
            self.learn_generation(user_id, generation)
        # the pulled list holds every session still worth refusing: hold them until the longest token lifetime
        self.learn_revoked_sessions(state.revoked_sessions, self._clock() + 7 * 24 * 3600)

    async def refresh_forever(self) -> None:
        """Pull keys and generations now and then; retry quickly while auth has not answered yet."""
        delay = 0.2
        while True:
            try:
                await self.refresh()
                delay = 0.2
                await asyncio.sleep(self._settings.auth_refresh_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("cannot refresh auth's keys yet (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.auth_refresh_seconds)

    async def on_keys_published(self, event: msg.PublicKeysPublished) -> None:
        self.learn_keys(event.keys)

    async def on_user_changed(self, event: msg.UserAccessChanged) -> None:
        self.learn_generation(event.user_id, event.generation)
        self.forget_api_keys(owner_id=event.user_id)

    async def on_sessions_revoked(self, event: msg.SessionsRevoked) -> None:
        self.learn_revoked_sessions(event.session_ids, event.until.timestamp())

    async def on_api_key_revoked(self, event: msg.ApiKeyRevoked) -> None:
        self.forget_api_keys(key_id=event.key_id)

    # -- deciding

    async def authenticate(
        self, bearer: str | None, api_key: str | None, client_address: str | None = None
    ) -> Principal:
        if api_key:
            principal = await self._api_key(api_key)
        elif bearer and bearer.startswith(API_KEY_PREFIX):
            principal = await self._api_key(bearer)
        elif bearer:
            principal = await self._token(bearer)
        else:
            self._failures.labels("missing").inc()
            raise Unauthorized("sign in first: send Authorization: Bearer <token or API key>, or X-API-Key")
        return replace(principal, client_address=client_address)

    def _refuse(self, reason: str, message: str) -> Unauthorized:
        self._failures.labels(reason).inc()
        return Unauthorized(message)

    async def _token(self, token: str) -> Principal:
        """Checking an ES256 signature costs more than the rest of a request's handling: a token already checked
        is answered from memory until it expires, its revocation (generation) checked every time."""
        verified = self._verified.get(token)
        if verified is not None:
            principal, generation, expires = verified
            if self._clock() < expires + self._settings.leeway_seconds:
                if generation < self._generations.get(principal.user_id, 0):
                    raise self._refuse("revoked", "the token was revoked (the account changed); sign in again")
                if principal.session_id is not None and principal.session_id in self._revoked_sessions:
                    raise self._refuse("revoked", "this session was ended; sign in again")
                return principal
            del self._verified[token]
        principal, generation, expires = await self._check_token(token)
        self._verified[token] = (principal, generation, expires)
        while len(self._verified) > _MAX_CACHED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    async def _check_token(self, token: str) -> tuple[Principal, int, float]:
        if not self.ready:  # 503, not 401: the token may well be good
            raise Unavailable("the gateway has not learned auth's keys yet; is the auth service running?")
        try:
            decoded = jwt.decode(token, self._verifying, algorithms=[msg.TOKEN_ALGORITHM])
        except InvalidKeyIdError:
            if await self._refresh_soon():
                return await self._check_token(token)
            raise self._refuse("unknown_key", "the token is not valid") from None
        except (JoseError, ValueError, TypeError):
            raise self._refuse("invalid", "the token is not valid") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self._settings.leeway_seconds,
            iss={"essential": True, "value": msg.TOKEN_ISSUER},
            aud={"essential": True, "value": msg.TOKEN_AUDIENCE},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise self._refuse("expired", "the token has expired; sign in again") from None
        except JoseError:
            raise self._refuse("invalid", "the token is not valid") from None
        role, generation, session_id = claims.get("role"), claims.get("gen"), claims.get("sid")
        if role not in ROLES or not isinstance(generation, int) or not isinstance(claims.get("email"), str):
            raise self._refuse("invalid", "the token is not valid")
        if session_id is not None and not isinstance(session_id, str):
            raise self._refuse("invalid", "the token is not valid")
        if generation < self._generations.get(str(claims["sub"]), 0):
            raise self._refuse("revoked", "the token was revoked (the account changed); sign in again")
        if session_id is not None and session_id in self._revoked_sessions:
            raise self._refuse("revoked", "this session was ended; sign in again")
        principal = Principal(
            user_id=str(claims["sub"]), email=claims["email"], role=role, via="token", session_id=session_id
        )
        return principal, generation, float(claims["exp"])

    async def _refresh_soon(self) -> bool:
        """An unknown ``kid`` may be a rotation whose event we missed: pull once (at most every 5 s)."""
        if self._clock() - self._last_refresh < 5:
            return False
        try:
            await self.refresh()
        except Exception:
            return False
        return True

    async def _api_key(self, key: str) -> Principal:
        parsed = parse_api_key(key.strip())
        if parsed is None:
            raise self._refuse("invalid", "the API key is not valid")
        key_id, digest = parsed
        now = self._clock()
        cached = self._api_keys.get(digest)
        if cached is not None and cached.expires > now:
            return cached.principal
        try:
            answer = await self._bus.ask(msg.VerifyApiKey(key_id=key_id, key_hash=digest), timeout=5)
        except Unauthorized as exc:
            raise self._refuse("api_key_refused", exc.message) from None
        view = msg.PrincipalView.model_validate(answer)
        principal = Principal(
            user_id=view.user_id,
            email=view.email,
            role=view.role,
            via="api_key",
            key_id=key_id,
            project_id=view.project_id,
        )
        if self._settings.api_key_cache_seconds > 0:
            self._api_keys[digest] = _CachedKey(principal, view.user_id, now + self._settings.api_key_cache_seconds)
            while len(self._api_keys) > _MAX_CACHED_KEYS:
                self._api_keys.popitem(last=False)
        return principal
