"""API keys' shape: what is taken for one of our keys (and so asked of auth by its hash) and what is refused at once."""

from __future__ import annotations

import hashlib

import pytest

from flowtape.gateway.domain.api_keys import API_KEY_PREFIX, hash_api_key, new_api_key, parse_api_key

KEY_ID = "0123456789abcdef"
SECRET = "A" * 40 + "_-z"  # 43 characters of URL-safe base64


@pytest.mark.parametrize(
    ("value", "key_id"),
    [
        (f"ftk_{KEY_ID}_{SECRET}", KEY_ID),
        (f"ftk_{KEY_ID.upper()}_{SECRET}", None),  # ids are lower-case hex
        (f"ftk_{KEY_ID[:-1]}_{SECRET}", None),
        (f"ftk_{KEY_ID}_{SECRET[:-1]}", None),
        (f"ftk_{KEY_ID}_{SECRET}=", None),
        (f"ftk_{KEY_ID}_{SECRET[:-1]}+", None),  # not URL-safe
        (f" ftk_{KEY_ID}_{SECRET}", None),  # the guard strips a header's spaces before asking
        (f"FTK_{KEY_ID}_{SECRET}", None),
        ("eyJhbGciOiJFUzI1NiJ9.e30.sig", None),  # a token
        ("", None),
    ],
)
def test_what_is_shaped_like_one_of_our_keys(value: str, key_id: str | None) -> None:
    parsed = parse_api_key(value)
    assert (parsed[0] if parsed else None) == key_id
    if parsed:
        assert parsed[1] == hashlib.sha256(value.encode()).hexdigest() == hash_api_key(value)


def test_every_new_key_is_its_own_and_parses_back() -> None:
    made = [new_api_key() for _ in range(20)]
    assert len({key for _, key, _ in made}) == len({key_id for key_id, _, _ in made}) == 20
    for key_id, key, digest in made:
        assert key.startswith(API_KEY_PREFIX) and parse_api_key(key) == (key_id, digest)
