"""A small local stand-in for an Octopus server's API, for verification tests."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeOctopus:
    version: str = "3.17.14"
    api_key: str = "API-GOOD"
    machines: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    mode: str = "ok"  # ok | error-500 | slow | garbage
    slow_seconds: float = 2.0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, api key header)
    url: str = ""

    def add_machine(self, name: str, *, health: str = "Healthy", version: str = "3.17.14") -> None:
        self.machines.append(
            {
                "Id": f"Machines-{len(self.machines) + 1}",
                "Name": name,
                "HealthStatus": health,
                "Status": "Online" if health == "Healthy" else "Offline",
                "IsDisabled": False,
                "Endpoint": {
                    "CommunicationStyle": "TentaclePassive",
                    "TentacleVersionDetails": {"Version": version},
                },
            }
        )


def start(fake: FakeOctopus) -> tuple[ThreadingHTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            fake.requests.append((self.path, self.headers.get("X-Octopus-ApiKey", "")))
            if fake.mode == "slow":
                time.sleep(fake.slow_seconds)
            if fake.mode == "error-500":
                return self.answer(500, {"ErrorMessage": "boom"})
            parts = urlsplit(self.path)
            if parts.path == "/api":
                return self.answer(200, {"Application": "Octopus Deploy", "Version": fake.version})
            if parts.path == "/api/machines":
                if self.headers.get("X-Octopus-ApiKey") != fake.api_key:
                    return self.answer(401, {"ErrorMessage": "Invalid API key"})
                if fake.mode == "garbage":
                    return self.raw(200, b"<html>not json</html>")
                query = parse_qs(parts.query)
                skip = int(query.get("skip", ["0"])[0])
                items = fake.machines[skip : skip + fake.page_size]
                links = {"Self": self.path}
                if skip + fake.page_size < len(fake.machines):
                    links["Page.Next"] = (
                        f"/api/machines?skip={skip + fake.page_size}&take={fake.page_size}"
                    )
                return self.answer(
                    200,
                    {
                        "ItemType": "Machine",
                        "TotalResults": len(fake.machines),
                        "ItemsPerPage": fake.page_size,
                        "Items": items,
                        "Links": links,
                    },
                )
            return self.answer(404, {"ErrorMessage": "not found"})

        def answer(self, status: int, body: Any) -> None:
            self.raw(status, json.dumps(body).encode())

        def raw(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
