"""Talking to the Octopus servers and Tentacles a plan is about: reads only, with timeouts.

API keys go only to the server URL they were given for: redirects are refused (urllib would
otherwise repeat the key to wherever the server points), and "next page" links must stay on
the same origin.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

PAGE_LIMIT = 200  # pages of machines read at most (30-100 machines a page)


class VerificationError(Exception):
    """A check could not be made. `transient` errors are worth retrying."""

    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(VerificationError):
    transient = True


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise VerificationError(
            f"{req.full_url} redirected to {newurl}; give the planner the final address."
        )


_OPENER = urllib.request.build_opener(_NoRedirects)


def get_json(url: str, *, api_key: str = "", timeout: float) -> Any:
    """GET `url` and decode its JSON, turning every failure into a VerificationError."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    if api_key:
        request.add_header("X-Octopus-ApiKey", api_key)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(20 * 1024 * 1024)
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise VerificationError(
                f"{_origin(url)} refused the API key (HTTP {error.code}). Check the key and "
                "that its user may view machines."
            ) from None
        if error.code >= 500 or error.code == 429:
            raise TransientError(f"{_origin(url)} answered HTTP {error.code}.") from None
        raise VerificationError(
            f"{url} answered HTTP {error.code}: is this the Octopus server's address?"
        ) from None
    except TimeoutError:
        raise TransientError(f"{_origin(url)} did not answer within {timeout:g} s.") from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise TransientError(f"{_origin(url)} did not answer within {timeout:g} s.") from None
        if isinstance(reason, ConnectionError | OSError):
            raise TransientError(f"Could not connect to {_origin(url)}: {reason}.") from None
        raise TransientError(f"Could not reach {_origin(url)}: {reason}.") from None
    except (ConnectionError, OSError) as error:
        raise TransientError(f"Could not connect to {_origin(url)}: {error}.") from None
    try:
        return json.loads(body)
    except ValueError:
        raise VerificationError(
            f"{url} did not answer with JSON: is this the Octopus server's address?"
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def server_version(server_url: str, *, timeout: float) -> str:
    """The `Version` that `GET <server>/api` reports (no key needed)."""
    document = get_json(f"{server_url}/api", timeout=timeout)
    version = document.get("Version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version:
        raise VerificationError(f"{server_url}/api has no Version field: is this Octopus?")
    return version


@dataclass(frozen=True)
class MachineStatus:
    name: str
    healthy: bool
    status: str  # as Octopus put it, e.g. "Healthy", "Unavailable", "Offline"
    tentacle_version: str


def machines(server_url: str, *, api_key: str, timeout: float) -> list[MachineStatus]:
    """Every machine `GET <server>/api/machines` lists, following its pages."""
    found: list[MachineStatus] = []
    for item in _machine_items(server_url, api_key=api_key, timeout=timeout):
        name = item.get("Name")
        if not isinstance(name, str):
            continue
        health = str(item.get("HealthStatus") or item.get("Status") or "")
        endpoint: dict[str, Any] = item.get("Endpoint") or {}
        if not isinstance(endpoint, dict):
            endpoint = {}
        details = endpoint.get("TentacleVersionDetails") or item.get("TentacleVersionDetails")
        version = ""
        if isinstance(details, dict):
            version = str(details.get("Version") or "")
        version = version or str(item.get("TentacleVersion") or "")
        healthy = health in {"Healthy", "HasWarnings", "Online"} and not item.get("IsDisabled")
        found.append(
            MachineStatus(name=name, healthy=healthy, status=health, tentacle_version=version)
        )
    return found


def _machine_items(server_url: str, *, api_key: str, timeout: float) -> Iterator[dict[str, Any]]:
    url = f"{server_url}/api/machines?skip=0&take=100"
    for _ in range(PAGE_LIMIT):
        page = get_json(url, api_key=api_key, timeout=timeout)
        if isinstance(page, list):  # some older servers answer a plain list
            yield from (item for item in page if isinstance(item, dict))
            return
        if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
            raise VerificationError(
                f"{server_url}/api/machines did not answer with a list of machines."
            )
        yield from (item for item in page["Items"] if isinstance(item, dict))
        links: dict[str, Any] = page.get("Links") or {}
        if not isinstance(links, dict):
            links = {}
        following = links.get("Page.Next")
        if not following:
            return
        next_url = urljoin(url, str(following))
        if _origin(next_url) != _origin(server_url):
            raise VerificationError("The next page of machines points at another server; stopped.")
        url = next_url


@dataclass(frozen=True)
class PortProbe:
    host: str
    port: int
    reachable: bool
    detail: str


def probe_ports(targets: list[tuple[str, int]], *, timeout: float) -> list[PortProbe]:
    """Try a TCP connection to each listening Tentacle, a few at a time."""

    def probe(target: tuple[str, int]) -> PortProbe:
        host, port = target
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return PortProbe(host, port, True, f"{host}:{port} accepts connections")
        except OSError as error:
            return PortProbe(
                host, port, False, f"{host}:{port} did not accept a connection ({error})"
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(probe, targets))
