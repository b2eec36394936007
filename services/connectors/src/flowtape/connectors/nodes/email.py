"""The ``email_send`` node: a message per item over SMTP (STARTTLS, implicit TLS or none), with attachments
taken from item data: text, base64, or binary data an earlier node stored (``{"$binary": ...}``, e.g. a
browser screenshot or an S3 object). Header values are built by the standard library's ``EmailMessage``,
which refuses line breaks, so item data cannot add headers or recipients."""

from __future__ import annotations

import base64
import binascii
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowtape.common.credentials import SmtpCredential
from flowtape.common.errors import NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.connections import Connections
from flowtape.connectors.outbound import connect_address
from flowtape.connectors.pools import CONNECT_TIMEOUT
from flowtape.connectors.tls import client_context

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str | None = Field(
        default=None, min_length=1, max_length=255, description="the file's name (default: the binary data's)"
    )
    content: str | None = Field(default=None, description="the file's content: text, or base64 with encoding 'base64'")
    binary: dict[str, Any] | None = Field(
        default=None, description='binary data from an earlier node (e.g. "{{ item.screenshot }}") as the file'
    )
    encoding: Literal["text", "base64"] = "text"
    content_type: str | None = Field(
        default=None,
        pattern=r"^[\w.+\-]+/[\w.+\-]+$",
        description="the file's type (default: the binary data's, or application/octet-stream)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Attachment:
        if (self.content is None) == (self.binary is None):
            raise ValueError("an attachment takes 'content' or 'binary' (one of them)")
        if self.content is not None and not self.filename:
            raise ValueError("an attachment with 'content' needs a 'filename'")
        return self

    async def resolve(self, ctx: NodeContext, number: int) -> tuple[str, str, bytes]:
        """``(filename, content_type, bytes)``, reading binary data from the store."""
        if self.binary is not None:
            info, data = await ctx.binaries.get(self.binary, f"attachment {number}")
            return self.filename or info.file_name or info.id, self.content_type or info.mime_type, data
        assert self.filename is not None
        return self.filename, self.content_type or "application/octet-stream", self.payload()

    def payload(self) -> bytes:
        assert self.content is not None
        if self.encoding == "text":
            return self.content.encode()
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"attachment {self.filename!r}: the content is not valid base64") from None


def _addresses(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    found = [a.strip() for a in (value.split(",") if isinstance(value, str) else value) if a.strip()]
    for address in found:
        if "@" not in address or any(c in address for c in "\r\n<>"):
            raise ValueError(f"{address[:80]!r} is not an e-mail address")
    return found


class EmailParams(NodeParams):
    credential: str = Field(min_length=1, description="an smtp credential's id or name")
    to: str | list[str] = Field(description="one address, a comma separated list, or a list")
    cc: str | list[str] | None = None
    bcc: str | list[str] | None = None
    subject: str = Field(max_length=998)
    text: str | None = Field(default=None, description="the plain-text body")
    html: str | None = Field(default=None, description="an HTML body (with text, sent as alternatives)")
    from_address: str | None = Field(default=None, description="the sender; the credential's from_address if not given")
    reply_to: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)

    @field_validator("to", "cc", "bcc")
    @classmethod
    def _valid(cls, value: str | list[str] | None) -> str | list[str] | None:
        _addresses(value)
        return value

    @model_validator(mode="after")
    def _a_body(self) -> EmailParams:
        if self.text is None and self.html is None:
            raise ValueError("give text or html (or both)")
        if not _addresses(self.to):
            raise ValueError("give at least one recipient in 'to'")
        return self


