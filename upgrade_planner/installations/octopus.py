"""Reading the Tentacle inventory from an Octopus server's REST API.

`read_inventory` does the I/O (stdlib urllib, a timeout on every request, the API key in the
`X-Octopus-ApiKey` header and nowhere else); `rows_from_machines` is the pure mapping from the
API's machine resources to inventory rows, and `split_valid_rows` runs those rows through the
same validation as a CSV import.

Shapes accepted (domain facts §i): the 3.x+ machine resource, with `Endpoint.CommunicationStyle`
(`TentaclePassive` = listening, `TentacleActive` = polling), `Endpoint.Uri`, `HealthStatus` and
`Endpoint.TentacleVersionDetails.Version`; and the older flat fields, `CommunicationStyle`,
`Uri` and `Status`, which 2.x servers are believed to send (no 2.x client source confirms
them). A machine whose shape is not understood is reported with the reason, never guessed at.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException, HTTPMessage
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from upgrade_planner.domain import inventory
from upgrade_planner.domain.vocabulary import OCTOPUS_STYLE_NAMES, CommunicationStyle
from upgrade_planner.installations import targets

PAGE_SIZE = 500
MAX_PAGES = 200
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = "octopus-upgrade-planner"

# Deployment targets that are not Tentacles: nothing of this upgrade applies to them.
_NOT_TENTACLES = {
    "ssh": "an SSH target",
    "offlinedrop": "an offline package drop",
    "azurecloudservice": "an Azure cloud service",
    "azurewebapp": "an Azure web app",
    "azureservicefabriccluster": "an Azure Service Fabric cluster",
    "ftp": "an FTP target",
    "kubernetes": "a Kubernetes cluster",
    "kubernetestentacle": "a Kubernetes agent",
    "stepspackage": "a step package target",
    "none": "a cloud region",
}
_OFFLINE_STATUSES = {"offline", "disabled"}
_OFFLINE_HEALTH = {"unavailable"}
_TEMPLATE = re.compile(r"\{[^}]*\}")
# What a header value may hold without http.client refusing it (with the value in the error)
# or a line break starting another header: printable ASCII, no spaces.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class OctopusFetchError(Exception):
    """Reading the server failed; `message` says what happened and what to try. `transient`
    errors (timeouts, refused connections, 5xx answers) may succeed if tried again."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class FetchedInventory:
    server_version: str
    rows: list[dict[str, Any]]  # API row shape, only the fields the server reported
    unrecognised: list[dict[str, str]] = field(default_factory=list)  # {"name", "reason"}
    machines: int = 0


Progress = Callable[[str], None]


def _no_progress(text: str) -> None:
    return None


Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, the port filled in when the URL leaves it out
    and the host in lower case without a trailing dot; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. "http://[::1" or a port that is not a number
        return None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or (443 if scheme == "https" else 80)


def cross_origin_reason(origin: Origin, url: str) -> str | None:
    """Why `url` is not on `origin`, in words for the user; None when it is."""
    target = origin_of(url)
    if target == origin:
        return None
    if target is None:
        return "an address that is not http(s)"
    scheme, host, port = target
    if host != origin[1]:
        return f"another site ({host})"
    if scheme != origin[0]:
        return f"{scheme}:// instead of {origin[0]}://"
    return f"another port ({port} instead of {origin[2]})"


class SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same origin: scheme, host and port. A different port is
    another service, and https → http would send the key in the clear."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        origin = origin_of(req.full_url)
        try:
            target = urljoin(req.full_url, newurl)
        except ValueError:
            target = ""  # not an address at all
        reason = cross_origin_reason(origin, target) if origin else "an address that is not http(s)"
        if reason is not None:
            raise OctopusFetchError(
                f"The server redirected to {reason}. The API key is only sent to the server "
                "you named: give the address the redirect leads to instead."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _ApiKeyForOrigin(urllib.request.BaseHandler):
    """Puts the API key on each request to the client's own origin, as it is sent, and on no
    other: urllib copies a request's ordinary headers onto every redirected request, so a key
    put there would go wherever a redirect leads, guarded by nothing but the redirect check."""

    handler_order = 600  # after the default processors, just before the request is sent

    def __init__(self, origin: Origin, api_key: str) -> None:
        self.origin = origin
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"_ApiKeyForOrigin({self.origin!r})"

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        if self._api_key and origin_of(request.full_url) == self.origin:
            request.add_unredirected_header("X-Octopus-ApiKey", self._api_key)
        return request

    https_request = http_request


# http.client opens its socket through the connection's `_create_connection`; pointing that at
# targets.create_connection checks the very address connected to, after any redirect, and not
# one that a second DNS lookup might have given.
class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = targets.create_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = targets.create_connection


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    """Connects only to addresses that targets.resolve_checked allows."""

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    """Connects only to addresses that targets.resolve_checked allows, with TLS checked as
    usual."""

    def __init__(self) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPSConnection, req, context=self._tls)


def _api_key_problem(api_key: str) -> str | None:
    """Why `api_key` cannot go in a header, in words that never quote it."""
    if api_key and not _HEADER_SAFE.fullmatch(api_key):
        return (
            "The API key has characters an API key cannot have (spaces, line breaks or "
            "other control characters). Copy it again from your Octopus profile."
        )
    return None


