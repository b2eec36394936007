"""The gateway's side of the connectors' credentials vault: validate the data, seal it, ask.

Credential data is checked against its type here (so a caller hears at once which field is wrong) and sealed
to the connectors' public key before it goes on the bus; the connectors open and check it again. Nothing
the gateway receives back holds data. The sealing key is asked for once and kept for a minute; a seal the
connectors cannot open because that key changed is made again once with the fresh key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwe
from joserfc.jwk import ECKey

from flowtape.common.bus import Bus
from flowtape.common.credentials import credential_types, parse_credential
from flowtape.common.errors import InvalidInput
from flowtape.common.messages import connectors as msg
from flowtape.common.messages.auth import Actor
from flowtape.common.projects import DEFAULT_PROJECT

SEALING_KEY_CACHE_SECONDS = 60.0


def seal(data: dict[str, Any], jwk: dict[str, Any], now: float | None = None) -> str:
    """A compact JWE of ``data`` only the connectors can open, and only for a couple of minutes."""
    payload = json.dumps({"data": data, "iat": time.time() if now is None else now}).encode()
    header = {"alg": msg.CREDENTIAL_SEALING_ALGORITHM, "enc": msg.CREDENTIAL_SEALING_ENCRYPTION, "kid": jwk["kid"]}
    return jwe.encrypt_compact(header, payload, ECKey.import_key(jwk))


def _stale_seal(error: InvalidInput) -> bool:
    return isinstance(error.details, dict) and error.details.get("reason") == "sealing_key"


class VaultClient:
    def __init__(self, bus: Bus, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._bus = bus
        self._timeout = timeout
        self._clock = clock
        self._key: dict[str, Any] | None = None
        self._key_until = 0.0

    async def _ask(self, message: Any) -> Any:
        return await self._bus.ask(message, timeout=self._timeout)

    async def _sealing_key(self) -> dict[str, Any]:
        if self._key is None or self._clock() >= self._key_until:
            key = msg.SealingKey.model_validate(await self._ask(msg.GetCredentialSealingKey()))
            self._key, self._key_until = key.jwk, self._clock() + SEALING_KEY_CACHE_SECONDS
        return self._key

    async def _sealed(self, make: Callable[[str], Any], data: dict[str, Any]) -> Any:
        try:
            return await self._ask(make(seal(data, await self._sealing_key())))
        except InvalidInput as exc:
            if not _stale_seal(exc):
                raise
            self._key = None
            return await self._ask(make(seal(data, await self._sealing_key())))

    async def ask_sealed(self, make: Callable[[str], Any], data: dict[str, Any]) -> Any:
        """Send ``make(seal of data)`` to the connectors (a secret variable's value travels this way too)."""
        return await self._sealed(make, data)

    def types(self) -> list[dict[str, Any]]:
        return credential_types()

    async def create(
        self,
        name: str,
        type_name: str,
        data: dict[str, Any],
        *,
        project_id: str = DEFAULT_PROJECT,
        actor: Actor | None = None,
    ) -> Any:
        """``actor`` travels with the command: the vault writes the audit entry once the credential is stored."""
        revealed = parse_credential(type_name, data).reveal()
        return await self._sealed(
            lambda sealed: msg.CreateCredential(
                name=name, type=type_name, sealed_data=sealed, project_id=project_id, actor=actor
            ),
            revealed,
        )

    async def update(
        self, credential_id: str, data: dict[str, Any], name: str | None, *, actor: Actor | None = None
    ) -> Any:
        """Replace the data (checked against the credential's type, which never changes)."""
        current = msg.CredentialView.model_validate(await self.get(credential_id))
        revealed = parse_credential(current.type, data).reveal()
        return await self._sealed(
            lambda sealed: msg.UpdateCredential(
                credential_id=credential_id, sealed_data=sealed, name=name, actor=actor
            ),
            revealed,
        )

    async def delete(self, credential_id: str, *, actor: Actor | None = None) -> Any:
        return await self._ask(msg.DeleteCredential(credential_id=credential_id, actor=actor))

    async def get(self, credential_id: str) -> Any:
        return await self._ask(msg.GetCredential(credential_id=credential_id))

    async def list(self, limit: int, cursor: str | None, project_ids: list[str] | None = None) -> Any:
        return await self._ask(msg.ListCredentials(limit=limit, cursor=cursor, project_ids=project_ids))

    async def check(self, credential_id: str) -> Any:
        return await self._ask(msg.CheckCredential(credential_id=credential_id))

    async def authorize(self, credential_id: str, redirect_uri: str) -> Any:
        return await self._ask(msg.StartOAuth2Authorization(credential_id=credential_id, redirect_uri=redirect_uri))

    async def authorized(self, state: str, code: str | None, error: str | None, description: str | None) -> Any:
        return await self._ask(
            msg.CompleteOAuth2Authorization(state=state, code=code, error=error, error_description=description)
        )
