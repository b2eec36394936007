"""The vault's two keys, both derived from ``FLOWTAPE_SECRET_KEY`` with HKDF-SHA256 (distinct ``info`` each).

- :class:`DataCipher` encrypts credential data at rest: AES-256-GCM, a fresh 96-bit nonce per write, the
  credential's id as associated data (a row's ciphertext copied onto another row does not open).
- :class:`SealingKey` opens credential data sealed by the gateway for the trip over the bus (a JWE, see
  :mod:`flowtape.common.messages.connectors`). It is an ECDH P-256 key derived deterministically, so every
  connectors replica holds the same one with nothing to store or share; a sealed message kept by the broker
  is therefore exactly as protected as the database row: both open only with the secret key.

A different secret key opens neither: reading a credential then fails with :class:`CredentialsUnreadable`.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from flowtape.common.errors import FlowtapeError, InvalidInput
from flowtape.common.messages.connectors import CREDENTIAL_SEALING_ALGORITHM, CREDENTIAL_SEALING_ENCRYPTION

_FORMAT = b"\x01"  # the first byte of every stored ciphertext: lets a later format (or key) be told apart
_NONCE_BYTES = 12
#: the order of the P-256 group: a private scalar is in [1, n - 1]
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SEAL_MAX_AGE_SECONDS = 120.0


class CredentialsUnreadable(FlowtapeError):
    """Stored credential data does not open with this FLOWTAPE_SECRET_KEY."""

    code = "credentials_unreadable"


class StaleSeal(InvalidInput):
    """The data was sealed to a key the vault does not hold (the gateway learned it before a change)."""


def _derive(secret_key: str, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(secret_key.encode())


class DataCipher:
    def __init__(self, secret_key: str) -> None:
        self._aead = AESGCM(_derive(secret_key, b"flowtape/connectors/credentials/v1", 32))

    def encrypt(self, data: dict[str, Any], credential_id: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(data, separators=(",", ":")).encode()
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, credential_id.encode())

    def decrypt(self, blob: bytes, credential_id: str) -> dict[str, Any]:
        if blob[:1] != _FORMAT:
            raise CredentialsUnreadable(f"credential {credential_id} is stored in a format this version cannot read")
        nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, credential_id.encode())
        except InvalidTag:
            raise CredentialsUnreadable(
                f"credential {credential_id} cannot be decrypted: FLOWTAPE_SECRET_KEY differs from the one it was "
                "stored with; restore that secret on the connectors, or store the credential again"
            ) from None
        data: dict[str, Any] = json.loads(plaintext)
        return data


class SealingKey:
    def __init__(self, secret_key: str) -> None:
        # 48 bytes reduced mod n - 1: the bias is below 2^-128
        scalar = int.from_bytes(_derive(secret_key, b"flowtape/connectors/credential-sealing/v1", 48), "big")
        private = ec.derive_private_key(scalar % (_P256_ORDER - 1) + 1, ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key = ECKey.import_key(pem, {"use": "enc", "alg": CREDENTIAL_SEALING_ALGORITHM})
        self.kid = key.thumbprint()
        self._key = ECKey.import_key(pem, {"kid": self.kid, "use": "enc", "alg": CREDENTIAL_SEALING_ALGORITHM})

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._key.as_dict(private=False))

    def open(self, sealed: str, now: float | None = None, max_age: float = SEAL_MAX_AGE_SECONDS) -> dict[str, Any]:
        """The sealed ``data``; refuses seals to another key, stale seals and anything malformed."""
        if _kid_of(sealed) != self.kid:
            raise StaleSeal(
                "the credential data is sealed to a key the connectors do not hold; try again",
                details={"reason": "sealing_key"},
            )
        try:
            opened = jwe.decrypt_compact(
                sealed, self._key, algorithms=[CREDENTIAL_SEALING_ALGORITHM, CREDENTIAL_SEALING_ENCRYPTION]
            )
        except (JoseError, ValueError, TypeError):
            raise InvalidInput("the sealed credential data cannot be opened") from None
        try:
            payload = json.loads(opened.plaintext or b"")
            data, issued = payload["data"], float(payload["iat"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("the sealed credential data is malformed") from None
        age = (time.time() if now is None else now) - issued
        if not isinstance(data, dict) or abs(age) > max_age:
            raise InvalidInput("the sealed credential data is too old (or malformed); try again")
        return data


def _kid_of(sealed: str) -> str | None:
    try:
        segment = sealed.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def seal_to(jwk: dict[str, Any], data: dict[str, Any]) -> str:
    """``data`` as a compact JWE to a peer's public EC key (the triggers service's, for its subscriptions)."""
    try:
        key = ECKey.import_key(jwk)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidInput(f"reply_jwk is not a usable EC public key: {exc}") from None
    header = {"alg": CREDENTIAL_SEALING_ALGORITHM, "enc": CREDENTIAL_SEALING_ENCRYPTION}
    return jwe.encrypt_compact(header, json.dumps({"data": data, "iat": time.time()}).encode(), key)
