"""A small fake Octopus server on 127.0.0.1 for the fetch tests: /api, and paged
/api/environments and /api/machines, with the faults the tests need."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "API-TESTKEY0123456789"

Reply = tuple[int, Any]  # status, and a JSON-able body or raw bytes


def listening(name: str, host: str, *, port: int = 10933, envs=("Environments-1",), **extra):
    """A 3.x listening Tentacle resource."""
    return {
        "Id": f"Machines-{name}",
        "Name": name,
        "EnvironmentIds": list(envs),
        "Roles": ["web"],
        "HealthStatus": "Healthy",
        "Endpoint": {
            "CommunicationStyle": "TentaclePassive",
            "Uri": f"https://{host}:{port}/",
            "TentacleVersionDetails": {"Version": "2.6.5"},
        },
        **extra,
    }


def polling(name: str, *, envs=("Environments-1",), **extra):
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
    # path → callable(query) returning a Reply, replacing the normal answer.
    overrides: dict[str, Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    keys_seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                fake.keys_seen.append(self.headers.get("X-Octopus-ApiKey", ""))
                if fake.delay and fake._stop.wait(fake.delay):
                    return
                status, body = fake.answer(self.path, self.headers.get("X-Octopus-ApiKey"))
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    if status in (301, 302, 307):
                        self.send_header("Location", body.decode())
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOctopus:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, raw_path: str, key: str | None) -> Reply:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path in self.overrides:
            return self.overrides[parts.path](query)
        if key != API_KEY:
            return 401, {"ErrorMessage": "You must be logged in to perform this action."}
        if parts.path == "/api":
            return 200, {"Application": "Octopus Deploy", "Version": self.version}
        if parts.path == "/api/environments":
            return 200, self.page("/api/environments", self.environments, query)
        if parts.path == "/api/machines":
            return 200, self.page("/api/machines", self.machines, query)
        return 404, {"ErrorMessage": "Not found"}

    def page(self, path: str, items: list[Any], query: dict[str, str]) -> dict[str, Any]:
        skip = int(query.get("skip", 0))
        take = min(int(query.get("take", self.page_size)), self.page_size)
        body: dict[str, Any] = {
            "ItemType": "Thing",
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
