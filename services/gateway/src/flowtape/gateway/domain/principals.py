"""Who is calling, once :class:`flowtape.gateway.security.Guard` has checked the token or API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flowtape.common.messages.auth import Actor, Role


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    role: Role
    via: Literal["token", "api_key"]
    key_id: str | None = None
    client_address: str | None = None
    #: the sign-in session of a token (None for API keys and tokens issued before sessions existed)
    session_id: str | None = None
    #: an API key's one project (None for tokens, whose projects are their user's memberships, and platform keys)
    project_id: str | None = None

    def actor(self) -> Actor:
        return Actor(
            kind="api_key" if self.via == "api_key" else "user",
            user_id=self.user_id,
            email=self.email,
            key_id=self.key_id,
            client_address=self.client_address,
        )
