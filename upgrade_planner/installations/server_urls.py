"""Octopus server URLs as users give them: http(s)://host[:port][/path]."""

import re
from urllib.parse import urlsplit

_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?)$")


def clean_server_url(text: str) -> str:
    """Return the URL without surrounding spaces or a trailing slash, or raise ValueError.

    Private and loopback addresses are valid: the planner runs beside the servers it checks.
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
    return value.rstrip("/")
