"""How a node refers to a credential: by its id or by its name, so a name must never read as an id."""

from __future__ import annotations

import uuid

from flowtape.common.errors import InvalidCredential

MAX_NAME_LENGTH = 200


def as_credential_id(ref: str) -> uuid.UUID | None:
    """``ref`` as a credential id, None when it is not one (then it is a name)."""
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def checked_name(name: str) -> str:
    """``name`` without surrounding blanks; InvalidCredential when empty, too long or shaped like an id."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidCredential(f"a credential's name needs 1 to {MAX_NAME_LENGTH} characters")
    if as_credential_id(name) is not None:
        raise InvalidCredential("a credential's name must not look like an id (nodes refer to either)")
    return name
