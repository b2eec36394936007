"""Encoding text and hashing it: base64, base64url, hex and URL encoding both ways, and digests.

Encoding turns the field's text (UTF-8) into text; decoding expects the result to be UTF-8 text again and
fails naming the field when it is binary. The keyed variant (HMAC) needs a credential, so it runs in the
connectors (``hmac``); these need none and are pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Literal
from urllib.parse import quote, unquote_plus

from pydantic import Field

from flowtape.common.nodes.library.transforms import FieldNode, FieldParams, expect_text
from flowtape.common.nodes.sdk import NodeExample, NodeType

__all__ = ["DIGESTS", "ENCODING_NODES", "EncodeNode", "HashNode", "digest"]

Encoding = Literal["base64", "base64url", "hex", "url"]
Algorithm = Literal["md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b"]
DIGESTS: tuple[str, ...] = ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b")


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the decoded bytes are not UTF-8 text") from None


class EncodeParams(FieldParams):
    encoding: Encoding = Field(
        default="base64", description="base64, base64url (URL-safe alphabet), hex, or url (percent-encoding)."
    )
    action: Literal["encode", "decode"] = Field(default="encode")


class EncodeNode(FieldNode[EncodeParams]):
    type = "encode"
    category = "crypto"
    description = "Encodes or decodes a text field as base64, base64url, hex or URL percent-encoding."
    Params = EncodeParams
    examples = (
        NodeExample(
            title="Base64 of a text",
            params={"field": "text", "to": "b64"},
            input=[{"text": "héllo"}],
            output={"main": [{"text": "héllo", "b64": "aMOpbGxv"}]},
        ),
        NodeExample(
            title="Decode a URL query value",
            params={"field": "q", "encoding": "url", "action": "decode"},
            input=[{"q": "caf%C3%A9+au+lait%21"}],
            output={"main": [{"q": "café au lait!"}]},
        ),
    )

    def transform(self, value: Any, params: EncodeParams) -> Any:
        text = expect_text(value)
        try:
            if params.action == "encode":
                data = text.encode("utf-8")
                if params.encoding == "base64":
                    return base64.b64encode(data).decode("ascii")
                if params.encoding == "base64url":
                    return base64.urlsafe_b64encode(data).decode("ascii")
                if params.encoding == "hex":
                    return data.hex()
                return quote(text, safe="")
            if params.encoding == "base64":
                return _utf8(base64.b64decode(text.strip(), validate=True))
            if params.encoding == "base64url":
                padded = text.strip() + "=" * (-len(text.strip()) % 4)
                return _utf8(base64.urlsafe_b64decode(padded))
            if params.encoding == "hex":
                return _utf8(bytes.fromhex(text))
            return unquote_plus(text, errors="strict")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"not valid {params.encoding}: {exc}") from None


def digest(algorithm: str, data: bytes, output: str) -> str:
    hashed = hashlib.new(algorithm, data)
    return hashed.hexdigest() if output == "hex" else base64.b64encode(hashed.digest()).decode("ascii")


class HashParams(FieldParams):
    algorithm: Algorithm = Field(default="sha256", description="md5 and sha1 only for checksums, not for security.")
    output: Literal["hex", "base64"] = Field(default="hex", description="How the digest is written.")


class HashNode(FieldNode[HashParams]):
    type = "hash"
    category = "crypto"
    description = "Hashes a text field (UTF-8) with MD5, SHA-1, SHA-256, SHA-512, SHA3-256 or BLAKE2b."
    Params = HashParams
    examples = (
        NodeExample(
            title="SHA-256 of an email, for a lookup key",
            params={"field": "email", "to": "email_hash"},
            input=[{"email": "ann@example.com"}],
            output={
                "main": [
                    {
                        "email": "ann@example.com",
                        "email_hash": "71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476",
                    }
                ]
            },
        ),
    )

    def transform(self, value: Any, params: HashParams) -> Any:
        return digest(params.algorithm, expect_text(value).encode("utf-8"), params.output)


ENCODING_NODES: tuple[type[NodeType[Any]], ...] = (EncodeNode, HashNode)
