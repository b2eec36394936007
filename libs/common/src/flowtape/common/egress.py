"""The SSRF guard: which addresses a node (or a trigger) may open a connection to.

A workflow author chooses the URLs and hosts a workflow talks to; without a guard they could make the
platform reach what only it can reach: its own services on loopback, the cloud's metadata endpoint
(169.254.169.254), the private network it runs in. So every outgoing connection of a node is checked
*after* DNS resolution, and the connection is then opened to the checked address itself, never to the name
again (a name that resolves to a public address for the check and to 127.0.0.1 a moment later gains
nothing). HTTP redirects open new connections, which go through the same check.

Refused unless allowed: every address that is not globally routable (loopback, link-local, private,
unique-local, shared/CGNAT, documentation, reserved, unspecified) and multicast. IPv4-mapped IPv6 addresses
are judged as the IPv4 address they carry. A host whose names resolve to several addresses is refused when
any of them is.

``FLOWTAPE_EGRESS_ALLOW`` (comma separated) opens what an operator chooses: CIDRs (``10.20.0.0/16``,
``127.0.0.1``, ``::1``) and host names (``db.internal``; ``.corp.example`` or ``*.corp.example`` for a
domain and every name under it). An allowed host name may resolve to any address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from flowtape.common.errors import EgressRefused, NodeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOW_SETTING = "FLOWTAPE_EGRESS_ALLOW"


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_public(address: IPAddress) -> bool:
    address = _unmapped(address)
    return address.is_global and not address.is_multicast


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class EgressPolicy:
    """Where outgoing connections may go: public addresses, plus the networks and hosts allowed."""

    networks: tuple[IPNetwork, ...] = ()
    #: exact host names, and domain suffixes (kept with their leading dot)
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, allow: str | Iterable[str]) -> EgressPolicy:
        """From ``FLOWTAPE_EGRESS_ALLOW``'s notation; ValueError names an entry that is neither a CIDR nor a host."""
        entries = allow.split(",") if isinstance(allow, str) else list(allow)
        networks: list[IPNetwork] = []
        hosts: list[str] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = _host_key(entry.removeprefix("*"))
            label = name.lstrip(".")
            if not label or any(not part or len(part) > 63 for part in label.split(".")) or "/" in name:
                raise ValueError(f"{ALLOW_SETTING}: {entry!r} is neither a CIDR nor a host name")
            hosts.append(name)
        return cls(tuple(networks), tuple(hosts))

    def allows_host(self, host: str) -> bool:
        name = _host_key(host)
        return any(name == allowed or (allowed.startswith(".") and name.endswith(allowed)) for allowed in self.hosts)

    def allows_address(self, address: IPAddress) -> bool:
        if _is_public(address):
            return True
        candidates = {address, _unmapped(address)}
        return any(candidate in network for network in self.networks for candidate in candidates)

    def check(self, host: str, addresses: Iterable[str]) -> list[str]:
        """``addresses`` (what ``host`` resolved to) when every one may be reached; else EgressRefused."""
        found = list(dict.fromkeys(addresses))
        if self.allows_host(host):
            return found
        for text in found:
            if not self.allows_address(ipaddress.ip_address(text.split("%", 1)[0])):
                shown = host if _host_key(host) == text else f"{host} ({text})"
                raise EgressRefused(
                    f"refused to connect to {shown}: it is a loopback, link-local, private or otherwise internal "
                    f"address, which workflows may not reach; an operator can allow it with {ALLOW_SETTING}",
                    details={"host": host, "address": text},
                )
        return found

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` to connect to, checked; NodeError when it does not resolve."""
        name = _host_key(host)
        try:
            literal = ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            return self.check(host, [str(literal)])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise NodeError(f"cannot resolve the host {host!r}: {exc}; check its name and DNS") from None
        return self.check(host, [str(info[4][0]) for info in infos])

    async def address(self, host: str, port: int) -> str:
        """The first checked address of ``host``: what a client that takes one host should connect to."""
        return (await self.resolve(host, port))[0]


#: the default: public addresses only
PUBLIC_ONLY = EgressPolicy()
