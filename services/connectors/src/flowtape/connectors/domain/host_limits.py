"""Per-host limits on outgoing requests (``FLOWTAPE_EGRESS_RATE_LIMITS``): which limit a host falls under.

How the permits of a limit are taken and given back, in this process or shared through PostgreSQL, is
:mod:`flowtape.connectors.rate_limits`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowtape.common.credentials import RateLimit

_HOST_LIMIT = re.compile(r"^\s*(?P<host>[A-Za-z0-9*.\-]+)\s*=\s*(?P<rate>[0-9.]+)\s*/\s*s(?::(?P<burst>\d+))?\s*$")


@dataclass(frozen=True)
class HostLimits:
    """``api.example.com=10/s:20,*.slack.com=1/s``: requests per second and burst, by host or domain."""

    limits: tuple[tuple[str, RateLimit], ...] = ()

    @classmethod
    def parse(cls, setting: str) -> HostLimits:
        found: list[tuple[str, RateLimit]] = []
        for entry in filter(str.strip, setting.split(",")):
            match = _HOST_LIMIT.match(entry)
            if match is None:
                raise ValueError(f"FLOWTAPE_EGRESS_RATE_LIMITS: {entry!r} is not host=<n>/s[:burst]")
            rate = RateLimit(per_second=float(match["rate"]), burst=int(match["burst"] or 1))
            found.append((match["host"].lower().removeprefix("*"), rate))
        return cls(tuple(found))

    def of(self, host: str) -> tuple[str, RateLimit] | None:
        host = host.lower()
        for pattern, limit in self.limits:
            if host == pattern or (pattern.startswith(".") and host.endswith(pattern)):
                return pattern, limit
        return None
