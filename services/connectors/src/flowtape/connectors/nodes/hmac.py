"""The ``hmac`` node: a keyed digest (HMAC) of a text field, the key taken from a stored credential.

The key never appears in the workflow or the log: the node names a ``generic`` credential and the field of
it that holds the key (``key`` by default). Needing a credential makes the node not pure, so it runs in the
connectors, which redact the key from anything it emits. Typical use: sign a payload for a webhook receiver
(``X-Signature: sha256=<hex>``) or check a signature an incoming webhook carries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import Field

from flowtape.common.nodes.library.paths import MISSING, describe_value, field_error, get_path, set_path
from flowtape.common.nodes.library.transforms import FieldParams, expect_text
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeResult, NodeType

__all__ = ["HmacNode", "HmacParams"]


class HmacParams(FieldParams):
    credential: str = Field(min_length=1, description="A stored generic credential's id or name holding the key.")
    key_field: str = Field(
        default="key", min_length=1, max_length=200, description="The credential's field that holds the key."
    )
    algorithm: Literal["sha256", "sha512", "sha1", "md5"] = Field(default="sha256")
    output: Literal["hex", "base64"] = Field(default="hex", description="How the digest is written.")
    prefix: str = Field(default="", max_length=50, description="Text put before the digest, e.g. 'sha256='.")


class HmacNode(NodeType[HmacParams]):
    type = "hmac"
    category = "crypto"
    description = "Signs a text field with HMAC (SHA-256, SHA-512, SHA-1, MD5), the key from a stored credential."
    Params = HmacParams
    examples = (
        NodeExample(
            title="Sign a webhook payload (credential 'webhook-signing' holds key 'secret')",
            params={"field": "payload", "credential": "webhook-signing", "prefix": "sha256=", "to": "signature"},
            input=[{"payload": '{"event":"paid"}'}],
            output={
                "main": [
                    {
                        "payload": '{"event":"paid"}',
                        "signature": "sha256=d10706b9b0313fa2f968e2643f982865d2b912ad94a13de0b9c4af48fb3930a9",
                    }
                ]
            },
        ),
    )

    async def run_item(self, ctx: NodeContext, params: HmacParams, item: Item) -> NodeResult:
        value = get_path(item, params.field)
        if value is MISSING or value is None:
            if params.if_missing == "skip":
                return NodeResult.on([item])
            raise field_error(params.field, f"is missing (got {describe_value(value)})")
        try:
            message = expect_text(value).encode("utf-8")
        except ValueError as exc:
            raise field_error(params.field, str(exc)) from exc
        credential = await ctx.credential(params.credential, "generic")
        secret = credential.reveal().get(params.key_field)
        if not secret:
            raise field_error(
                params.field, f"credential {credential.name!r} has no field {params.key_field!r} (set key_field)"
            )
        digest = hmac.new(secret.encode("utf-8"), message, getattr(hashlib, params.algorithm)).digest()
        text = digest.hex() if params.output == "hex" else base64.b64encode(digest).decode("ascii")
        return NodeResult.on([set_path(item, params.to or params.field, params.prefix + text)])