class OctopusClient:
    def __init__(self, server_url: str, api_key: str, *, timeout: float) -> None:
        self.base = server_url.rstrip("/")
        parts = urlsplit(self.base)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname or self.base
        self.timeout = timeout
        problem = _api_key_problem(api_key)
        if problem is not None:
            # Refused here, before http.client would raise an error that quotes the value.
            raise OctopusFetchError(problem)
        origin = origin_of(self.base)
        if origin is None:
            raise OctopusFetchError(f"{self.base} is not an http(s) address.")
        self._origin = origin
        # No proxies from the environment: the planner runs beside the servers it reads, and a
        # proxy would see the API key.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            SameOriginRedirects(),
            _ApiKeyForOrigin(origin, api_key),
            _CheckedHTTPHandler(),
            _CheckedHTTPSHandler(),
        )

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"OctopusClient({self.base!r})"

    def url_for(self, link: str) -> str:
        """An absolute URL for a link from the API: "~/api/..." is relative to the server's
        root (which may have a virtual directory), "/api/..." to its host."""
        link = _TEMPLATE.sub("", link)
        if link.startswith("~/"):
            return f"{self.base}/{link[2:]}"
        try:
            url = urljoin(self.origin + "/", link)
        except ValueError:
            raise OctopusFetchError(
                "The server's answer links to an address that is not valid; the planner does "
                "not follow it."
            ) from None
        reason = cross_origin_reason(self._origin, url)
        if reason is not None:
            raise OctopusFetchError(
                f"The server's answer links to {reason}; the planner does not follow it with "
                "your API key."
            )
        return url

    def get_json(self, url: str) -> Any:
        if urlsplit(url).scheme not in {"http", "https"}:
            raise OctopusFetchError(f"{url} is not an http(s) address.")
        reason = cross_origin_reason(self._origin, url)
        if reason is not None:
            raise OctopusFetchError(f"{url} is on {reason}; the planner only reads {self.base}.")
        # The API key is added by _ApiKeyForOrigin, for this origin only.
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked: http(s) only
            url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except OctopusFetchError:
            raise
        except urllib.error.HTTPError as error:
            raise _http_error(error.code, url) from None
        except TimeoutError:
            raise self._timed_out() from None
        except urllib.error.URLError as error:
            raise self._unreachable(error.reason) from None
        except (HTTPException, OSError) as error:
            raise self._unreachable(error) from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise OctopusFetchError(
                f"The answer from {url} is larger than {MAX_RESPONSE_BYTES // 1_048_576} MB; "
                "that is not an Octopus API answer. Check the server URL."
            )
        try:
            return json.loads(body)
        except ValueError:
            raise OctopusFetchError(
                f"The answer from {url} is not JSON. Check that the server URL is the address "
                "of the Octopus web portal (not a sign-in page of a proxy in front of it)."
            ) from None

    def _timed_out(self) -> OctopusFetchError:
        return OctopusFetchError(
            f"{self.host} did not answer within {self.timeout:g} seconds. Check that the Octopus "
            "server is running and not overloaded, then try again.",
            transient=True,
        )

    def _unreachable(self, reason: object) -> OctopusFetchError:
        if isinstance(reason, TimeoutError):
            return self._timed_out()
        if isinstance(reason, targets.TargetRefused):
            return OctopusFetchError(
                f"The planner did not connect to {self.host}: {reason.message} Ask whoever "
                "runs the planner whether this address should be allowed."
            )
        if isinstance(reason, socket.gaierror):
            return OctopusFetchError(
                f"The host name {self.host} could not be found. Check the spelling of the "
                "server URL, and that this machine uses a DNS server that knows it."
            )
        if isinstance(reason, ssl.SSLCertVerificationError):
            return OctopusFetchError(
                f"The TLS certificate of {self.host} is not trusted by this machine "
                f"({reason.verify_message}). Add the certificate authority that issued it to "
                "this machine's trust store, or use the server's http:// address if it has one."
            )
        if isinstance(reason, ssl.SSLError):
            return OctopusFetchError(
                f"A secure connection to {self.host} could not be made ({reason}). Check that "
                "the URL's scheme (http or https) and port are the ones the server uses."
            )
        if isinstance(reason, ConnectionRefusedError):
            detail = "the connection was refused"
        else:
            detail = str(reason) or type(reason).__name__
        return OctopusFetchError(
            f"Could not connect to {self.host}: {detail}. Check the server URL and port, and "
            "that this machine can reach the server (firewall, VPN).",
            transient=True,
        )

    def collection(self, path: str, what: str, progress: Progress) -> list[dict[str, Any]]:
        """Every item of a paged collection, following `Links["Page.Next"]`."""
        items: list[dict[str, Any]] = []
        url: str | None = self.url_for(f"~/{path}?skip=0&take={PAGE_SIZE}")
        seen: set[str] = set()
        pages = 0
        while url is not None:
            if url in seen or pages >= MAX_PAGES:
                raise OctopusFetchError(
                    f"The server's list of {what} does not end (page links go round in "
                    f"circles after {pages} pages). Report this with the server's version."
                )
            seen.add(url)
            pages += 1
            page = self.get_json(url)
            page_items = _page_items(page, url, what)
            items.extend(page_items)
            total = page.get("TotalResults")
            total_text = f" of {total:,}" if isinstance(total, int) else ""
            progress(f"Read {len(items):,}{total_text} {what}")
            if len(items) > settings.PLAN_MAX_TENTACLES:
                raise OctopusFetchError(
                    f"The server has more than {settings.PLAN_MAX_TENTACLES:,} {what}; the "
                    f"planner handles at most {settings.PLAN_MAX_TENTACLES:,} Tentacles in one "
                    "plan."
                )
            url = self._next_page(page, url, len(items), len(page_items))
        return items

    def _next_page(
        self, page: Mapping[str, Any], url: str, collected: int, on_page: int
    ) -> str | None:
        links = page.get("Links")
        if isinstance(links, Mapping):
            link = links.get("Page.Next")
            if isinstance(link, str) and link:
                return self.url_for(link)
            if "Page.Next" in links or "Page.Current" in links:
                return None  # a paged answer without a next page: this was the last one
        # No page links at all (older servers): ask for the next slice while the total says
        # there is more and the server keeps sending items.
        total = page.get("TotalResults")
        if isinstance(total, int) and collected < total and on_page:
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}{parts.path}?skip={collected}&take={PAGE_SIZE}"
        return None


