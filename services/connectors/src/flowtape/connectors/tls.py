"""TLS contexts for the connectors' non-HTTP clients, from a credential's ``tls`` mode."""

from __future__ import annotations

import ssl

from flowtape.common.credentials import TlsMode


def client_context(mode: TlsMode) -> ssl.SSLContext | None:
    """None for ``disable``; an unverified context for ``require``; the system's verifying one for ``verify``."""
    if mode == "disable":
        return None
    context = ssl.create_default_context()
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
