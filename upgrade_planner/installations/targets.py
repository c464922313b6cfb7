"""Which addresses the planner may connect to when it checks servers and Tentacles.

The planner runs beside the servers it checks, so loopback and private addresses are fine. What
it must never reach on behalf of whoever typed a URL or an inventory is a network the operator
has ruled out: by default the link-local ranges, where cloud metadata services answer
(169.254.169.254 and the like) with credentials of the machine the planner runs on.

`VERIFY_DENIED_NETWORKS` lists the networks refused, always; `VERIFY_ALLOWED_NETWORKS`, when set,
is the only place connections may go. A host name is resolved, every address it resolves to is
checked, and the connection goes to an address that was checked: the answer a second lookup
might give (DNS rebinding) never matters.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# One answer of socket.getaddrinfo: family, kind, protocol, canonical name, socket address.
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


class TargetRefused(OSError):
    """The address is in a network the planner is configured not to connect to. An OSError, so
    that every caller that handles a failed connection handles this one too."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@functools.cache
def _networks(texts: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(text, strict=False) for text in texts)


def denied_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.VERIFY_DENIED_NETWORKS))


def allowed_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.VERIFY_ALLOWED_NETWORKS))


def _as_checked(address: IPAddress) -> Iterable[IPAddress]:
    """The address and, for an IPv4-mapped IPv6 address (::ffff:169.254.169.254), the IPv4
    address it reaches."""
    yield address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        yield address.ipv4_mapped


def refusal(address: IPAddress | str) -> str | None:
    """Why the planner will not connect to `address`, or None when it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    for candidate in _as_checked(ip):
        for network in denied_networks():
            if candidate.version == network.version and candidate in network:
                return (
                    f"{ip} is in {network}, a network this planner is set not to connect to "
                    "(VERIFY_DENIED_NETWORKS)"
                )
    allowed = allowed_networks()
    if allowed and not any(
        candidate.version == network.version and candidate in network
        for candidate in _as_checked(ip)
        for network in allowed
    ):
        return (
            f"{ip} is outside the networks this planner is set to connect to "
            "(VERIFY_ALLOWED_NETWORKS)"
        )
    return None


def resolve_checked(host: str, port: int) -> Sequence[AddrInfo]:
    """The addresses of `host` to connect to on `port`, each one checked. Raises TargetRefused
    when any address `host` resolves to is refused (a name that also points somewhere it must
    not is not trusted for the rest), and socket.gaierror when it does not resolve."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in found:
        reason = refusal(str(sockaddr[0]))
        if reason is not None:
            shown = host.strip("[]")
            where = reason if shown == str(sockaddr[0]) else f"{shown} resolves to {reason}"
            raise TargetRefused(f"{where[0].upper()}{where[1:]}.")
    return found


def create_connection(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """socket.create_connection, but only to checked addresses (see resolve_checked)."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in resolve_checked(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            # http.client passes a sentinel object for "the default timeout".
            if isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as failed:
            sock.close()
            error = failed
    raise error or OSError(f"{host} has no address to connect to.")
