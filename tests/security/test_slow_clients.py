"""Slow clients cannot stall the app: gunicorn started with gunicorn.conf.py on a free loopback
port keeps answering /healthz while several clients send their headers a byte at a time."""

import contextlib
import http.client
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SLOW_CLIENTS = 3
# Generous for a noisy 2-core machine; a stalled server answers only when a worker is
# recycled (GUNICORN_TIMEOUT, set far above this below).
PROMPT = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthz(port: int, timeout: float) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
        return connection.getresponse().status
    finally:
        connection.close()


# What each running server wrote to its access log, line by line, by port.
access_logs: dict[int, queue.Queue[str]] = {}


def _read_lines(stream: IO[bytes], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.decode(errors="replace"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """gunicorn with the project's config file and production settings, on 127.0.0.1, with
    two workers: fewer than the slow clients."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "upgrade_planner.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_HTTPS": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "BIND_ADDRESS": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_TIMEOUT": "120",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "upgrade_planner.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        # The access log (stdout, as the config says) is read by the redaction test.
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    access_logs[port] = lines
    assert process.stdout is not None
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if healthz(port, timeout=2) == 200:
                    break
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            # Waiting on the process doubles as the poll interval, and notices a crash.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
            assert process.poll() is None, f"gunicorn exited with {process.returncode}"
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_the_access_log_of_the_configured_gunicorn_hides_plan_tokens(server: int) -> None:
    token = secrets.token_urlsafe(32)
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        connection.request("GET", f"/p/{token}/", headers={"Host": "127.0.0.1"})
        # Unmigrated, the app answers 503; the line is logged whatever the answer.
        connection.getresponse().read()
    finally:
        connection.close()
    # gunicorn writes the line after the answer: wait for it to arrive, not for a fixed time.
    logged = ""
    while "GET /p/" not in logged:
        logged += access_logs[server].get(timeout=30)
    assert token not in logged
    assert f"/p/…{token[-4:]}/" in logged


def test_three_slowloris_clients_do_not_stall_healthz(server: int) -> None:
    stop, trickling = threading.Event(), threading.Event()
    clients = [
        socket.create_connection(("127.0.0.1", server), timeout=5) for _ in range(SLOW_CLIENTS)
    ]
    for client in clients:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    def trickle() -> None:
        # A header byte every 0.2 s to each client, never finishing the request.
        while not stop.wait(0.2):
            for client in clients:
                with contextlib.suppress(OSError):
                    client.sendall(b"X")
            trickling.set()

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        # The slow clients are connected and sending before the first request is timed.
        assert trickling.wait(5)
        for _ in range(3):
            started = time.monotonic()
            status = healthz(server, timeout=30)
            elapsed = time.monotonic() - started
            assert status == 200
            assert elapsed < PROMPT, f"/healthz took {elapsed:.1f} s behind slow clients"
        # The slow clients are still held open, unanswered: they really were in the way.
        for client in clients:
            client.setblocking(False)
            with pytest.raises(BlockingIOError):
                client.recv(1)
    finally:
        stop.set()
        trickler.join(timeout=5)
        for client in clients:
            client.close()
