"""What `make bench`, `make drill` and the profiler share: paths and constants, the error they
stop with, logging, a tiny HTTP client, the environment of the processes they start, gunicorn,
stopping process groups, bounded waiting, and the fixture plans they create.

The entry points (bench/run.py, bench/drill.py, bench/profile_paths.py) import from here and
from bench/processes.py and bench/mixed.py, never from one another.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WRK_SCRIPT = BENCH / "wrk.lua"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
HOST = "127.0.0.1"
WORKERS = 2
# What gunicorn.conf.py runs on this machine unless the environment says otherwise.
PRODUCTION_WORKERS = min(2 * (os.cpu_count() or 1) + 1, 8)
PRODUCTION_THREADS = 4

# The fixture plans: a 50-step plan whose first steps are done, so the page shows a history.
STEPS_FOR_SMALL_PLAN = 50
STEPS_DONE_IN_FIXTURES = 10
ENVIRONMENTS = ("Production", "Staging", "Test", "Development")
ROLES = ("web", "api", "worker")

# A step cycled start → complete → reopen is ready again after the third move, so the load
# can go on for as long as it runs; STATE_POSITION says where in the cycle a state stands.
TRANSITION_CYCLE = ("start", "complete", "reopen")
STATE_POSITION = {"ready": 0, "in-progress": 1, "done": 2}


# --- Errors, logging, waiting ----------------------------------------------------------------


class BenchError(Exception):
    """Something the benchmark needs is missing or misbehaved; the message says what."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_for[T](
    what: str, predicate: Callable[[], T], *, timeout: float, interval: float = 0.1
) -> T:
    """Call `predicate` until it returns something truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def cpu_ticks(stat: str | None = None) -> tuple[int, int]:
    """(all CPU time, the hypervisor's steal) in clock ticks since boot, from the first line of
    /proc/stat (or `stat`, its text); (0, 0) where there is none. Steal is time this machine's
    CPUs were ready to run but the host ran something else: on a shared host it slows every
    figure of a run, the minimal view's too, but not evenly."""
    if stat is None:
        try:
            stat = Path("/proc/stat").read_text()
        except OSError:
            return 0, 0
    fields = stat.splitlines()[0].split() if stat.strip() else []
    if not fields or fields[0] != "cpu":
        return 0, 0
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    # counted in user and nice.
    values = [int(value) for value in fields[1:9]]
    values += [0] * (8 - len(values))
    return sum(values), values[7]


def steal_percent(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of CPU time stolen between two `cpu_ticks` readings, in percent."""
    total = after[0] - before[0]
    return round(100 * (after[1] - before[1]) / total, 1) if total > 0 else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_checked(args: list[str], *, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(  # noqa: S603
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- HTTP --------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A tiny HTTP client for set-up and single timed requests (not for load)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            started = time.perf_counter()
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            payload = response.read()
            seconds = time.perf_counter() - started
        finally:
            connection.close()
        return Reply(
            response.status, payload, {k.lower(): v for k, v in response.getheaders()}, seconds
        )

    def expect(self, status: int, method: str, path: str, body: Any = None) -> Reply:
        reply = self.request(method, path, body)
        if reply.status != status:
            raise BenchError(
                f"{method} {path} answered {reply.status}, expected {status}: {reply.body[:500]!r}"
            )
        return reply


# --- Environment and database ------------------------------------------------------------------


def bench_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=f"{HOST},localhost",
        SECURE_HTTPS="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        # The benchmarks create many plans from one address.
        PLAN_CREATE_RATE="0",
    )
    return env


def worker_env(env: dict[str, str]) -> dict[str, str]:
    """The web's environment with INFO logs, so the worker's log says what it did."""
    return {**env, "LOG_LEVEL": "INFO"}


def check_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise BenchError(f"{what} must point at a loopback address, not {host!r}.")


def analyze(database_url: str) -> None:
    """Refresh the planner statistics. This server may run with autovacuum off, and without
    statistics PostgreSQL picks plans for the freshly bulk-inserted steps that a production
    database (autovacuum on) would not; see docs/benchmarks.md."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute("ANALYZE")


# --- Process groups ----------------------------------------------------------------------------


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left after 10 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    # Workers that outlived their master would still be in the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` seconds, and reap."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and every process in its group (a Celery worker's pool), and reap."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    wait_for("the killed processes to be gone", lambda: not group_alive(process.pid), timeout=10)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- gunicorn ------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def workers(self) -> list[int]:
        """The pids of the master's current worker processes."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return sorted(int(pid) for pid in path.read_text().split())
        except OSError:
            return []


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str],
    log_path: Path,
    *,
    output_path: Path | None = None,
    production_workers: bool = False,
) -> Iterator[Server]:
    """gunicorn with production settings and WORKERS sync workers; with `production_workers`,
    with the workers production runs as well (gunicorn.conf.py: threaded workers, as many as
    it sets for this machine). `output_path` keeps the workers' stdout and stderr (Django's own
    log, tracebacks included); by default they are discarded."""
    port = free_port()
    args = [
        sys.executable, "-m", "gunicorn", "upgrade_planner.wsgi:application",
        "--bind", f"{HOST}:{port}", "--timeout", "120", "--graceful-timeout", "5",
        "--chdir", str(ROOT), "--error-logfile", str(log_path),
    ]  # fmt: skip
    if production_workers:
        args += ["--config", str(ROOT / "gunicorn.conf.py"), "--access-logfile", "/dev/null"]
        workers = PRODUCTION_WORKERS
        log(
            f"starting gunicorn (gunicorn.conf.py: {workers} gthread workers x "
            f"{PRODUCTION_THREADS} threads) on {HOST}:{port}"
        )
    else:
        args += ["--workers", str(WORKERS), "--worker-class", "sync"]
        workers = WORKERS
        log(f"starting gunicorn ({WORKERS} sync workers) on {HOST}:{port}")
    # The child keeps its own descriptor of the output file, so ours is closed at once.
    with (
        output_path.open("ab") if output_path else contextlib.nullcontext(subprocess.DEVNULL)
    ) as output:
        process = subprocess.Popen(  # noqa: S603
            args, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(process, port)
    try:
        client = Client(port)
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise BenchError(f"gunicorn exited with {process.returncode}; see {log_path}")
            with contextlib.suppress(OSError):
                reply = client.request("GET", "/healthz", timeout=5)
                if reply.status == 200 and len(server.workers) == workers:
                    break
                if reply.status != 200:
                    raise BenchError(f"/healthz answered {reply.status}: {reply.body[:300]!r}")
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn did not answer within 30 s; see {log_path}")
            time.sleep(0.2)
        yield server
    finally:
        stop_group(process)


# --- Fixture plans -------------------------------------------------------------------------------


def tentacles(count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"tentacle-{index:05d}",
            "hostname": f"tentacle-{index:05d}.corp.example",
            "port": 10933,
            "version": "2.6.5",
            "communication_style": "listening",
            "environments": [ENVIRONMENTS[index % len(ENVIRONMENTS)]],
            "roles": [ROLES[index % len(ROLES)]],
            "os": "Windows Server 2012 R2",
            "service_account": "",
            "restricted_permissions": False,
            "online": True,
        }
        for index in range(count)
    ]


def plan_body(name: str, tentacle_count: int) -> dict[str, Any]:
    return {
        "name": name,
        "server_version": "2.6.5",
        "target_version": "3.17.14",
        "can_provision_new_server": True,
        "sql_server_ready": True,
        "uses_builtin_feed": False,
        "backup_size_mb": 300,
        "polling_port": 10943,
        "approach": None,
        "tentacles": tentacles(tentacle_count),
    }


class OctopusServer(Protocol):
    """What a plan needs to know of an Octopus server to check its steps against it."""

    @property
    def url(self) -> str: ...

    @property
    def api_key(self) -> str: ...


@dataclass
class PlanRef:
    edit: str
    view: str
    id: str
    step: str  # the step cycled through start → complete → reopen
    position: int = 0  # where in TRANSITION_CYCLE the next transition is

    def transition_path(self) -> str:
        action = TRANSITION_CYCLE[self.position % len(TRANSITION_CYCLE)]
        return f"/api/v1/plans/{self.edit}/steps/{self.step}/{action}"


def make_plan(client: Client, name: str, server: OctopusServer | None) -> PlanRef:
    """A 3-Tentacle new-server plan. With `server` (a fake Octopus) it keeps that server's URL
    and API key, the prerequisites of "Install 3.x on the new server" are completed, and the
    step to cycle is that one: each start queues a server-version check
    (jobs_for_started_step). Without, the step to cycle is the first ready step, which queues
    nothing."""
    body = plan_body(name, 3)
    body["approach"] = "new-server"
    if server is not None:
        body.update(new_server_url=server.url, new_server_api_key=server.api_key)
    document = client.expect(201, "POST", "/api/v1/plans", body).json()
    steps = document["steps"]
    if server is None:
        step = next(s["id"] for s in steps if s["state"] == "ready")
        return PlanRef(document["edit_token"], document["view_token"], document["id"], step)
    by_id = {s["id"]: s for s in steps}
    install = next(s for s in steps if s["kind"] == "install-server-new-machine")
    needed: set[str] = set()
    stack = [install["id"]]
    while stack:
        for prerequisite in by_id[stack.pop()]["depends_on"]:
            if prerequisite not in needed:
                needed.add(prerequisite)
                stack.append(prerequisite)
    edit = document["edit_token"]
    for step in steps:  # document order is position order: prerequisites come first
        if step["id"] in needed and step["state"] not in {"done", "skipped"}:
            base = f"/api/v1/plans/{edit}/steps/{step['id']}"
            client.expect(200, "POST", f"{base}/start", {"actor": "drill"})
            client.expect(200, "POST", f"{base}/complete", {"actor": "drill"})
    return PlanRef(edit, document["view_token"], document["id"], install["id"])


def readiness_plan_body(name: str, tentacle_count: int) -> dict[str, Any]:
    """A modern upgrade (2022.1 → 2024.1) on a host OS and a SQL Server below the target's
    floors, an old .NET and a lapsed licence: its readiness section lists inhibitors, warnings
    and notes (the findings are evaluated from this input when the plan is created)."""
    body = plan_body(name, tentacle_count)
    body.update(
        server_version="2022.1",
        target_version="2024.1",
        server_os="Windows Server 2012",
        sql_server_version="2014",
        dotnet_version="4.6.1",
        license_maintenance_expires="2023-01-01",
    )
    return body
