"""`make bench`: load figures for the planner, each beside a minimal Django view.

Starts gunicorn with production settings (2 sync workers on a free loopback port) against
PostgreSQL and Redis, creates the fixture plans through the JSON API, then measures with wrk,
alternating every round between the figure's request and `/bench/minimal` so both see the
same machine. Then the mixed load (bench/mixed.py: viewers polling plus editors moving
steps) and, with a real Celery worker, the enqueue → job start latency through the outbox.
Prints one table and writes bench/results/latest.json. Run it as `python -m bench.run`.

Everything it starts runs in its own process group and is stopped on the way out, error or
not. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import itertools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.harness import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    HOST,
    PRODUCTION_THREADS,
    PRODUCTION_WORKERS,
    RESULTS,
    ROOT,
    STEPS_DONE_IN_FIXTURES,
    STEPS_FOR_SMALL_PLAN,
    TRANSITION_CYCLE,
    WORKERS,
    WRK_SCRIPT,
    BenchError,
    Client,
    Server,
    analyze,
    bench_env,
    check_loopback,
    cpu_ticks,
    gunicorn,
    log,
    make_plan,
    plan_body,
    readiness_plan_body,
    run_checked,
    steal_percent,
    wait_for,
    worker_env,
)
from bench.mixed import Editor, MixedResult, Viewed, run_mixed
from bench.pastes import PASTE_GROWTH, PASTE_LINES, PASTE_SHAPES
from bench.processes import Database, celery_worker, fake_octopus

# wrk: one connection per thread, so a thread's requests are strictly sequential (the step
# cycle depends on it). Four connections keep both sync workers busy while one side is
# reconnecting (gunicorn's sync workers close the connection after every response).
CONNECTIONS = 4
WRK_TIMEOUT = "5s"
SETTLE_SECONDS = 0.5

# Targets from issue 9 / product.md section 6, made stricter by issue 18 ("fast for every
# visitor"): the ratios against the minimal view, the 5,000-Tentacle creation and the mixed
# load's p99 over all its requests (each kind of request keeps the 100 ms bar).
TARGET_POLL_RATIO = 0.7
TARGET_PAGE_RATIO = 0.3
TARGET_CREATE_5000_S = 1.5
TARGET_MIXED_P99_MS = 100.0
TARGET_MIXED_ALL_P99_MS = 40.0
TARGET_RATIOS = {
    "page_50_uncached": 0.06,
    "poll_changed_uncached": 0.06,
    "transition": 0.12,
    "api_read": 0.2,
    "api_not_modified": 0.6,
}

# The mixed load (bench/mixed.py): viewers poll read-only links every 2 s; editors each move a
# step once a second on their own plan. The first MIXED_WATCHED_EDITORS editor plans are also
# watched, so their viewers see a change on nearly every poll; the others' viewers watch plans
# nobody is editing (an unchanged poll, 304).
MIXED_VIEWERS = 200
MIXED_VIEWED_PLANS = 20
MIXED_EDITORS = 10
MIXED_WATCHED_EDITORS = 2
MIXED_POLL_INTERVAL = 2.0
MIXED_TRANSITIONS_PER_SECOND = 10.0
MIXED_SECONDS = 60.0
MIXED_MINIMAL_SECONDS = 10.0  # the same schedule against /bench/minimal, before and after

# Enqueue → job start: sequential step starts that each write a verification job.
JOB_SAMPLES = 100
JOB_PLANS = 10
JOB_START_WITHIN = 10.0

CREATE_SIZES = (100, 1000, 5000)

# The largest plan PLAN_MAX_TENTACLES allows (issue 18): created once, then its page and its
# API read are measured beside the 50-step ones of the same run.
LARGE_CREATE_SIZE = 20_000
# The 20,000-Tentacle plan read a page at a time: as many steps as the 50-step plan's read.
LARGE_PAGE_SIZE = 50
TARGET_CREATE_LARGE_S = 6.0
TARGET_CREATE_LARGE_MIB = 400.0
# "Within 1.5x of the 50-step figures": at least 1/1.5 of their request rate.
TARGET_LARGE_VS_SMALL = 1 / 1.5

# The readiness plan: a modern upgrade whose readiness section lists findings.
READINESS_TENTACLES = 38

TARGET_PASTE_GROWTH = 2 * PASTE_GROWTH


# --- Database and memory --------------------------------------------------------------


def fresh_database(database_url: str) -> None:
    """Drop and re-create the bench database so every run starts from the same state. Only
    databases whose name starts with "bench" are ever dropped."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.startswith("bench"):
        log(f"database {name!r} is not a bench database: keeping its data, only migrating")
        return
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def memory_kib(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in {"VmHWM", "VmRSS"}:
                values[name] = int(rest.split()[0])
    return values


# --- Fixtures -------------------------------------------------------------------------------


@dataclass
class Fixture:
    edit_token: str
    view_token: str
    steps: int
    version: int
    etag: str
    first_ready_step: str


def fixture_from(client: Client, document: dict[str, Any], edit_token: str) -> Fixture:
    reply = client.expect(200, "GET", f"/api/v1/plans/{edit_token}")
    current = reply.json()
    ready = [step["id"] for step in current["steps"] if step["state"] == "ready"]
    if not ready:
        raise BenchError("the fixture plan has no ready step")
    return Fixture(
        edit_token=edit_token,
        view_token=document["view_token"],
        steps=len(current["steps"]),
        version=current["version"],
        etag=reply.headers["etag"],
        first_ready_step=ready[0],
    )


def create_plan(client: Client, name: str, tentacle_count: int) -> tuple[dict[str, Any], float]:
    reply = client.expect(201, "POST", "/api/v1/plans", plan_body(name, tentacle_count))
    return reply.json(), reply.seconds


def plan_with_steps(client: Client, name: str, wanted: int) -> dict[str, Any]:
    """A plan with exactly `wanted` steps: the planner adds a fixed number of steps to one
    per Tentacle for this installation, so adjust the Tentacle count to match."""
    count = max(1, wanted - 12)
    for _ in range(5):
        document, _ = create_plan(client, name, count)
        if len(document["steps"]) == wanted:
            return document
        count += wanted - len(document["steps"])
    raise BenchError(f"could not make a plan with {wanted} steps")


def complete_some(client: Client, edit_token: str, count: int) -> None:
    """Complete the first `count` ready steps, one at a time, as users would."""
    for _ in range(count):
        document = client.expect(200, "GET", f"/api/v1/plans/{edit_token}").json()
        ready = [step["id"] for step in document["steps"] if step["state"] == "ready"]
        if not ready:
            return
        base = f"/api/v1/plans/{edit_token}/steps/{ready[0]}"
        client.expect(200, "POST", f"{base}/start", {"actor": "bench"})
        client.expect(200, "POST", f"{base}/complete", {"actor": "bench"})


def reset_step(client: Client, edit_token: str, step_id: str) -> None:
    """Bring a step back to ready so the start → complete → reopen cycle can begin again.
    A request wrk sent just before its round ended may still be running, so a refused move
    is retried after reading the state again."""
    base = f"/api/v1/plans/{edit_token}/steps/{step_id}"
    for _ in range(10):
        document = client.expect(200, "GET", f"/api/v1/plans/{edit_token}").json()
        state = next(s["state"] for s in document["steps"] if s["id"] == step_id)
        if state == "ready":
            return
        action = "complete" if state == "in-progress" else "reopen"
        reply = client.request("POST", f"{base}/{action}", {"actor": "bench", "reason": "reset"})
        if reply.status not in {200, 409}:
            raise BenchError(f"resetting step {step_id}: {reply.status} {reply.body[:300]!r}")
        if reply.status == 409:
            time.sleep(0.2)
    raise BenchError(f"step {step_id} did not return to ready")


# --- Load rounds with wrk ---------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    label: str
    paths: list[str]
    expect: int
    method: str = "GET"
    body: str | None = None
    cycle: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    target_ratio: float | None = None
    before_round: Callable[[], None] | None = None
    # A query parameter that changes on every request, to measure the path that misses the
    # page caches (see wrk.lua).
    unique_param: str = ""
    # Make the first request alone before the rounds, and time it: the rounds then measure
    # what the label says (a version seen before), and the first view gets a row of its own.
    first_view: bool = False


MINIMAL = Scenario("minimal", "minimal view", ["/bench/minimal"], expect=200)
UNIQUE_STARTS = itertools.count(0, 20_000)


@dataclass
class Round:
    requests: int
    seconds: float
    statuses: dict[str, int]
    socket_errors: int
    grid_us: list[int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_round(port: int, scenario: Scenario, seconds: float, workdir: Path) -> Round:
    out = workdir / f"{scenario.key}-{time.monotonic_ns()}.json"
    env = dict(os.environ)
    env.update(
        BENCH_OUT=str(out),
        BENCH_PATHS=" ".join(scenario.paths),
        BENCH_METHOD=scenario.method,
        BENCH_CYCLE=" ".join(scenario.cycle),
        BENCH_HEADERS="|".join(f"{k}: {v}" for k, v in scenario.headers.items()),
        BENCH_UNIQUE=scenario.unique_param,
        # Each round starts where the last one's range ended (4 threads x 5,000 values).
        BENCH_UNIQUE_START=str(next(UNIQUE_STARTS)),
    )
    if scenario.body is not None:
        env["BENCH_BODY"] = scenario.body
    args = [
        "wrk", "--threads", str(CONNECTIONS), "--connections", str(CONNECTIONS),
        "--duration", f"{seconds:g}s", "--timeout", WRK_TIMEOUT, "--script", str(WRK_SCRIPT),
        f"http://{HOST}:{port}",
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603
        args, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if result.returncode != 0 or not out.exists():
        raise BenchError(f"wrk failed for {scenario.label}:\n{result.stdout}\n{result.stderr}")
    data = json.loads(out.read_text())
    out.unlink()
    errors = data["errors"]
    return Round(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        statuses=data["statuses"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        grid_us=data["grid_us"],
    )


def merged_percentiles(rounds: list[Round], points: tuple[float, ...]) -> dict[str, float]:
    """Percentiles (ms) over all rounds: each round wrote its 0.1th ... 99.9th percentiles and
    its maximum; every point stands for a thousandth of that round's requests."""
    weighted: list[tuple[int, float]] = []
    for item in rounds:
        if item.grid_us:
            weight = item.requests / len(item.grid_us)
            weighted.extend((value, weight) for value in item.grid_us)
    if not weighted:
        return {f"p{p:g}": float("nan") for p in points}
    weighted.sort()
    total = sum(weight for _, weight in weighted)
    result: dict[str, float] = {}
    for p in points:
        wanted, running = total * p / 100, 0.0
        value = weighted[-1][0]
        for candidate, weight in weighted:
            running += weight
            if running >= wanted:
                value = candidate
                break
        result[f"p{p:g}"] = value / 1000
    return result


def summarise(rounds: list[Round], expect: int) -> dict[str, Any]:
    requests = sum(r.requests for r in rounds)
    seconds = sum(r.seconds for r in rounds)
    unexpected = sum(
        count for r in rounds for status, count in r.statuses.items() if int(status) != expect
    )
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        **{k: round(v, 2) for k, v in merged_percentiles(rounds, (50, 95, 99)).items()},
        "errors": unexpected + sum(r.socket_errors for r in rounds),
        "statuses": _sum_statuses(rounds),
        "rounds_rps": [round(r.rps, 1) for r in rounds],
    }


def _sum_statuses(rounds: list[Round]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in rounds:
        for status, count in item.statuses.items():
            totals[status] = totals.get(status, 0) + count
    return dict(sorted(totals.items()))


def measure(
    port: int, scenario: Scenario, rounds: int, seconds: float, workdir: Path
) -> dict[str, Any]:
    """Alternate the scenario with the minimal view, swapping which goes first each round."""
    mine: list[Round] = []
    minimal: list[Round] = []
    first_view_ms = None
    if scenario.first_view:
        time.sleep(SETTLE_SECONDS)  # as before a round: the last one's requests finish first
        first = Client(port).expect(scenario.expect, scenario.method, scenario.paths[0])
        first_view_ms = first.seconds * 1000
    for index in range(rounds):
        order = [MINIMAL, scenario] if index % 2 == 0 else [scenario, MINIMAL]
        for current in order:
            # Let requests wrk left in flight at the end of the last round finish, so they
            # are not billed to the next one.
            time.sleep(SETTLE_SECONDS)
            if current.before_round:
                current.before_round()
            (minimal if current is MINIMAL else mine).append(
                wrk_round(port, current, seconds, workdir)
            )
    ratios = [m.rps / b.rps if b.rps else 0.0 for m, b in zip(mine, minimal, strict=True)]
    figure = summarise(mine, scenario.expect)
    baseline = summarise(minimal, MINIMAL.expect)
    ratio = figure["rps"] / baseline["rps"] if baseline["rps"] else 0.0
    result: dict[str, Any] = {
        "label": scenario.label,
        "kind": "load",
        "figure": figure,
        "minimal": baseline,
        "ratio": round(ratio, 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "target": None,
        "met": None,
    }
    if first_view_ms is not None:
        result["first_view_ms"] = round(first_view_ms, 1)
    if scenario.target_ratio is not None:
        result["target"] = f">= {scenario.target_ratio:g}x minimal"
        result["met"] = ratio >= scenario.target_ratio and figure["errors"] == 0
    log(
        f"{scenario.label}: {figure['rps']} req/s (p99 {figure['p99']} ms) vs minimal "
        f"{baseline['rps']} req/s → {ratio:.3f}x, {figure['errors']} errors"
    )
    return result


# --- Plan creation and memory -----------------------------------------------------------------


def minimal_latency(client: Client, samples: int = 30) -> float:
    """Median seconds of sequential requests to the minimal view."""
    return statistics.median(
        client.expect(200, "GET", "/bench/minimal").seconds for _ in range(samples)
    )


def warm_up(client: Client, workers: int = WORKERS) -> None:
    """Make each worker import and touch everything once, so memory baselines and the first
    timed request are not first-request figures."""
    for index in range(workers * 3):
        client.expect(200, "GET", "/bench/minimal")
        document, _ = create_plan(client, f"Warm-up {index}", 10)
        client.expect(200, "GET", f"/api/v1/plans/{document['edit_token']}")
        client.expect(200, "GET", f"/p/{document['edit_token']}/")


def measure_creation(
    client: Client, server: Server, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Time POST /api/v1/plans for each size, interleaved with the minimal view's latency.
    Also reads the workers' peak RSS (VmHWM) before and after the 5,000-Tentacle case."""
    baseline = {pid: memory_kib(pid) for pid in server.workers}
    times: dict[int, list[float]] = {size: [] for size in CREATE_SIZES}
    minimal: dict[int, list[float]] = {size: [] for size in CREATE_SIZES}
    big_plan: dict[str, Any] = {}
    peak: dict[int, dict[str, int]] = {}
    for repeat in range(repeats):
        for size in CREATE_SIZES:
            minimal[size].append(minimal_latency(client))
            document, seconds = create_plan(client, f"Fleet of {size} ({repeat})", size)
            times[size].append(seconds)
            if size == max(CREATE_SIZES) and not big_plan:
                big_plan = document
                peak = {pid: memory_kib(pid) for pid in server.workers}
            log(f"created a plan for {size} Tentacles in {seconds:.3f} s")
    after = {pid: memory_kib(pid) for pid in server.workers}

    rows = []
    for size in CREATE_SIZES:
        median_s = statistics.median(times[size])
        minimal_ms = statistics.median(minimal[size]) * 1000
        row: dict[str, Any] = {
            "label": f"create plan, {size:,} Tentacles (API)",
            "kind": "create",
            "figure": {
                "median_s": round(median_s, 3),
                "min_s": round(min(times[size]), 3),
                "max_s": round(max(times[size]), 3),
                "runs_s": [round(t, 3) for t in times[size]],
            },
            "minimal": {"p50_ms": round(minimal_ms, 3)},
            "ratio": round(median_s * 1000 / minimal_ms, 1),
            "target": None,
            "met": None,
        }
        if size == 5000:
            row["target"] = f"< {TARGET_CREATE_5000_S:g} s"
            row["met"] = median_s < TARGET_CREATE_5000_S
        rows.append(row)

    hwm_before = max((m.get("VmHWM", 0) for m in baseline.values()), default=0)
    # VmHWM only grows and the 5,000 case is the largest request, so the workers' high-water
    # marks after the creation runs are the peak of the 5,000 case.
    hwm_peak = max((m.get("VmHWM", 0) for m in after.values()), default=0)
    memory = {
        "label": "worker peak RSS, 5,000-Tentacle create",
        "kind": "memory",
        "figure": {"peak_mib": round(hwm_peak / 1024, 1)},
        "minimal": {"peak_mib": round(hwm_before / 1024, 1)},
        "ratio": round(hwm_peak / hwm_before, 2) if hwm_before else None,
        "target": None,
        "met": None,
        "workers": {
            str(pid): {
                "warm_VmHWM_kib": baseline.get(pid, {}).get("VmHWM"),
                "after_first_5000_VmHWM_kib": peak.get(pid, {}).get("VmHWM"),
                "end_VmHWM_kib": after.get(pid, {}).get("VmHWM"),
                "end_VmRSS_kib": after.get(pid, {}).get("VmRSS"),
            }
            for pid in server.workers
        },
    }
    return rows, memory, big_plan


def measure_large_creation(
    client: Client, server: Server
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Create one plan of LARGE_CREATE_SIZE Tentacles (after the other creations, so that their
    memory row is not this one's): its time, and the peak RSS (VmHWM) of the worker that
    served it, the one whose high-water mark rose (or the highest if none did)."""
    before = {pid: memory_kib(pid).get("VmHWM", 0) for pid in server.workers}
    minimal_ms = minimal_latency(client) * 1000
    document, seconds = create_plan(client, f"Fleet of {LARGE_CREATE_SIZE}", LARGE_CREATE_SIZE)
    after = {pid: memory_kib(pid).get("VmHWM", 0) for pid in server.workers}
    served_by = max(after, key=lambda pid: (after[pid] - before.get(pid, 0), after[pid]))
    peak_mib = after[served_by] / 1024
    log(
        f"created a plan for {LARGE_CREATE_SIZE:,} Tentacles in {seconds:.3f} s; "
        f"worker {served_by} peak RSS {peak_mib:.1f} MiB"
    )
    timing = {
        "label": f"create plan, {LARGE_CREATE_SIZE:,} Tentacles (API, one request)",
        "kind": "create",
        "figure": {
            "median_s": round(seconds, 3),
            "min_s": round(seconds, 3),
            "max_s": round(seconds, 3),
            "runs_s": [round(seconds, 3)],
            "steps": len(document["steps"]),
        },
        "minimal": {"p50_ms": round(minimal_ms, 3)},
        "ratio": round(seconds * 1000 / minimal_ms, 1),
        "target": f"< {TARGET_CREATE_LARGE_S:g} s",
        "met": seconds < TARGET_CREATE_LARGE_S,
    }
    warm = min(before.values(), default=0)
    memory = {
        "label": f"worker peak RSS, {LARGE_CREATE_SIZE:,}-Tentacle create",
        "kind": "memory",
        "figure": {"peak_mib": round(peak_mib, 1)},
        "minimal": {"peak_mib": round(warm / 1024, 1)},
        "ratio": round(after[served_by] / warm, 2) if warm else None,
        "target": f"< {TARGET_CREATE_LARGE_MIB:g} MiB",
        "met": peak_mib < TARGET_CREATE_LARGE_MIB,
        "workers": {
            str(pid): {"before_VmHWM_kib": before.get(pid), "after_VmHWM_kib": after[pid]}
            for pid in after
        },
        "served_by": served_by,
    }
    return timing, memory, document


def against_small(row: dict[str, Any], small: dict[str, Any]) -> None:
    """Set `row`'s rate against the 50-step figure `small` of the same run, and its target."""
    small_rps = small["figure"]["rps"]
    row["vs_small"] = round(row["figure"]["rps"] / small_rps, 3) if small_rps else 0.0
    row["vs_small_label"] = small["label"]
    row["target"] = f">= {TARGET_LARGE_VS_SMALL:.2f}x the 50-step figure"
    row["met"] = row["vs_small"] >= TARGET_LARGE_VS_SMALL and row["figure"]["errors"] == 0


def first_view_row(row: dict[str, Any], steps: int, minimal_s: float) -> dict[str, Any]:
    """The first view of the page `row` measured, timed alone before its rounds: the version
    was in no cache of any worker (one request; the load rounds serve the page it stored)."""
    first_ms, minimal_ms = row["first_view_ms"], minimal_s * 1000
    log(f"first view of the {LARGE_CREATE_SIZE:,}-Tentacle plan page: {first_ms:.0f} ms")
    return {
        "label": f"plan page, {LARGE_CREATE_SIZE:,} Tentacles ({steps:,} steps): the first "
        "view of a version, nothing cached (one request, alone)",
        "kind": "compute",
        "figure": {"median_ms": first_ms, "min_ms": first_ms, "max_ms": first_ms},
        "minimal": {"p50_ms": round(minimal_ms, 3)},
        "ratio": round(first_ms / minimal_ms, 1) if minimal_ms else None,
        "target": None,
        "met": None,
    }


def measure_paste_growth() -> dict[str, Any]:
    """How the evidence parser's time grows with the paste (domain/evidence.py), in this
    process: each shape at PASTE_LINES and PASTE_GROWTH times as many, best of 5 runs each
    (noise only ever adds time). A paste once held a worker for minutes; a time per parse
    that grows by more than twice the size factor means a quadratic part is back."""
    import timeit

    from upgrade_planner.domain.evidence import parse_evidence

    def per_parse(text: str, number: int) -> float:
        return min(timeit.repeat(lambda: parse_evidence(text), repeat=5, number=number)) / number

    growth: dict[str, float] = {}
    largest_ms: dict[str, float] = {}
    for shape, make in PASTE_SHAPES.items():
        small, large = make(PASTE_LINES), make(PASTE_GROWTH * PASTE_LINES)
        number = 1
        while per_parse(small, number) * number < 0.02:  # enough parses to time well
            number *= 2
        small_s = per_parse(small, number)
        large_s = per_parse(large, max(1, number // PASTE_GROWTH))
        growth[shape] = round(large_s / small_s, 2)
        largest_ms[shape] = round(large_s * 1000, 2)
    worst = max(growth, key=lambda shape: growth[shape])
    log(f"paste parsing: worst growth {growth[worst]:.2f}x ({worst})")
    return {
        "label": f"evidence paste parsing, {PASTE_GROWTH}x the paste ({len(growth)} shapes, "
        f"{PASTE_LINES:,} → {PASTE_GROWTH * PASTE_LINES:,} lines)",
        "kind": "growth",
        "figure": {
            "worst_growth": growth[worst],
            "worst_shape": worst,
            "growth": growth,
            "large_ms": largest_ms,
        },
        "minimal": {},
        "ratio": None,
        "target": f"< {TARGET_PASTE_GROWTH:g}x time for {PASTE_GROWTH}x the paste",
        "met": growth[worst] < TARGET_PASTE_GROWTH,
    }


# --- Forecast recomputation ------------------------------------------------------------------

FORECAST_REPEATS = 15


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def measure_forecast(client: Client, edit_token: str) -> dict[str, Any]:
    """The timed runbook's forecast (domain/schedule.py) recomputed for the 5,000-Tentacle plan,
    in this process from the steps its API document lists: what every read of the plan does
    after its queries. Median of FORECAST_REPEATS runs, beside the minimal view's latency."""
    from upgrade_planner.domain.planning.estimates import needs_person
    from upgrade_planner.domain.schedule import Task, Window, forecast

    document = client.expect(200, "GET", f"/api/v1/plans/{edit_token}").json()
    steps = document["steps"]
    tasks = [
        Task(
            step["id"],
            step["estimate_minutes"],
            tuple(step["depends_on"]),
            needs_person=needs_person(step["kind"], step["method"]),
            finished=step["state"] in ("done", "skipped"),
            started_at=_moment(step["started_at"]) if step["state"] == "in-progress" else None,
            finished_at=_moment(step["finished_at"]),
        )
        for step in steps
    ]
    dependencies = sum(len(task.depends_on) for task in tasks)
    now = datetime.now(UTC)
    times = []
    for _ in range(FORECAST_REPEATS):
        started = time.perf_counter()
        forecast(tasks, now=now, people=2, window=Window(now))
        times.append(time.perf_counter() - started)
    minimal_ms = minimal_latency(client) * 1000
    median_ms = statistics.median(times) * 1000
    log(f"forecast of {len(tasks):,} steps, {dependencies:,} dependencies: {median_ms:.1f} ms")
    return {
        "label": f"forecast recomputation, 5,000 Tentacles ({len(tasks):,} steps, "
        f"{dependencies:,} dependencies)",
        "kind": "compute",
        "figure": {
            "median_ms": round(median_ms, 2),
            "min_ms": round(min(times) * 1000, 2),
            "max_ms": round(max(times) * 1000, 2),
            "steps": len(tasks),
            "dependencies": dependencies,
        },
        "minimal": {"p50_ms": round(minimal_ms, 3)},
        "ratio": round(median_ms / minimal_ms, 1) if minimal_ms else None,
        "target": None,
        "met": None,
    }


# --- Mixed load and job latency ----------------------------------------------------------------


@dataclass
class MixedFixtures:
    viewed: list[Viewed]
    editors: list[Editor]


def mixed_fixtures(client: Client) -> MixedFixtures:
    """MIXED_EDITORS plans that editors move, and quiet plans, all of 50 steps; the viewers
    watch MIXED_WATCHED_EDITORS of the edited plans and enough quiet ones to make
    MIXED_VIEWED_PLANS."""
    editors, viewed = [], []
    for index in range(MIXED_EDITORS):
        document = plan_with_steps(client, f"Bench mixed edited {index}", STEPS_FOR_SMALL_PLAN)
        fixture = fixture_from(client, document, document["edit_token"])
        editors.append(Editor(fixture.edit_token, fixture.first_ready_step))
        if index < MIXED_WATCHED_EDITORS:
            viewed.append(Viewed(fixture.view_token, fixture.version))
    for index in range(MIXED_VIEWED_PLANS - len(viewed)):
        document = plan_with_steps(client, f"Bench mixed quiet {index}", STEPS_FOR_SMALL_PLAN)
        fixture = fixture_from(client, document, document["edit_token"])
        viewed.append(Viewed(fixture.view_token, fixture.version))
    return MixedFixtures(viewed, editors)


def measure_mixed(port: int, fixtures: MixedFixtures, *, server: str = "") -> list[dict[str, Any]]:
    """The mixed load, with the same schedule against the minimal view before and after.
    `server` names the server's workers in the rows' labels, where they are not the run's."""

    def load(seconds: float, *, minimal: bool = False, seed: int = 9) -> MixedResult:
        return run_mixed(
            port, fixtures.viewed, fixtures.editors, viewers=MIXED_VIEWERS,
            interval=MIXED_POLL_INTERVAL, transitions_per_second=MIXED_TRANSITIONS_PER_SECOND,
            seconds=seconds, minimal=minimal, seed=seed,
        )  # fmt: skip

    log(f"mixed load: minimal view on the same schedule for {MIXED_MINIMAL_SECONDS:g} s")
    baseline = load(MIXED_MINIMAL_SECONDS / 2, minimal=True)
    time.sleep(SETTLE_SECONDS)
    log(
        f"mixed load: {MIXED_VIEWERS} viewers polling every {MIXED_POLL_INTERVAL:g} s + "
        f"{MIXED_TRANSITIONS_PER_SECOND:g} transitions/s for {MIXED_SECONDS:g} s"
    )
    mixed = load(MIXED_SECONDS)
    time.sleep(SETTLE_SECONDS)
    after = load(MIXED_MINIMAL_SECONDS / 2, minimal=True, seed=10)
    combined = MixedResult(
        baseline.outcomes + after.outcomes, baseline.late + after.late,
        baseline.seconds + after.seconds,
    )  # fmt: skip
    for outcome in combined.outcomes:
        outcome.kind = "minimal"
    minimal = combined.summary()["minimal"]
    rows = []
    summary = mixed.summary()
    everything = MixedResult(
        [type(o)("all requests", o.status, o.seconds, o.error) for o in mixed.outcomes],
        mixed.late,
        mixed.seconds,
    ).summary()
    for kind, figure in [*summary.items(), *everything.items()]:
        bar = TARGET_MIXED_ALL_P99_MS if kind == "all requests" else TARGET_MIXED_P99_MS
        met = figure["errors"] == 0 and figure["p99"] <= bar
        rows.append(
            {
                "label": f"mixed load: {kind}" + (f" ({server})" if server else ""),
                "kind": "mixed",
                "figure": figure,
                "minimal": minimal,
                "ratio": round(figure["p99"] / minimal["p99"], 1) if minimal["p99"] else None,
                "target": f"0 errors, p99 <= {bar:g} ms",
                "met": met,
                "late": mixed.late,
            }
        )
        log(
            f"mixed load, {kind}: {figure['requests']} requests, {figure['errors']} errors, "
            f"p99 {figure['p99']} ms (minimal on the same schedule: p99 {minimal['p99']} ms)"
        )
    return rows


def measure_enqueue(client: Client, env: dict[str, str], database_url: str) -> dict[str, Any]:
    """Enqueue → job start through the outbox with a real worker: a step start writes a
    verification job in its transaction; after commit the web process relays it to Redis; the
    worker claims it. Timed from the job row's created_at to its started_at (both stamped by
    the application on this machine's clock), one job at a time."""
    body = {"actor": "bench", "reason": "bench job latency"}
    with fake_octopus(version="3.0.0") as fake:
        log("enqueue → job start: starting a Celery worker (prefork, 2 processes)")
        worker = celery_worker(worker_env(env), RESULTS / "worker.log", name="bench")
        database = Database(database_url)
        try:
            plans = [make_plan(client, f"Bench jobs {i}", fake) for i in range(JOB_PLANS)]
            minimal_ms = minimal_latency(client) * 1000
            since = database.query("SELECT now()")[0][0]
            for number in range(JOB_SAMPLES):
                plan = plans[number % JOB_PLANS]
                base = f"/api/v1/plans/{plan.edit}/steps/{plan.step}"
                client.expect(200, "POST", f"{base}/start", body)

                # Wait for the job to finish before moving the step on: a transition that
                # runs while the job records its evidence can deadlock with it (see
                # docs/benchmarks.md), and that is not what this figure measures.
                def finished(plan_id: str = plan.id) -> bool:
                    rows = database.query(
                        "SELECT count(*) FROM plans_job WHERE plan_id = %s AND created_at >= %s"
                        " AND state NOT IN ('done', 'failed')",
                        (plan_id, since),
                    )
                    still_open: int = rows[0][0]
                    return still_open == 0

                with contextlib.suppress(BenchError):
                    wait_for("the job to run", finished, timeout=JOB_START_WITHIN, interval=0.01)
                client.expect(200, "POST", f"{base}/complete", body)
                client.expect(200, "POST", f"{base}/reopen", body)
            rows = database.query(
                """SELECT extract(epoch FROM started_at - created_at),
                          extract(epoch FROM published_at - created_at),
                          extract(epoch FROM started_at - published_at), state
                     FROM plans_job WHERE created_at >= %s""",
                (since,),
            )
        finally:
            database.close()
            worker.stop()
    started_ms = sorted(float(r[0]) * 1000 for r in rows if r[0] is not None)
    relayed_ms = sorted(float(r[1]) * 1000 for r in rows if r[1] is not None)
    picked_ms = sorted(float(r[2]) * 1000 for r in rows if r[2] is not None)

    def pct(values: list[float], p: float) -> float | None:
        if not values:
            return None
        index = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
        return round(values[index], 2)

    figure = {
        "jobs": len(rows),
        "started": len(started_ms),
        "p50": pct(started_ms, 50),
        "p95": pct(started_ms, 95),
        "p99": pct(started_ms, 99),
        "max": round(started_ms[-1], 2) if started_ms else None,
        "written_to_published_p50": pct(relayed_ms, 50),
        "written_to_published_p95": pct(relayed_ms, 95),
        "published_to_started_p50": pct(picked_ms, 50),
        "published_to_started_p95": pct(picked_ms, 95),
        "errors": len(rows) - len(started_ms) + max(0, JOB_SAMPLES - len(rows)),
    }
    log(
        f"enqueue → job start: p50 {figure['p50']} ms, p95 {figure['p95']} ms over "
        f"{len(started_ms)} jobs ({figure['errors']} not started)"
    )
    return {
        "label": "enqueue → job start (outbox relay, Redis, 1 worker, 2 processes)",
        "kind": "jobs",
        "figure": figure,
        "minimal": {"p50_ms": round(minimal_ms, 3)},
        "ratio": round(figure["p50"] / minimal_ms, 1) if figure["p50"] and minimal_ms else None,
        "target": None,
        "met": None,
    }


# --- Report ---------------------------------------------------------------------------------


def machine_info(database_url: str, redis_url: str) -> dict[str, Any]:
    import django
    import psycopg
    import redis

    with psycopg.connect(database_url, connect_timeout=5) as connection:
        row = connection.execute("SHOW server_version").fetchone()
        pg_version = row[0] if row else "?"
        row = connection.execute("SHOW autovacuum").fetchone()
        autovacuum = row[0] if row else "?"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        redis_version = client.info("server").get("redis_version", "?")
    finally:
        client.close()
    wrk_version = ["wrk", "--version"]
    wrk = subprocess.run(wrk_version, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_total_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model,
        "memory_gib": round(mem_total_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        # gunicorn ships no type information; its distribution's metadata has the same version.
        "gunicorn": importlib.metadata.version("gunicorn"),
        "postgresql": pg_version,
        "postgresql_autovacuum": autovacuum,
        "redis": redis_version,
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip() or "?",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


LEGEND = (
    "\nLoad rows: wrk, 4 connections, rounds alternating with /bench/minimal; ratio = the "
    "figure's req/s / the minimal view's req/s over the same rounds (per-round ratios in "
    "brackets). Latencies are under that load (2 workers, 4 connections: queueing included). "
    "Create rows: one API request each, median of the repeats; the minimal view's sequential "
    "latency was measured just before each. Memory: VmHWM of the gunicorn workers. Mixed "
    f"rows: {MIXED_VIEWERS} viewers polling read-only links every {MIXED_POLL_INTERVAL:g} s "
    f"(open loop, following the version) + {MIXED_TRANSITIONS_PER_SECOND:g} transitions/s "
    f"for {MIXED_SECONDS:g} s (bench/mixed.py); the minimal view ran on the same schedule "
    "for comparison. Job row: sequential step starts, each writing a verification job; "
    "created_at → started_at of the job rows. Forecast row: the timed runbook's forecast "
    "(domain/schedule.py) of the 5,000-Tentacle plan, recomputed in the bench process. "
    f"The {LARGE_CREATE_SIZE:,}-Tentacle plan is created once, after the other creations; its "
    "memory row is the VmHWM of the worker that served it; its page and API read rows also "
    "give their rate against the 50-step page (cached) and the 50-step API read of the same "
    "run (the issue asks for at least 1/1.5 of it). Readiness rows: a modern upgrade whose "
    "readiness section lists inhibitors, warnings and notes. Paste row: the evidence parser "
    f"(domain/evidence.py) on {len(PASTE_SHAPES)} paste shapes at {PASTE_LINES:,} and "
    f"{PASTE_GROWTH * PASTE_LINES:,} lines, in the bench process, best of 5; the worst "
    "growth of the time per parse."
)


def _fmt(value: object, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(figures: list[dict[str, Any]]) -> str:
    header = (
        "| Figure | Result | p50 ms | p95 ms | p99 ms | Errors | Minimal view (same rounds) "
        "| Ratio (per round) | Target | Met |"
    )
    lines = [header, "|" + "---|" * 10]
    for row in figures:
        fig, base = row["figure"], row["minimal"]
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        if row["kind"] == "load":
            rounds = ", ".join(f"{r:.2f}" for r in row["round_ratios"])
            cells = [
                row["label"],
                f"{_fmt(fig['rps'])} req/s",
                _fmt(fig["p50"], 2),
                _fmt(fig["p95"], 2),
                _fmt(fig["p99"], 2),
                str(fig["errors"]),
                f"{_fmt(base['rps'])} req/s, p50 {_fmt(base['p50'], 2)} ms, "
                f"p99 {_fmt(base['p99'], 2)} ms",
                f"{row['ratio']:.3f}x ({rounds})",
            ]
            if "vs_small" in row:
                cells[-1] += f"; {row['vs_small']:.2f}x the {row['vs_small_label']}"
        elif row["kind"] == "create":
            cells = [
                row["label"],
                f"{fig['median_s']:.3f} s (median; {fig['min_s']:.3f}-{fig['max_s']:.3f})",
                "", "", "", "0",
                f"p50 {base['p50_ms']:.2f} ms (sequential)",
                f"{row['ratio']:,.0f}x the minimal latency",
            ]  # fmt: skip
        elif row["kind"] == "compute":
            cells = [
                row["label"],
                f"{fig['median_ms']:.1f} ms (median; {fig['min_ms']:.1f}-{fig['max_ms']:.1f})",
                "", "", "", "0",
                f"p50 {base['p50_ms']:.2f} ms (sequential)",
                f"{row['ratio']:,.1f}x the minimal latency" if row["ratio"] else "-",
            ]  # fmt: skip
        elif row["kind"] == "growth":
            cells = [
                row["label"],
                f"worst {fig['worst_growth']:.2f}x the time ({fig['worst_shape']})",
                "", "", "", "0", "-", "-",
            ]  # fmt: skip
        elif row["kind"] == "mixed":
            cells = [
                row["label"],
                f"{_fmt(fig['rps'])} req/s ({fig['requests']:,} requests)",
                _fmt(fig["p50"], 2),
                _fmt(fig["p95"], 2),
                _fmt(fig["p99"], 2),
                str(fig["errors"]),
                f"same schedule: p50 {_fmt(base['p50'], 2)} ms, p99 {_fmt(base['p99'], 2)} ms",
                f"p99 {row['ratio']:.1f}x the minimal's" if row["ratio"] else "-",
            ]
        elif row["kind"] == "jobs":
            cells = [
                row["label"],
                f"{fig['started']} of {fig['jobs']} jobs started; written → published p50 "
                f"{_fmt(fig['written_to_published_p50'], 2)} ms, published → started p50 "
                f"{_fmt(fig['published_to_started_p50'], 2)} ms",
                _fmt(fig["p50"], 2),
                _fmt(fig["p95"], 2),
                _fmt(fig["p99"], 2),
                str(fig["errors"]),
                f"p50 {base['p50_ms']:.2f} ms (sequential)",
                f"{row['ratio']:,.1f}x the minimal latency" if row["ratio"] else "-",
            ]
        else:
            cells = [
                row["label"],
                f"{fig['peak_mib']:.1f} MiB VmHWM",
                "", "", "", "",
                f"{base['peak_mib']:.1f} MiB (warm worker)",
                f"{row['ratio']:.2f}x" if row["ratio"] else "-",
            ]  # fmt: skip
        cells += [row["target"] or "", met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- Main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (default 3)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="seconds per wrk round (default 3)"
    )
    parser.add_argument("--create-repeats", type=int, default=3, help="plan creations per size")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    args.rounds = min(max(args.rounds, 1), 10)
    args.seconds = min(max(args.seconds, 1.0), 30.0)
    args.create_repeats = min(max(args.create_repeats, 1), 10)

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    check_loopback(database_url, "BENCH_DATABASE_URL")
    check_loopback(redis_url, "BENCH_REDIS_URL")
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: apt-get install -y wrk")

    # A SIGTERM (e.g. from a CI timeout) unwinds through the finally blocks like Ctrl-C.
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = bench_env(database_url, redis_url)
    fresh_database(database_url)
    machine = machine_info(database_url, redis_url)
    ticks_at_start = cpu_ticks()
    log(f"machine: {machine}")
    python = sys.executable
    run_checked([python, "manage.py", "migrate", "--noinput"], env=env, timeout=120)
    run_checked([python, "manage.py", "collectstatic", "--noinput"], env=env, timeout=120)

    figures: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        gunicorn(env, RESULTS / "gunicorn.log") as server,
    ):
        workdir = Path(tmp)
        client = Client(server.port)
        warm_up(client)

        log("plan creation (memory is read from fresh, warmed-up workers)")
        creation, memory, big = measure_creation(client, server, args.create_repeats)
        large_creation, large_memory, huge_doc = measure_large_creation(client, server)

        log("fixtures: a 50-step plan, the 5,000-Tentacle plan, 4 plans for transitions")
        small_doc = plan_with_steps(client, "Bench 50 steps", STEPS_FOR_SMALL_PLAN)
        complete_some(client, small_doc["edit_token"], STEPS_DONE_IN_FIXTURES)
        complete_some(client, big["edit_token"], STEPS_DONE_IN_FIXTURES)
        small = fixture_from(client, small_doc, small_doc["edit_token"])
        large = fixture_from(client, big, big["edit_token"])
        huge = fixture_from(client, huge_doc, huge_doc["edit_token"])
        del huge_doc
        readiness_doc = client.expect(
            201,
            "POST",
            "/api/v1/plans",
            readiness_plan_body("Bench readiness", READINESS_TENTACLES),
        ).json()
        findings = len(readiness_doc["readiness"]["findings"])
        if not findings:
            raise BenchError("the readiness fixture plan has no readiness findings")
        with_findings = fixture_from(client, readiness_doc, readiness_doc["edit_token"])
        movers = []
        for index in range(CONNECTIONS):
            doc = plan_with_steps(client, f"Bench transitions {index}", STEPS_FOR_SMALL_PLAN)
            movers.append(fixture_from(client, doc, doc["edit_token"]))
        count = MIXED_EDITORS + MIXED_VIEWED_PLANS - MIXED_WATCHED_EDITORS
        log(f"fixtures: {count} plans for the mixed load")
        mixed_plans = mixed_fixtures(client)

        analyze(database_url)

        def reset_movers() -> None:
            for mover in movers:
                reset_step(client, mover.edit_token, mover.first_ready_step)

        scenarios = [
            Scenario(
                "poll_unchanged",
                "poll, unchanged (304)",
                [f"/p/{small.edit_token}/poll?v={small.version}"],
                expect=304,
                target_ratio=TARGET_POLL_RATIO,
            ),
            Scenario(
                "page_50",
                f"plan page, {small.steps} steps (cached: this version was seen before)",
                [f"/p/{small.edit_token}/"],
                expect=200,
                target_ratio=TARGET_PAGE_RATIO,
            ),
            Scenario(
                "page_50_uncached",
                f"plan page, {small.steps} steps, not cached (first view of a version)",
                # The Tentacle table has one page, so page=N shows exactly the page above,
                # but every N is a view no one has asked for yet.
                [f"/p/{small.edit_token}/"],
                expect=200,
                unique_param="page",
            ),
            Scenario(
                "page_5000",
                f"plan page, 5,000 Tentacles ({large.steps:,} steps)",
                [f"/p/{large.edit_token}/"],
                expect=200,
            ),
            Scenario(
                "page_large",
                f"plan page, {LARGE_CREATE_SIZE:,} Tentacles ({huge.steps:,} steps; first "
                "page of the Tentacle table; cached: this version was seen before)",
                [f"/p/{huge.edit_token}/"],
                expect=200,
                first_view=True,
            ),
            Scenario(
                "page_readiness",
                f"plan page with the readiness section ({findings} findings, "
                f"{with_findings.steps} steps; cached)",
                [f"/p/{with_findings.edit_token}/"],
                expect=200,
            ),
            Scenario(
                "page_readiness_uncached",
                f"plan page with the readiness section ({findings} findings), not cached",
                [f"/p/{with_findings.edit_token}/"],
                expect=200,
                unique_param="page",
            ),
            Scenario(
                "poll_changed",
                "poll, changed, cached (another viewer rendered this version)",
                [f"/p/{small.edit_token}/poll?v=0"],
                expect=200,
            ),
            Scenario(
                "poll_changed_uncached",
                "poll, changed, not cached (first viewer of a version)",
                [f"/p/{small.edit_token}/poll?v=0"],
                expect=200,
                unique_param="page",
            ),
            Scenario(
                "transition",
                "step transition, API POST start/complete/reopen",
                [f"/api/v1/plans/{m.edit_token}/steps/{m.first_ready_step}/" for m in movers],
                expect=200,
                method="POST",
                body=json.dumps({"actor": "bench", "reason": "bench cycle"}),
                cycle=TRANSITION_CYCLE,
                before_round=reset_movers,
            ),
            Scenario(
                "api_read",
                f"API read, GET /api/v1/plans/{{token}} ({small.steps} steps, 200)",
                [f"/api/v1/plans/{small.edit_token}"],
                expect=200,
            ),
            Scenario(
                "api_read_large",
                f"API read, GET /api/v1/plans/{{token}} ({LARGE_CREATE_SIZE:,} Tentacles, "
                f"{huge.steps:,} steps, 200)",
                [f"/api/v1/plans/{huge.edit_token}"],
                expect=200,
            ),
            Scenario(
                "api_read_large_page",
                f"API read of one page, GET /api/v1/plans/{{token}}?page=200&page_size="
                f"{LARGE_PAGE_SIZE} ({LARGE_CREATE_SIZE:,} Tentacles, 200)",
                [f"/api/v1/plans/{huge.edit_token}?page=200&page_size={LARGE_PAGE_SIZE}"],
                expect=200,
            ),
            Scenario(
                "api_not_modified",
                "API read with If-None-Match (304)",
                [f"/api/v1/plans/{small.edit_token}"],
                expect=304,
                headers={"If-None-Match": small.etag},
            ),
        ]
        for scenario in scenarios:
            if scenario.key in TARGET_RATIOS:
                scenario.target_ratio = TARGET_RATIOS[scenario.key]
        load = []
        for scenario in scenarios:
            load.append(measure(server.port, scenario, args.rounds, args.seconds, workdir))
        by_key = {scenario.key: row for scenario, row in zip(scenarios, load, strict=True)}
        against_small(by_key["page_large"], by_key["page_50"])
        load.insert(
            load.index(by_key["page_large"]) + 1,
            first_view_row(by_key["page_large"], huge.steps, minimal_latency(client)),
        )
        against_small(by_key["api_read_large"], by_key["api_read"])
        against_small(by_key["api_read_large_page"], by_key["api_read"])
        mixed = measure_mixed(server.port, mixed_plans)
        job_latency = measure_enqueue(client, env, database_url)
        recomputation = measure_forecast(client, large.edit_token)
        paste_growth = measure_paste_growth()
        figures = (
            load
            + mixed
            + [job_latency]
            + creation
            + [large_creation, recomputation, memory, large_memory, paste_growth]
        )

    # The mixed load again against the workers production runs (gunicorn.conf.py: threaded
    # workers, more processes than cores), on the same plans: the tail a team sees depends on
    # how requests queue, and 2 sync workers queue every poll behind a render.
    with gunicorn(env, RESULTS / "gunicorn-production.log", production_workers=True) as production:
        warm_up(Client(production.port), PRODUCTION_WORKERS)
        figures += measure_mixed(
            production.port,
            mixed_plans,
            server=f"production workers: {PRODUCTION_WORKERS} gthread x {PRODUCTION_THREADS}",
        )

    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    # How much of the machine the host took back during the run: the ratios of a run with a
    # high share are worth less (see docs/benchmarks.md).
    machine["cpu_steal_percent"] = steal_percent(ticks_at_start, cpu_ticks())
    report: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "config": {
            "server": f"gunicorn, {WORKERS} sync workers, production settings (DEBUG=0)",
            "load_tool": "wrk (mixed load: bench/mixed.py, asyncio)",
            "connections": CONNECTIONS,
            "mixed": {
                "viewers": MIXED_VIEWERS,
                "viewed_plans": MIXED_VIEWED_PLANS,
                "editors": MIXED_EDITORS,
                "watched_editor_plans": MIXED_WATCHED_EDITORS,
                "poll_interval_s": MIXED_POLL_INTERVAL,
                "transitions_per_s": MIXED_TRANSITIONS_PER_SECOND,
                "seconds": MIXED_SECONDS,
                "minimal_seconds": MIXED_MINIMAL_SECONDS,
            },
            "job_samples": JOB_SAMPLES,
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "create_repeats": args.create_repeats,
            "wall_seconds": round(time.monotonic() - started, 1),
        },
        "figures": figures,
        "table_markdown": table(figures),
        "legend": LEGEND.strip(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, Django {machine['django']}, "
        f"PostgreSQL {machine['postgresql']}, Redis {machine['redis']}; "
        f"load average {machine['load_average_at_start']} → {machine['load_average_at_end']}; "
        f"CPU time stolen by the host during the run: {machine['cpu_steal_percent']} %"
    )
    print(report["table_markdown"])
    print(LEGEND)
    output = args.output.resolve()
    shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    print(f"\nWritten to {shown} in {report['config']['wall_seconds']} s.")
    return 0


def cli() -> None:
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started has been stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    cli()
