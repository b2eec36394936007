"""Auth's key material: ES256 signing keys and ECDH-ES sealing keys, each with a ``kid``.

Private keys are stored encrypted (AES-256-GCM under a key derived from ``FLOWTAPE_SECRET_KEY`` with HKDF,
the ``kid`` bound in as associated data), so a copy of the database alone signs nothing. Rotation retires
the current keys without deleting them: a retired key stays published until every token it signed has
expired (``not_after``), then drops out of the key set.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from flowtape.common.errors import FlowtapeError, InvalidInput
from flowtape.common.messages.auth import (
    SEALING_ALGORITHM,
    SEALING_ENCRYPTION,
    TOKEN_ALGORITHM,
    PublicKey,
    PublicKeySet,
)

KeyUse = Literal["sig", "enc"]
_ALGORITHMS: dict[KeyUse, str] = {"sig": TOKEN_ALGORITHM, "enc": SEALING_ALGORITHM}


class KeysUnreadable(FlowtapeError):
    """The stored private keys do not open with this FLOWTAPE_SECRET_KEY."""

    code = "keys_unreadable"


@dataclass(frozen=True)
class KeyMaterial:
    kid: str
    use: KeyUse
    algorithm: str
    public_jwk: dict[str, Any]
    encrypted_private_key: bytes | None
    created_at: datetime
    retired_at: datetime | None = None
    #: after this nothing the key vouches for is valid: it leaves the published set
    not_after: datetime | None = None

    def retire(self, now: datetime, grace: timedelta) -> KeyMaterial:
        return replace(self, retired_at=now, not_after=now + grace)

    def published_at(self, now: datetime) -> bool:
        return self.not_after is None or self.not_after > now


class KeyVault:
    """Encrypts private keys at rest under a key derived from the platform's secret key (``purpose`` keeps
    other secrets, such as SSO client secrets, under a key of their own)."""

    def __init__(self, secret_key: str, purpose: bytes = b"flowtape/auth/private-keys/v1") -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
        self._aead = AESGCM(derived.derive(secret_key.encode()))

    def seal(self, private_pem: bytes, kid: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, private_pem, kid.encode())

    def open(self, blob: bytes, kid: str) -> bytes:
        try:
            return self._aead.decrypt(blob[:12], blob[12:], kid.encode())
        except InvalidTag:
            raise KeysUnreadable(
                f"the private key {kid} cannot be decrypted: FLOWTAPE_SECRET_KEY differs from the one it was "
                "stored with; restore that secret (rotating keys would log every user out)"
            ) from None


def new_key(use: KeyUse, now: datetime, vault: KeyVault) -> KeyMaterial:
    kid = f"{use}-{now:%Y%m%d}-{secrets.token_hex(4)}"
    algorithm = _ALGORITHMS[use]
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "use": use, "alg": algorithm}, private=True)
    return KeyMaterial(
        kid=kid,
        use=use,
        algorithm=algorithm,
        public_jwk=dict(key.as_dict(private=False)),
        encrypted_private_key=vault.seal(key.as_pem(private=True), kid),
        created_at=now,
    )


def private_key(material: KeyMaterial, vault: KeyVault) -> ECKey:
    if material.encrypted_private_key is None:
        raise KeysUnreadable(f"the private key {material.kid} was discarded")
    pem = vault.open(material.encrypted_private_key, material.kid)
    return ECKey.import_key(pem, {"kid": material.kid, "use": material.use, "alg": material.algorithm})


def current(keys: list[KeyMaterial], use: KeyUse) -> KeyMaterial | None:
    """The newest unretired key for ``use``."""
    live = [k for k in keys if k.use == use and k.retired_at is None]
    return max(live, key=lambda k: k.created_at) if live else None


def public_key_set(keys: list[KeyMaterial], now: datetime) -> PublicKeySet:
    sealing = current(keys, "enc")
    if sealing is None:
        raise FlowtapeError("auth has no sealing key yet")
    return PublicKeySet(
        keys=[PublicKey(jwk=k.public_jwk, not_after=k.not_after) for k in keys if k.published_at(now)],
        encryption_kid=sealing.kid,
    )


def unseal(sealed: str, keys: list[ECKey], now: datetime, max_age: timedelta) -> str:
    """Open a sealed secret (see :mod:`flowtape.common.messages.auth`); refuses stale or foreign seals."""
    try:
        opened = jwe.decrypt_compact(
            sealed, KeySet(list[Any](keys)), algorithms=[SEALING_ALGORITHM, SEALING_ENCRYPTION]
        )
        payload = json.loads(opened.plaintext or b"")
        secret, issued = payload["secret"], float(payload["iat"])
    except (JoseError, ValueError, KeyError, TypeError):
        raise InvalidInput("the sealed password cannot be opened (sealed to a retired key?); try again") from None
    age = now.timestamp() - issued
    if not isinstance(secret, str) or abs(age) > max_age.total_seconds():
        raise InvalidInput("the sealed password is too old; try again")
    return secret
