"""Mail auth sends itself (reset and verification links), over the platform's SMTP server.

A :class:`Mailer` is the seam: :class:`SmtpMailer` in production, anything with ``send`` in tests. The links
carry secrets, so neither a message's body nor its link is ever logged.
"""

from __future__ import annotations

import logging
import ssl
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from flowtape.auth.settings import MailSettings

log = logging.getLogger("flowtape.auth.mail")


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class SmtpMailer:
    def __init__(self, settings: MailSettings) -> None:
        self._settings = settings

    @property
    def configured(self) -> bool:
        return bool(self._settings.smtp_host)

    async def send(self, to: str, subject: str, body: str) -> None:
        settings = self._settings
        if not settings.smtp_host:
            log.warning("FLOWTAPE_SMTP_HOST is not set: a %r mail was not sent", subject)
            return
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        context = ssl.create_default_context()
        if not settings.smtp_verify_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            use_tls=settings.smtp_security == "tls",
            start_tls=True if settings.smtp_security == "starttls" else False,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls_context=context if settings.smtp_security != "none" else None,
            timeout=settings.smtp_timeout_seconds,
        )
