"""Octopus server URLs as users give them: http(s)://host[:port][/path]."""

import ipaddress
import re
from urllib.parse import urlsplit

from upgrade_planner.installations import targets

_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?)$")
# A last label that makes a host an IPv4 address to URL parsers and resolvers (decimal, or hex
# with 0x): such a host is an address, whatever form it is written in.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def clean_server_url(text: str) -> str:
    """Return the URL without surrounding spaces or a trailing slash, or raise ValueError.

    Private and loopback addresses are valid: the planner runs beside the servers it checks.
    An IPv4 address must be written as four decimal numbers: `2130706433`, `0x7f000001`,
    `127.1` and `0177.0.0.1` all mean 127.0.0.1 to some programs and other things (or nothing)
    to others. An address in a network the planner is set not to connect to is refused here,
    with the reason; a host name is checked when it is connected to.
    """
    value = text.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f'"{value}" is not a valid URL: check the port number.') from None
    if parts.scheme not in {"http", "https"}:
        raise ValueError(
            f'"{value}" must start with http:// or https://, e.g. https://octopus.corp:443.'
        )
    host = parts.netloc.rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if port is not None else host
    if parts.username or parts.password:
        raise ValueError(f'"{value}" must not contain a user name or password.')
    if not host or not _HOST.match(host):
        raise ValueError(f'"{value}" has no valid host name.')
    if parts.query or parts.fragment:
        raise ValueError(f'"{value}" must not have a ?query or #fragment.')
    address = _address(value, host)
    if address is not None and (reason := targets.refusal(address)) is not None:
        raise ValueError(f'"{value}" cannot be checked: {reason}.')
    return value.rstrip("/")


def _address(value: str, host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` is written as, None for a host name; ValueError for an address in
    an ambiguous form."""
    if host.startswith("["):
        try:
            return ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f'"{value}" has no valid host name.') from None
    if not _NUMERIC_LABEL.match(host.rstrip(".").rsplit(".", 1)[-1]):
        return None
    try:
        # Only the four-decimal form parses: no hex, octal (leading zeros) or short forms.
        return ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(
            f'"{value}" writes an IP address in a form that programs read differently. Write '
            "it as four numbers from 0 to 255, e.g. http://192.168.1.10:8080."
        ) from None