class EmailNode(NodeType[EmailParams]):
    """Outputs per item ``{"message_id", "accepted": [recipients]}``."""

    type = "email_send"
    category = "communication"
    description = "Send an e-mail per item over SMTP (TLS or STARTTLS), with attachments from the item's data."
    Params = EmailParams
    #: the Message-ID is new for every message
    deterministic = False
    examples = (
        NodeExample(
            title="Confirm an order, in text and HTML (credential 'shop-mail': SMTP with STARTTLS, sender "
            "orders@shop.example)",
            params={
                "credential": "shop-mail",
                "to": "{{ item.email }}",
                "subject": "Order {{ item.order_id }} confirmed",
                "text": "Hello {{ item.name }},\n\nthank you for your order of {{ item.total }} EUR.",
                "html": "<p>Hello {{ item.name }},</p><p>thank you for your order of <b>{{ item.total }} EUR</b>.</p>",
            },
            input=[{"email": "ada@example.com", "name": "Ada", "order_id": 1002, "total": 45.5}],
            output={
                "main": [
                    {
                        "message_id": "<179616169983.22520.18336348642470614254@shop.example>",
                        "accepted": ["ada@example.com"],
                        "refused": [],
                    }
                ]
            },
        ),
        NodeExample(
            title="Send a CSV from the item as an attachment, with a copy to accounting",
            params={
                "credential": "shop-mail",
                "to": "{{ item.email }}",
                "cc": "accounting@shop.example",
                "subject": "Your invoice {{ item.invoice }}",
                "text": "Your invoice is attached.",
                "attachments": [
                    {
                        "filename": "invoice-{{ item.invoice }}.csv",
                        "content": "{{ item.csv }}",
                        "content_type": "text/csv",
                    }
                ],
            },
            input=[{"email": "ada@example.com", "invoice": "2026-0042", "csv": "item,amount\nEnamel mug,45.50\n"}],
            output={
                "main": [
                    {
                        "message_id": "<179616170012.22520.9071553302124877911@shop.example>",
                        "accepted": ["ada@example.com", "accounting@shop.example"],
                        "refused": [],
                    }
                ]
            },
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def run_item(self, ctx: NodeContext, params: EmailParams, item: Item) -> NodeResult:
        credential = await ctx.credential(params.credential, "smtp")
        data = credential.data
        assert isinstance(data, SmtpCredential)
        sender = params.from_address or data.from_address or data.username
        if not sender:
            raise NodeError("no sender: give from_address on the node or the credential")
        recipients = _addresses(params.to) + _addresses(params.cc) + _addresses(params.bcc)
        message = EmailMessage()
        message_id = make_msgid(domain=sender.rsplit("@", 1)[-1] if "@" in sender else None)
        try:
            message["From"] = sender
            message["To"] = ", ".join(_addresses(params.to))
            if params.cc:
                message["Cc"] = ", ".join(_addresses(params.cc))
            if params.reply_to:
                message["Reply-To"] = params.reply_to
            message["Subject"] = params.subject
            message["Message-ID"] = message_id
            message.set_content(params.text if params.text is not None else "")
            if params.html is not None:
                if params.text is None:
                    message.set_content(params.html, subtype="html")
                else:
                    message.add_alternative(params.html, subtype="html")
            total = 0
            for number, attachment in enumerate(params.attachments, 1):
                filename, content_type, content = await attachment.resolve(ctx, number)
                total += len(content)
                if total > MAX_ATTACHMENT_BYTES:
                    raise NodeError(f"the attachments are larger than {MAX_ATTACHMENT_BYTES >> 20} MiB together")
                maintype, subtype = content_type.split("/", 1)
                message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
        except ValueError as exc:
            raise NodeError(f"cannot build the e-mail: {exc}") from None
        verified = data.tls == "verify" and data.security != "none"
        host = await connect_address(self._connections.egress, data.host, data.port, verified_tls=verified)
        context = client_context(data.tls) if data.security != "none" else None
        try:
            errors, _ = await aiosmtplib.send(
                message,
                sender=sender,
                recipients=recipients,
                hostname=host,
                port=data.port,
                username=data.username,
                password=data.password.get_secret_value() if data.password else None,
                use_tls=data.security == "tls",
                start_tls=True if data.security == "starttls" else False,
                tls_context=context,
                validate_certs=data.tls == "verify",
                timeout=CONNECT_TIMEOUT * 3,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise NodeError(f"the SMTP server {data.host}:{data.port} refused the login: {exc.message}") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(r.recipient for r in exc.recipients)
            raise NodeError(f"the SMTP server refused every recipient ({refused})") from None
        except aiosmtplib.SMTPException as exc:
            raise NodeError(f"sending through {data.host}:{data.port} failed: {type(exc).__name__}: {exc}") from None
        except OSError as exc:
            raise NodeError(f"could not connect to the SMTP server {data.host}:{data.port}: {exc}") from None
        accepted = [r for r in recipients if r not in errors]
        return NodeResult.on([{"message_id": message_id, "accepted": accepted, "refused": sorted(errors)}])


async def smtp_login(connections: Connections, data: SmtpCredential) -> str:
    """Connect, (START)TLS, log in and quit: the credential test of an ``smtp`` credential."""
    verified = data.tls == "verify" and data.security != "none"
    host = await connect_address(connections.egress, data.host, data.port, verified_tls=verified)
    client = aiosmtplib.SMTP(
        hostname=host,
        port=data.port,
        use_tls=data.security == "tls",
        start_tls=True if data.security == "starttls" else False,
        tls_context=client_context(data.tls) if data.security != "none" else None,
        validate_certs=data.tls == "verify",
        timeout=CONNECT_TIMEOUT,
    )
    await client.connect()
    try:
        if data.username:
            await client.login(data.username, data.password.get_secret_value() if data.password else "")
    finally:
        await client.quit()
    return f"connected to {data.host}:{data.port} ({data.security})" + (
        f" and logged in as {data.username}" if data.username else ""
    )
