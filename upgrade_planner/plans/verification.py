"""Checking the Octopus servers and Tentacles a plan is about: reads only, with timeouts.

HTTP goes through the installations app's OctopusClient, which sends an API key only to the
server it was given for (no proxies, no redirects or page links to another origin). Every
connection, HTTP or a port probe, goes only to addresses that `installations.targets` allows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from upgrade_planner.installations import api_keys
from upgrade_planner.installations.octopus import (
    OctopusClient,
    OctopusFetchError,
    read_readiness,
)
from upgrade_planner.installations.targets import TargetRefused, create_connection


class VerificationError(Exception):
    """A check could not be made. `transient` errors are worth retrying."""

    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(VerificationError):
    transient = True


def _reading(action: Callable[[], Any]) -> Any:
    """Run a read against Octopus, turning the client's errors into this module's."""
    try:
        return action()
    except OctopusFetchError as error:
        raise (TransientError if error.transient else VerificationError)(error.message) from None


def server_version(server_url: str, *, timeout: float) -> str:
    """The `Version` that `GET <server>/api` reports (no key needed)."""
    client: OctopusClient = _reading(lambda: OctopusClient(server_url, "", timeout=timeout))
    document = _reading(lambda: client.get_json(client.url_for("~/api")))
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


def stored_api_key(stored_key: str, server_url: str) -> str:
    """The API key kept (encrypted) for `server_url`. A key that this server can no longer
    decrypt fails the check with what to do: it is never sent as an empty header."""
    try:
        api_key = api_keys.decrypt(stored_key)
    except api_keys.UnreadableKey:
        raise VerificationError(
            f"The API key for {server_url} is {api_keys.UNREADABLE}. It was encrypted with a "
            "key this planner no longer has (API_KEY_ENCRYPTION_KEYS, or SECRET_KEY without "
            "the old one in SECRET_KEY_FALLBACKS)."
        ) from None
    if not api_key:
        raise VerificationError(f"No API key is stored for {server_url}.")
    return api_key


def machines(server_url: str, *, stored_key: str, timeout: float) -> list[MachineStatus]:
    """Every machine `GET <server>/api/machines` lists, following its pages, read with the API
    key stored (encrypted) for the server."""
    api_key = stored_api_key(stored_key, server_url)
    client: OctopusClient = _reading(lambda: OctopusClient(server_url, api_key, timeout=timeout))
    items = _reading(lambda: client.collection("api/machines", "machines", lambda _: None))
    found: list[MachineStatus] = []
    for item in items:
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
            with create_connection((host, port), timeout=timeout):
                return PortProbe(host, port, True, f"{host}:{port} accepts connections")
        except TargetRefused as refused:
            return PortProbe(host, port, False, f"{host}:{port} was not probed: {refused}")
        except OSError as error:
            return PortProbe(
                host, port, False, f"{host}:{port} did not accept a connection ({error})"
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(probe, targets))


def readiness_facts(server_url: str, *, api_key: str, timeout: float) -> dict[str, Any]:
    """What the readiness scan reads from the live server (installations.octopus)."""
    facts: dict[str, Any] = _reading(lambda: read_readiness(server_url, api_key, timeout=timeout))
    return facts
