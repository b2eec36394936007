"""The hmac node: keyed digests with the key from a credential, which never reaches the output."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from flowtape.common.errors import NodeError
from flowtape.connectors.nodes.hmac import HmacNode
from flowtape.testing import run_node

KEYS = {"signing": {"key": "s3cret-signing-key"}, "other": {"token": "abc"}}


async def test_signs_with_the_credential_key() -> None:
    ports = await run_node(
        HmacNode(),
        params={"field": "body", "credential": "signing", "prefix": "sha256=", "to": "sig"},
        items=[{"body": "hello"}],
        credentials=KEYS,
    )
    expected = hmac.new(b"s3cret-signing-key", b"hello", hashlib.sha256).hexdigest()
    assert ports["main"] == [{"body": "hello", "sig": f"sha256={expected}"}]
    assert "s3cret" not in repr(ports)


async def test_base64_sha512_and_key_field() -> None:
    ports = await run_node(
        HmacNode(),
        params={"field": "m", "credential": "other", "key_field": "token", "algorithm": "sha512", "output": "base64"},
        items=[{"m": 42}],
        credentials=KEYS,
    )
    expected = base64.b64encode(hmac.new(b"abc", b"42", hashlib.sha512).digest()).decode()
    assert ports["main"] == [{"m": expected}]


async def test_errors_name_the_field_and_credential() -> None:
    with pytest.raises(NodeError, match="credential 'other' has no field 'key'"):
        await run_node(HmacNode(), params={"field": "m", "credential": "other"}, items=[{"m": "x"}], credentials=KEYS)
    with pytest.raises(NodeError, match=r"item 1: field 'm': is missing"):
        await run_node(
            HmacNode(), params={"field": "m", "credential": "signing"}, items=[{"m": "x"}, {}], credentials=KEYS
        )
    with pytest.raises(NodeError, match="credentials are available only to nodes run by the connectors"):
        await run_node(HmacNode(), params={"field": "m", "credential": "signing"}, items=[{"m": "x"}])
    with pytest.raises(NodeError, match="invalid parameters for hmac: algorithm"):
        await run_node(
            HmacNode(), params={"field": "m", "credential": "signing", "algorithm": "crc32"}, credentials=KEYS
        )


def test_hmac_is_not_pure() -> None:
    entry = HmacNode.describe()
    assert entry["pure"] is False and entry["category"] == "crypto" and entry["examples"]
