"""Processes the drills and the benchmark start and own: a throwaway PostgreSQL cluster, a
Redis server, Celery worker and beat, and a fake Octopus server.

Everything here binds to 127.0.0.1 only, runs in its own process group (or, for PostgreSQL,
under `pg_ctl`) and can be stopped by the caller in a `finally` block. Nothing here touches
the machine's own PostgreSQL or Redis.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.harness import HOST, ROOT, BenchError, kill_group, log, stop_process, wait_for

if TYPE_CHECKING:
    import psycopg

    from tests.fake_octopus import FakeOctopus


# --- PostgreSQL: a throwaway cluster ---------------------------------------------------------


def postgres_bin() -> Path:
    """The directory holding initdb and pg_ctl: DRILL_PG_BIN, else the newest
    /usr/lib/postgresql/<version>/bin, else wherever `pg_ctl` is on PATH."""
    explicit = os.environ.get("DRILL_PG_BIN")
    if explicit:
        return Path(explicit)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise BenchError("PostgreSQL's initdb/pg_ctl were not found (set DRILL_PG_BIN).")


@dataclass
class PostgresCluster:
    """A cluster of its own in `root`, on its own loopback port, started and stopped with
    pg_ctl. initdb refuses to run as root, so as root every command runs as `postgres`."""

    root: Path
    port: int
    bin: Path = field(default_factory=postgres_bin)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgresql.log"

    def url(self, database: str) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{database}"

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            self._as_owner(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            # postgres must be able to reach its directory through the temp dir above it.
            self.root.parent.chmod(0o711)
        result = self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise BenchError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={HOST}"
        result = self._run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )
        if result.returncode != 0:
            raise BenchError(f"pg_ctl start failed:\n{result.stdout}\n{result.stderr}")

    def stop(self, mode: str = "fast") -> None:
        result = self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"],
            timeout=90,
        )
        if result.returncode != 0 and self.running():
            raise BenchError(f"pg_ctl stop failed:\n{result.stdout}\n{result.stderr}")

    def running(self) -> bool:
        if not self.data.exists():
            return False
        result = self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], timeout=30)
        return result.returncode == 0

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def cleanup(self) -> None:
        """Stop the cluster whatever state it is in (its directory is removed by the caller)."""
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")


@contextlib.contextmanager
def postgres_cluster(root: Path, port: int) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(root, port)
    try:
        log(f"initdb and start a throwaway PostgreSQL cluster on {HOST}:{port}")
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


# --- Redis: a server of our own ----------------------------------------------------------------


@dataclass
class RedisServer:
    """redis-server in the foreground as our child (own process group), no persistence."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{database}"

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            "redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir),
            "--logfile", str(self.workdir / "redis.log"), "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_for(f"redis-server on port {self.port}", self.ping, timeout=15)

    def ping(self) -> bool:
        """One PING on a fresh socket, no retries (redis-py retries a refused connection)."""
        import socket

        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM: with no persistence configured Redis exits at once."""
        if self.process is None:
            return
        stop_process(self.process, grace=10)
        self.process = None


# --- Celery --------------------------------------------------------------------------------


@dataclass
class CeleryProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int
    handle: IO[bytes]

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise BenchError(f"celery exited with {self.process.returncode}; see {self.log_path}")
        with self.log_path.open("rb") as source:
            source.seek(self.log_offset)
            return b" ready." in source.read()

    def stop(self) -> None:
        stop_process(self.process, grace=15)
        self.handle.close()

    def kill(self) -> None:
        kill_group(self.process)
        self.handle.close()


def _celery(args: list[str], env: dict[str, str], log_path: Path) -> CeleryProcess:
    handle = log_path.open("ab")
    offset = handle.tell()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "upgrade_planner", *args],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return CeleryProcess(process, log_path, offset, handle)


def celery_worker(
    env: dict[str, str], log_path: Path, *, concurrency: int = 2, name: str = "drill"
) -> CeleryProcess:
    """`celery worker` with the prefork pool, as production runs it. Mingle and gossip are off
    so that a restart takes ~2 s; they exchange worker state only and do not change how a task
    is delivered, acknowledged or redelivered."""
    worker = _celery(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            f"--hostname={name}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        log_path,
    )
    try:
        wait_for("the Celery worker to be ready", worker.ready, timeout=60, interval=0.1)
    except BaseException:
        worker.kill()
        raise
    return worker


def celery_beat(env: dict[str, str], log_path: Path, schedule: Path) -> CeleryProcess:
    """`celery beat`: sends relay_outbox every 10 s (the app's CELERY_BEAT_SCHEDULE)."""
    return _celery(
        ["beat", "--loglevel=INFO", f"--schedule={schedule}", "--max-interval=1"], env, log_path
    )


# --- A fake Octopus server -------------------------------------------------------------------


@contextlib.contextmanager
def fake_octopus(*, version: str, slow_seconds: float = 0.0) -> Iterator[FakeOctopus]:
    """The test suite's fake Octopus API (tests/fake_octopus.py) in a thread of this process.
    `slow_seconds` makes every answer wait that long."""
    from tests.fake_octopus import FakeOctopus

    with FakeOctopus(version=version, delay=slow_seconds) as fake:
        yield fake


# --- Reading the database directly ------------------------------------------------------------


class Database:
    """A psycopg connection for the drill's own reads, re-opened after PostgreSQL restarts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.Connection[tuple[Any, ...]] | None = None

    def query(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        import psycopg

        for attempt in range(2):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                return list(self._connection.execute(sql, params).fetchall())
            except psycopg.OperationalError:
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


FRAME = re.compile(r'^\s*File "([^"]*)", line (\d+), in (\S+)', flags=re.MULTILINE)
EXCEPTION = re.compile(r"^([\w.]+(?:Error|Exception)\b[^\n]*)$", flags=re.MULTILINE)


def exception_lines(path: Path, offset: int = 0) -> Counter[str]:
    """The exceptions in the tracebacks written to a log after `offset`, counted: each as its
    exception line plus the innermost frame in the application's own code (tracebacks without
    one, such as the low-level cause of a chained exception, are left out)."""
    try:
        with path.open("rb") as source:
            source.seek(offset)
            text = source.read(20_000_000).decode(errors="replace")
    except OSError:
        return Counter()
    counted: Counter[str] = Counter()
    for block in text.split("Traceback (most recent call last):")[1:]:
        frames = [m for m in FRAME.finditer(block) if "/upgrade_planner/" in m.group(1)]
        raised = EXCEPTION.findall(block)
        if not frames or not raised:
            continue
        file, line, function = frames[-1].groups()
        where = file[file.index("upgrade_planner/") :]
        counted[f"{raised[0][:200]} (in {function}, {where}:{line})"] += 1
    return counted


def most_common_errors(path: Path, offset: int = 0, top: int = 2) -> str:
    """The `top` most frequent exceptions in a log since `offset`, for the report."""
    counted = exception_lines(path, offset)
    return "; ".join(f"{count} x {line}" for line, count in counted.most_common(top))
