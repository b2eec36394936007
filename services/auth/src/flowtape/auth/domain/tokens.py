"""Access tokens: compact JWS (ES256) with the ``kid`` of the key that signed them.

Claims: ``iss``/``aud`` (fixed), ``sub`` (user id), ``email``, ``role``, ``gen`` (the user's token generation:
disabling a user or changing their role bumps it, voiding older tokens at every gateway), ``sid`` (the sign-in
session: revoking it voids the token), ``iat``/``exp``, ``jti``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from joserfc import jwt
from joserfc.jwk import ECKey

from flowtape.common.messages.auth import TOKEN_ALGORITHM, TOKEN_AUDIENCE, TOKEN_ISSUER, Role


def issue(
    *,
    user_id: str,
    email: str,
    role: Role,
    generation: int,
    key: ECKey,
    now: datetime,
    ttl: timedelta,
    session_id: str | None = None,
) -> str:
    issued = int(now.timestamp())
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": user_id,
        "email": email,
        "role": role,
        "gen": generation,
        "iat": issued,
        "exp": issued + int(ttl.total_seconds()),
        "jti": secrets.token_hex(12),
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode({"alg": TOKEN_ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims, key)
