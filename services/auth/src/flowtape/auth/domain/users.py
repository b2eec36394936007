"""Rules about users that hold whatever the storage: how an email is compared, who may lose the admin role."""

from __future__ import annotations

from flowtape.common.errors import Conflict, InvalidInput


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively and without surrounding space."""
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or not domain or " " in value or len(value) > 320:
        raise InvalidInput("that is not an email address")
    return value


def ensure_an_admin_remains(active_admins: int, *, losing_one: bool) -> None:
    """Nobody may disable or demote the last active admin: the platform would have no one to manage it."""
    if losing_one and active_admins <= 1:
        raise Conflict("this is the last active admin; make another admin first")
