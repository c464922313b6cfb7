"""A small fake Octopus server on 127.0.0.1, for the tests and the benchmarks.

It answers `GET /api` (the root document, with `Version`) and the paged collections
`/api/environments` and `/api/machines`. The API key goes in the `X-Octopus-ApiKey` header: the
root document answers without one (the verification jobs read the version with no key), but a
wrong key is refused with 401 on every path, and the collections need the right one.

Faults: `delay` holds every answer back that long (timeouts), and `overrides` replaces the answer
for a path with any status and body (5xx, 3xx redirects, non-JSON, JSON of another shape).
Every request is recorded in `requests`, with the key it carried.

    with FakeOctopus(machines=[listening("web-01"), polling("app-01")]) as server:
        ... server.url, server.api_key, server.paths ...
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

API_KEY = "API-TESTKEY0123456789"

Reply = tuple[int, Any]  # status, and a JSON-able body or raw bytes (for 3xx: the Location)
Override = Callable[[dict[str, str]], Reply]  # called with the query string's parameters


class Request(NamedTuple):
    path: str  # with the query string
    api_key: str  # the X-Octopus-ApiKey header, "" without one


def listening(
    name: str,
    host: str | None = None,
    *,
    port: int = 10933,
    envs: Iterable[str] = ("Environments-1",),
    version: str = "2.6.5",
    **extra: Any,
) -> dict[str, Any]:
    """A 3.x listening Tentacle resource, healthy unless `extra` says otherwise (e.g.
    `HealthStatus="Unavailable"`, `IsDisabled=True`). The host is `<name>.corp` by default."""
    return {
        "Id": f"Machines-{name}",
        "Name": name,
        "EnvironmentIds": list(envs),
        "Roles": ["web"],
        "HealthStatus": "Healthy",
        "Endpoint": {
            "CommunicationStyle": "TentaclePassive",
            "Uri": f"https://{host or f'{name}.corp'}:{port}/",
            "TentacleVersionDetails": {"Version": version},
        },
        **extra,
    }


def polling(
    name: str, *, envs: Iterable[str] = ("Environments-1",), **extra: Any
) -> dict[str, Any]:
    """A 3.x polling Tentacle resource: its URI names a subscription, not a host."""
    return {
        "Id": f"Machines-{name}",
        "Name": name,
        "EnvironmentIds": list(envs),
        "Roles": ["app"],
        "HealthStatus": "Healthy",
        "Endpoint": {"CommunicationStyle": "TentacleActive", "Uri": "poll://SQ-ABCDEF12/"},
        **extra,
    }


@dataclass
class FakeOctopus:
    version: str = "2.6.5.1010"
    api_key: str = API_KEY
    environments: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"Id": "Environments-1", "Name": "Production"},
            {"Id": "Environments-2", "Name": "Staging"},
        ]
    )
    machines: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2  # the server's own cap, whatever `take` asks for
    page_links: bool = True  # False: no Links, only TotalResults (older servers)
    delay: float = 0.0  # seconds before every answer
    overrides: dict[str, Override] = field(default_factory=dict)  # path → its answer
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- Running -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The fake Octopus server is not started.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def paths(self) -> list[str]:
        """The paths asked for, in order, with their query strings."""
        return [request.path for request in self.requests]

    def start(self) -> FakeOctopus:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key = self.headers.get("X-Octopus-ApiKey", "")
                fake.requests.append(Request(self.path, key))
                if fake.delay and fake._stop.wait(fake.delay):
                    return  # stopped while waiting
                status, body = fake.answer(self.path, key)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    if status in (301, 302, 303, 307, 308):
                        self.send_header("Location", data.decode())
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOctopus:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- Answering ---------------------------------------------------------------------------

    def answer(self, raw_path: str, key: str) -> Reply:
        parts = urlsplit(raw_path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if parts.path in self.overrides:
            return self.overrides[parts.path](query)
        if key != self.api_key and (key or parts.path != "/api"):
            return 401, {"ErrorMessage": "You must be logged in to perform this action."}
        if parts.path == "/api":
            return 200, {"Application": "Octopus Deploy", "Version": self.version}
        if parts.path == "/api/environments":
            return 200, self.page(parts.path, "Environment", self.environments, query)
        if parts.path == "/api/machines":
            return 200, self.page(parts.path, "Machine", self.machines, query)
        return 404, {"ErrorMessage": "Not found"}

    def page(
        self, path: str, item_type: str, items: list[Any], query: dict[str, str]
    ) -> dict[str, Any]:
        skip = int(query.get("skip", 0))
        take = min(int(query.get("take", self.page_size)), self.page_size)
        body: dict[str, Any] = {
            "ItemType": item_type,
            "TotalResults": len(items),
            "ItemsPerPage": take,
            "Items": items[skip : skip + take],
        }
        if self.page_links:
            links = {"Self": f"{path}?skip={skip}&take={take}", "Page.Current": path}
            if skip + take < len(items):
                links["Page.Next"] = f"{path}?skip={skip + take}&take={take}"
            body["Links"] = links
        return body
