"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile).

An unknown account is checked against a dummy hash, so a failed login takes as long whether or not the
account exists (no account enumeration by timing).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 1024


class Passwords:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no stored hash, spends the same time and says False."""
        try:
            usable = stored_hash if stored_hash != NO_PASSWORD else None
            return self._hasher.verify(usable or self._dummy, password) and usable is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


#: the stored "hash" of an account made by single sign-on: no password matches it, and checking one against it
#: takes the time of checking against no account (the dummy hash), so it tells nobody such an account exists
NO_PASSWORD = "!sso"


def policy_problem(password: str) -> str | None:
    """Why a new password is refused, or None. Length is what matters (NIST SP 800-63B), not character classes."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password may have at most {MAX_LENGTH} characters"
    return None
