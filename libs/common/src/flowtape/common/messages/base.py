"""The envelope every bus message carries, and the registry that decodes a message by its type name.

Events are past tense and fan out; commands are imperative and go to one owner; queries are answered with a
:class:`Reply`. Every message names its type on the wire, so one queue can carry several kinds and a consumer
dispatches by type. New fields are added as optional only: old consumers ignore them, new ones default them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowtape.common.errors import ErrorInfo, InvalidMessage

JsonItems = list[dict[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC)


def _id() -> str:
    return uuid.uuid4().hex


class Message(BaseModel):
    """Base of all messages. Subclasses set ``type_name``; the routing lives in :mod:`flowtape.common.topology`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type_name: ClassVar[str] = ""
    kind: ClassVar[Literal["event", "command", "query", "reply"]] = "event"

    message_id: str = Field(default_factory=_id)
    correlation_id: str | None = None
    causation_id: str | None = None
    occurred_at: datetime = Field(default_factory=_now)
    schema_version: int = 1

    _registry: ClassVar[dict[str, type[Message]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.type_name:
            if cls.type_name in Message._registry and Message._registry[cls.type_name] is not cls:
                raise TypeError(f"duplicate message type {cls.type_name}")
            Message._registry[cls.type_name] = cls

    def encode(self) -> bytes:
        body = self.model_dump_json(by_alias=True)  # a model in a reply's data keeps its wire names ("from")
        return b'{"type":"' + self.type_name.encode() + b'","body":' + body.encode() + b"}"

    def caused(self, **fields: Any) -> dict[str, Any]:
        """Envelope fields for a message caused by this one (keeps the correlation chain)."""
        return {"correlation_id": self.correlation_id or self.message_id, "causation_id": self.message_id, **fields}


class _Envelope(BaseModel):
    type: str
    body: dict[str, Any]


#: how :meth:`Message.encode` frames every message: the type first, then the body
_TYPE_PREFIX = b'{"type":"'
_BODY_PREFIX = b'","body":'


def decode(raw: bytes) -> Message:
    """Parse a wire message; anything that fails its contract raises :class:`InvalidMessage`."""
    message = _decode_framed(raw)
    if message is not None:
        return message
    try:
        envelope = _Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidMessage(f"not a Flowtape message envelope: {exc.errors()[0]['msg']}") from exc
    cls = Message._registry.get(envelope.type)
    if cls is None:
        raise InvalidMessage(f"unknown message type {envelope.type!r}")
    try:
        return cls.model_validate(envelope.body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidMessage(f"{envelope.type} failed validation: {problems}") from exc


def _decode_framed(raw: bytes) -> Message | None:
    """A message as :meth:`Message.encode` framed it, validated from its JSON in one pass (parsing the
    envelope into dicts and validating those walked every message twice: a quarter of the triggers' CPU).
    None for anything else, or anything invalid: the general path then says what is wrong."""
    if not raw.startswith(_TYPE_PREFIX) or not raw.endswith(b"}"):
        return None
    end = raw.find(_BODY_PREFIX, len(_TYPE_PREFIX))
    if end < 0:
        return None
    cls = Message._registry.get(raw[len(_TYPE_PREFIX) : end].decode("utf-8", "replace"))
    if cls is None:
        return None
    try:
        return cls.model_validate_json(raw[end + len(_BODY_PREFIX) : -1])
    except ValidationError:
        return None


class Reply(Message):
    """The answer to a query or a request-style command: data, or the error a peer raised."""

    type_name = "common.Reply.v1"
    kind = "reply"

    data: Any = None
    error: ErrorInfo | None = None


@cache
def _reply_into(into: type[BaseModel]) -> type[Reply]:
    """A :class:`Reply` whose data is ``into``: the same wire type, read in one pass."""

    class TypedReply(Reply):
        type_name: ClassVar[str] = ""  # not a wire type of its own (it reads Reply's)
        data: into | None = None  # type: ignore[valid-type]

    TypedReply.__name__ = f"Reply[{into.__name__}]"
    return TypedReply


def decode_reply(raw: bytes, into: type[BaseModel]) -> Message:
    """A wire message that should be a :class:`Reply` carrying ``into``: its data read as that model straight from
    the JSON. Anything else (an error, another shape, another message) decodes as :func:`decode` would."""
    prefix = _TYPE_PREFIX + Reply.type_name.encode() + _BODY_PREFIX
    if raw.startswith(prefix) and raw.endswith(b"}"):
        try:
            return _reply_into(into).model_validate_json(raw[len(prefix) : -1])
        except ValidationError:
            pass
    return decode(raw)


class RoutedMessage(Message):
    """A delivery from a ``routed`` queue, wrapped by the bus: whatever was published on a routing key the
    queue is bound to (a Flowtape message or any other bytes), with the exchange and key it came by."""

    type_name = "common.RoutedMessage.v1"

    exchange: str
    routing_key: str
    payload: str
    content_type: str | None = None
    #: the AMQP ``message_id`` the publisher set, if any: what tells a redelivery from a new message
    source_message_id: str | None = None
