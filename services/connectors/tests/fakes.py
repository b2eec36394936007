"""Stand-ins for the outside world the connectors' tests talk to, and the guard setting that lets them."""

from __future__ import annotations

from flowtape.common.egress import EgressPolicy

#: the test servers' own address, allowed through the SSRF guard as an operator would allow an internal API
LOCAL_SERVERS = EgressPolicy.parse("127.0.0.1")