def _http_error(status: int, url: str) -> OctopusFetchError:
    if status in (401, 403):
        return OctopusFetchError(
            f"The server refused the API key (HTTP {status}). Check that the key is copied "
            "whole, has not expired or been revoked, and belongs to a user who may view "
            "machines and environments."
        )
    if status == 404:
        return OctopusFetchError(
            f"There is no Octopus API at {url} (HTTP 404). Check the server URL: it is the "
            "address of the Octopus web portal, including any virtual directory, e.g. "
            "https://octopus.corp or https://intranet.corp/octopus."
        )
    if status == 429 or status >= 500:
        return OctopusFetchError(
            f"The server answered HTTP {status} for {url}: it is busy or having trouble. "
            "Try again in a few minutes; the Octopus server log says more.",
            transient=True,
        )
    return OctopusFetchError(f"The server answered HTTP {status} for {url}, which was unexpected.")


def _page_items(page: Any, url: str, what: str) -> list[dict[str, Any]]:
    if isinstance(page, Mapping) and isinstance(page.get("Items"), list):
        return [item if isinstance(item, dict) else {"": item} for item in page["Items"]]
    raise OctopusFetchError(
        f'The answer from {url} is not a list of {what} (no "Items" in it). Check the '
        "server URL points at the Octopus server itself."
    )


@sensitive_variables("api_key")
def read_inventory(
    server_url: str, api_key: str, *, timeout: float, progress: Progress = _no_progress
) -> FetchedInventory:
    """Read the server's version, environments and machines, and map them to inventory rows.
    Raises OctopusFetchError."""
    client = OctopusClient(server_url, api_key, timeout=timeout)
    progress("Reading the server version")
    root = client.get_json(client.url_for("~/api"))
    version = root.get("Version") if isinstance(root, Mapping) else None
    if not isinstance(version, str) or not version.strip():
        raise OctopusFetchError(
            f"The answer from {client.base}/api has no Octopus version in it. Check the "
            "server URL is the address of the Octopus web portal."
        )
    progress("Reading environments")
    environments = client.collection("api/environments", "environments", progress)
    progress("Reading machines")
    machines = client.collection("api/machines", "machines", progress)
    environment_names = {
        str(env["Id"]): str(env["Name"])
        for env in environments
        if isinstance(env.get("Id"), str) and isinstance(env.get("Name"), str)
    }
    rows, unrecognised = rows_from_machines(machines, environment_names)
    valid, invalid = split_valid_rows(rows)
    return FetchedInventory(
        server_version=version.strip()[:40],
        rows=valid,
        unrecognised=unrecognised + invalid,
        machines=len(machines),
    )


