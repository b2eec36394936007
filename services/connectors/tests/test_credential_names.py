"""Nodes refer to a credential by id or by name: a name is trimmed, 1 to 200 characters, never shaped like an id."""

from __future__ import annotations

import uuid

import pytest

from flowtape.common.errors import InvalidCredential
from flowtape.connectors.domain.credential_names import MAX_NAME_LENGTH, as_credential_id, checked_name

AN_ID = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("github", "github"),
        ("  Slack bot  ", "Slack bot"),
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
        (AN_ID + "-old", AN_ID + "-old"),
    ],
)
def test_a_name_is_kept_trimmed(name: str, kept: str) -> None:
    assert checked_name(name) == kept


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "1 to 200 characters"),
        ("   ", "1 to 200 characters"),
        ("x" * (MAX_NAME_LENGTH + 1), "1 to 200 characters"),
        (AN_ID, "must not look like an id"),
        (AN_ID.upper(), "must not look like an id"),
        (AN_ID.replace("-", ""), "must not look like an id"),
        (f" {AN_ID} ", "must not look like an id"),
    ],
)
def test_a_name_that_cannot_be_told_from_an_id_or_is_empty_is_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidCredential, match=reason):
        checked_name(name)


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [(AN_ID, uuid.UUID(AN_ID)), (AN_ID.upper(), uuid.UUID(AN_ID)), ("github", None), ("", None)],
)
def test_a_reference_is_an_id_or_a_name(ref: str, parsed: uuid.UUID | None) -> None:
    assert as_credential_id(ref) == parsed