# ---------------------------------------------------------------------------------------------
# Mapping (pure)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _host_and_port(uri: str) -> tuple[str, int | None]:
    """The host name as written (urlsplit lower-cases it) and the port of a Tentacle URI."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if netloc.startswith("["):
        host = netloc[: netloc.find("]") + 1]
    else:
        host = netloc.rsplit(":", 1)[0] if ":" in netloc else netloc
    try:
        port = parts.port
    except ValueError:
        port = None
    return host, port


def _unrecognised(machine: Mapping[str, Any], reason: str) -> dict[str, str]:
    name = _text(machine.get("Name")) or _text(machine.get("Id")) or "(a machine with no name)"
    return {"name": name[:200], "reason": reason}


def machine_row(
    machine: Mapping[str, Any], environment_names: Mapping[str, str]
) -> dict[str, Any] | str:
    """An inventory row for one machine resource, or the reason it cannot be one."""
    name = _text(machine.get("Name"))
    if not name:
        return "It has no name."
    endpoint = machine.get("Endpoint")
    endpoint = endpoint if isinstance(endpoint, Mapping) else {}
    style_text = _text(endpoint.get("CommunicationStyle")) or _text(
        machine.get("CommunicationStyle")
    )
    if style_text is None:
        return "It has no communication style, so it is not clear that it is a Tentacle."
    style = OCTOPUS_STYLE_NAMES.get(style_text.lower())
    if style is None:
        kind = _NOT_TENTACLES.get(style_text.lower())
        if kind is not None:
            return f"It is {kind}, not a Tentacle."
        return f"Its communication style “{style_text[:60]}” is not one the planner knows."

    row: dict[str, Any] = {"name": name, "communication_style": style}
    uri = _text(endpoint.get("Uri")) or _text(machine.get("Uri"))
    if style == CommunicationStyle.LISTENING:
        # A polling Tentacle's URI (poll://SQ-…/) names its subscription, not its host.
        if not uri or urlsplit(uri).scheme.lower() not in {"http", "https"}:
            return "It is a listening Tentacle without an https:// address."
        host, port = _host_and_port(uri)
        row["hostname"] = host
        if port is not None:
            row["port"] = port

    environment_ids = machine.get("EnvironmentIds")
    if environment_ids is not None:
        if not isinstance(environment_ids, list):
            return "Its EnvironmentIds is not a list."
        unknown = [str(i) for i in environment_ids if str(i) not in environment_names]
        if unknown:
            return (
                f"It is in environment {', '.join(unknown[:3])}, which the server's list of "
                "environments does not include (does the API key's user see every environment?)."
            )
        row["environments"] = [environment_names[str(i)] for i in environment_ids]
    roles = machine.get("Roles")
    if roles is not None:
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            return "Its Roles is not a list of names."
        row["roles"] = roles

    details = endpoint.get("TentacleVersionDetails") or machine.get("TentacleVersionDetails")
    if isinstance(details, Mapping) and _text(details.get("Version")):
        row["version"] = _text(details.get("Version"))

    online = _online(machine)
    if online is not None:
        row["online"] = online
    return row


def _online(machine: Mapping[str, Any]) -> bool | None:
    """False for machines Octopus cannot reach or will not deploy to (Hydra cannot upgrade
    them: they go to the manual track); None when the server does not say."""
    if machine.get("IsDisabled") is True:
        return False
    status = (_text(machine.get("Status")) or "").lower()
    health = (_text(machine.get("HealthStatus")) or "").lower()
    if status in _OFFLINE_STATUSES or health in _OFFLINE_HEALTH:
        return False
    if status or health:
        return True
    return None


def rows_from_machines(
    machines: Iterable[Mapping[str, Any]], environment_names: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(rows, unrecognised) for the machine resources."""
    rows: list[dict[str, Any]] = []
    unrecognised: list[dict[str, str]] = []
    for machine in machines:
        if not isinstance(machine, Mapping):
            unrecognised.append({"name": "(not a machine)", "reason": "It is not an object."})
            continue
        result = machine_row(machine, environment_names)
        if isinstance(result, str):
            unrecognised.append(_unrecognised(machine, result))
        else:
            rows.append(result)
    return rows, unrecognised


_ROW_INDEX = re.compile(r"^tentacles\[(\d+)\]")


def split_valid_rows(
    rows: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The rows that pass the inventory's validation (the one the CSV import uses), and the
    others with the reasons. The second of two rows with the same name is reported."""
    try:
        inventory.parse_rows(rows, max_rows=settings.PLAN_MAX_TENTACLES)
    except inventory.InventoryInvalid as invalid:
        reasons: dict[int, list[str]] = {}
        for error in invalid.errors:
            match = _ROW_INDEX.match(error.field)
            if match is None:  # about the whole list, e.g. too many rows
                return [], [{"name": "(all machines)", "reason": error.message}]
            reasons.setdefault(int(match.group(1)), []).append(error.message)
        valid = [row for index, row in enumerate(rows) if index not in reasons]
        bad = [
            {"name": str(rows[index].get("name", ""))[:200], "reason": " ".join(messages)}
            for index, messages in sorted(reasons.items())
        ]
        return valid, bad
    return rows, []


# ---------------------------------------------------------------------------------------------
# The readiness scan: read-only facts of the live server (facts §k.7). Paths and fields as the
# Octopus client library names them (OctopusDeploy/OctopusClients: ServerStatusResource,
# SystemInfoResource, OctopusServerNodeResource, MachineResource; the route table's
# `~/api/serverstatus/system-info` and `~/api/licenses/licenses-current-status`).

READINESS_READS: dict[str, str] = {
    "server status": "api/serverstatus",
    "system info": "api/serverstatus/system-info",
    "HA nodes": "api/octopusservernodes",
    "license status": "api/licenses/licenses-current-status",
}


# An optional endpoint answering so is unknown, not a failed scan.
_UNKNOWN_WHEN = {
    "HTTP 404": "not found on this server",
    "HTTP 401": "the API key may not read it",
    "HTTP 403": "the API key may not read it",
    "not JSON": "not JSON",
}


def _date_text(value: Any) -> str | None:
    """An ISO date from a date or timestamp the server sent, or None."""
    text = _text(value)
    if not text:
        return None
    match = re.match(r"(\d{4}-\d{2}-\d{2})", text)
    return match[1] if match else None


def _optional_json(
    client: OctopusClient, path: str, what: str, unknown: list[str]
) -> Mapping[str, Any] | None:
    """The JSON object at `path`, or None (noted in `unknown`) when the server lacks the
    endpoint (404) or answers something that is not an object; other errors are raised."""
    url = client.url_for(f"~/{path}")
    try:
        body = client.get_json(url)
    except OctopusFetchError as error:
        for marker, why in _UNKNOWN_WHEN.items():
            if marker in error.message:
                unknown.append(f"{what} (/{path}: {why})")
                return None
        raise
    if not isinstance(body, Mapping):
        unknown.append(f"{what} (/{path}: not an object)")
        return None
    return body


@sensitive_variables("api_key")
def read_readiness(server_url: str, api_key: str, *, timeout: float) -> dict[str, Any]:
    """What the readiness rules want to know of the live server, as JSON (the domain's
    ScanFacts): its version, host OS, license maintenance expiry, HA nodes and machines. An
    endpoint the server lacks is listed in `unknown`, never a failure; a server that cannot be
    reached, refuses the key or answers garbage at `/api` raises OctopusFetchError."""
    client = OctopusClient(server_url, api_key, timeout=timeout)
    root = client.get_json(client.url_for("~/api"))
    version = root.get("Version") if isinstance(root, Mapping) else None
    if not isinstance(version, str) or not version.strip():
        raise OctopusFetchError(
            f"The answer from {client.base}/api has no Octopus version in it. Check the "
            "server URL is the address of the Octopus web portal."
        )
    unknown: list[str] = []
    status = _optional_json(client, READINESS_READS["server status"], "server status", unknown)
    system = _optional_json(client, READINESS_READS["system info"], "system info", unknown)
    nodes_page = _optional_json(client, READINESS_READS["HA nodes"], "HA nodes", unknown)
    license_status = _optional_json(
        client, READINESS_READS["license status"], "license status", unknown
    )
    expires = _date_text(status.get("MaintenanceExpires")) if status else None
    if expires is None and license_status:
        expires = _date_text(license_status.get("MaintenanceExpires"))
    if expires is None:
        unknown.append("license maintenance expiry (not reported)")
    os_version = (_text(system.get("OSVersion")) or "") if system else ""
    nodes = None
    if nodes_page is not None:
        items = nodes_page.get("Items")
        if isinstance(items, list):
            nodes = [
                {"name": str(node["Name"]), "running": node.get("IsOffline") is not True}
                for node in items
                if isinstance(node, Mapping) and isinstance(node.get("Name"), str)
            ]
        else:
            unknown.append("HA nodes (/api/octopusservernodes: no Items)")
    machines = None
    try:
        listed = client.collection("api/machines", "machines", _no_progress)
    except OctopusFetchError as error:
        if "HTTP 404" not in error.message and "Items" not in error.message:
            raise
        unknown.append("machines (/api/machines)")
    else:
        machines = []
        for machine in listed:
            name = _text(machine.get("Name"))
            if not name:
                continue
            endpoint = machine.get("Endpoint")
            details = (
                endpoint.get("TentacleVersionDetails") if isinstance(endpoint, Mapping) else None
            )
            tentacle = _text(details.get("Version")) if isinstance(details, Mapping) else None
            machines.append(
                {
                    "name": name[:200],
                    "version": (tentacle or "")[:40],
                    "os": (_text(machine.get("OperatingSystem")) or "")[:200],
                }
            )
    return {
        "server_version": version.strip()[:40],
        "os_version": os_version[:200],
        "maintenance_expires": expires,
        "nodes": nodes,
        "machines": machines,
        "unknown": unknown,
    }
