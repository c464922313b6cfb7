"""`make drill`: three fault drills against real processes, with a pass/fail table.

Starts a throwaway PostgreSQL cluster and a Redis server of its own (both on free loopback
ports), gunicorn with production settings, a `celery worker` (prefork, 2 processes), `celery
beat` (the outbox relay every 10 s) and two fake Octopus servers (tests/fake_octopus.py,
one fast, one slow). Then:

  a) Redis stopped during 500 step transitions;
  b) the Celery worker killed with SIGKILL mid-job 10 times, restarted each time;
  c) PostgreSQL restarted (stopped, then started) under load;
  d) a lost job: its worker SIGKILLed mid-job; it is re-queued and finishes, and a job whose
     worker dies on every attempt ends failed at its attempt limit, never "running" for ever;
  e) a late failure: a check that fails after a person finished its step and started the next
     one is recorded as evidence on the step, which stays done.

Exits 1 if any check fails. Everything it starts is stopped, and its temporary directory
removed, on the way out, error or not. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from bench.harness import (
    RESULTS,
    ROOT,
    STATE_POSITION,
    TRANSITION_CYCLE,
    BenchError,
    Client,
    OctopusServer,
    PlanRef,
    Server,
    bench_env,
    free_port,
    gunicorn,
    log,
    make_plan,
    run_checked,
    wait_for,
    worker_env,
)
from bench.processes import (
    CeleryProcess,
    Database,
    PostgresCluster,
    RedisServer,
    celery_beat,
    celery_worker,
    fake_octopus,
    log_size,
    most_common_errors,
    postgres_cluster,
)

LOGS = RESULTS / "drill-logs"

# The fake servers report a version below the plans' target (3.17.14): a check then records
# its evidence on the step without completing it, so the drill's own transitions never race
# a job for the same step.
FAKE_VERSION = "3.0.0"
CLIENT_THREADS = 4
REQUEST_TIMEOUT = 30.0

# a) Redis outage
REDIS_PLANS = 50
TRANSITIONS = 500
OUTAGE_AT_LEAST = 12.0  # seconds: beat's relay (every 10 s) runs at least once into the outage
TRANSITIONS_WITHIN = 120.0  # seconds: transitions not sent by then count as failed
SLOW_P99_MARGIN = 0.25  # s: outage p99 may exceed the p99 before it by at most this
SLOW_MAX = 1.0  # s: no transition during the outage may take longer ("a fraction of a second")
JOBS_AFTER_REDIS_WITHIN = 90.0

# b) worker kills
KILLS = 10
KILL_PLANS = 30
SLOW_CHECK_SECONDS = 4.0
# services/outbox.py (job_claim) re-claims a job left `running` CELERY_TASK_TIME_LIMIT (90 s)
# + 30 s after it started; the relay runs every 10 s; then the check takes SLOW_CHECK_SECONDS.
JOBS_AFTER_KILLS_WITHIN = 240.0

# c) PostgreSQL restart
PG_BEFORE = 5.0
PG_DOWN = 10.0
PG_AFTER = 20.0
PG_RECOVER_WITHIN = 10.0  # every request type answers again within this many s of the restart
# An unchanged poll and a cached page read the version cached for up to this long (the app's
# access.PLAN_VERSION_SECONDS), so they may answer (304, or the cached page) without the
# database that long.
POLL_VERSION_CACHED_FOR = 1.0
WORKER_RECOVER_WITHIN = 30.0

# d) lost jobs. The worker runs with a short hard time limit, so that a job a killed worker left
# running is taken back (services/outbox.py, jobs_requeue_lost: the limit + 30 s) within a
# minute instead of two; the attempt limit of the job killed every time is lowered to 2 in the
# database for the same reason.
LOST_TIME_LIMIT = 12
LOST_JOB_OVERRIDES = {
    "CELERY_TASK_TIME_LIMIT": str(LOST_TIME_LIMIT),
    "CELERY_TASK_SOFT_TIME_LIMIT": str(LOST_TIME_LIMIT - 2),
}
LOST_TAKEN_BACK_WITHIN = LOST_TIME_LIMIT + 30 + 10 + SLOW_CHECK_SECONDS + 30  # + relay, check
LOST_ATTEMPTS = 2
# Longer than all the drills together: beat sends no re-verification while they run.
DRILL_REVERIFY_SECONDS = 24 * 3600

# e) late failure
LATE_CHECK_SECONDS = 4.0
LATE_WITHIN = 60.0


# --- Results ---------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    passed: bool
    observed: str


@dataclass
class DrillResult:
    key: str
    title: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    def check(self, name: str, passed: bool, observed: str) -> bool:
        self.checks.append(Check(name, bool(passed), observed))
        log(f"{self.key}: {'PASS' if passed else 'FAIL'} {name}: {observed}")
        return bool(passed)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.error and all(c.passed for c in self.checks)


# --- Requests --------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (connection error or timeout)
    started: float  # time.monotonic()
    finished: float
    detail: str = ""
    plan: int = -1
    wall_started: float = 0.0  # time.time(), to match the database's timestamps

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 or self.status == 304


def timed(
    client: Client, kind: str, method: str, path: str, body: Any = None, plan: int = -1
) -> Sample:
    wall = time.time()
    started = time.monotonic()
    try:
        reply = client.request(method, path, body, timeout=REQUEST_TIMEOUT)
    except OSError as error:  # refused, reset, timed out
        detail = f"{type(error).__name__}: {error}"
        return Sample(kind, 0, started, time.monotonic(), detail, plan, wall)
    finished = time.monotonic()
    detail = ""
    if not (200 <= reply.status < 300 or reply.status == 304):
        detail = reply.body[:300].decode(errors="replace")
    return Sample(kind, reply.status, started, finished, detail, plan, wall)


def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(50) * 1000, 1),
        "p99_ms": round(pick(99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def fmt_latency(stats: dict[str, Any]) -> str:
    if not stats["n"]:
        return "no 2xx answer"
    return f"p50 {stats['p50_ms']} / p99 {stats['p99_ms']} / max {stats['max_ms']} ms"


def statuses(samples: list[Sample]) -> dict[str, int]:
    return dict(sorted(Counter(str(s.status) for s in samples).items()))


# --- Plans -----------------------------------------------------------------------------------


def resync(client: Client, plan: PlanRef) -> None:
    """Put the plan's cycle where its step really is (a timed-out request may have committed)."""
    with contextlib.suppress(OSError, ValueError, KeyError, StopIteration):
        reply = client.request("GET", f"/api/v1/plans/{plan.edit}", timeout=REQUEST_TIMEOUT)
        if reply.status == 200:
            state = next(s["state"] for s in reply.json()["steps"] if s["id"] == plan.step)
            plan.position = STATE_POSITION.get(state, plan.position)


def make_plans(
    client: Client, prefix: str, count: int, server: OctopusServer | None
) -> list[PlanRef]:
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return list(pool.map(lambda i: make_plan(client, f"{prefix} {i}", server), range(count)))


def cycle_transitions(
    client: Client, plans: list[PlanRef], per_plan: int, *, within: float
) -> list[Sample]:
    """`per_plan` transitions on each plan's step, CLIENT_THREADS clients in parallel; one plan's
    transitions are strictly sequential. After a failed one the step's state is read back, so
    the cycle goes on from where the server is. No transition is sent after `within` seconds."""
    groups = [list(enumerate(plans))[i::CLIENT_THREADS] for i in range(CLIENT_THREADS)]
    body = {"actor": "drill", "reason": "drill cycle"}
    deadline = time.monotonic() + within

    def work(group: list[tuple[int, PlanRef]]) -> list[Sample]:
        out: list[Sample] = []
        for _ in range(per_plan):
            for index, plan in group:
                if time.monotonic() > deadline:
                    return out
                action = TRANSITION_CYCLE[plan.position % len(TRANSITION_CYCLE)]
                sample = timed(client, action, "POST", plan.transition_path(), body, plan=index)
                if sample.ok:
                    plan.position += 1
                else:
                    resync(client, plan)
                out.append(sample)
        return out

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        return [sample for chunk in pool.map(work, groups) for sample in chunk]


class Job(TypedDict):
    """A row of plans_job, with how many evidence entries on its step carry its id."""

    id: str
    plan_id: str
    state: str
    attempts: int
    created_at: datetime
    published_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str
    evidence: int


# --- The stack of processes ------------------------------------------------------------------


class Stack:
    """PostgreSQL, Redis, gunicorn, worker, beat and the fake servers, for all three drills."""

    def __init__(self, workdir: Path, exits: contextlib.ExitStack) -> None:
        self.workdir = workdir
        self.exits = exits
        LOGS.mkdir(parents=True, exist_ok=True)
        for old in LOGS.glob("*.log"):
            old.unlink()
        self.pg: PostgresCluster = exits.enter_context(
            postgres_cluster(workdir / "postgresql", free_port())
        )
        self.pg.create_database("drill")
        self.database_url = self.pg.url("drill")
        self.redis = RedisServer(workdir / "redis", free_port())
        exits.callback(self.redis.stop)
        self.redis.start()
        self.env = bench_env(self.database_url, self.redis.url(0))
        python = sys.executable
        log("migrate and collectstatic")
        run_checked([python, "manage.py", "migrate", "--noinput"], env=self.env, timeout=180)
        run_checked([python, "manage.py", "collectstatic", "--noinput"], env=self.env, timeout=180)
        self.fast = exits.enter_context(fake_octopus(version=FAKE_VERSION))
        self.slow = exits.enter_context(
            fake_octopus(version=FAKE_VERSION, slow_seconds=SLOW_CHECK_SECONDS)
        )
        self.web_log = LOGS / "web.log"
        self.server: Server = exits.enter_context(
            gunicorn(self.env, LOGS / "gunicorn.log", output_path=self.web_log)
        )
        self.client = Client(self.server.port)
        self.db = Database(self.database_url)
        exits.callback(self.db.close)
        self.worker: CeleryProcess | None = None
        self.worker_starts = 0
        self.beat: CeleryProcess | None = None
        exits.callback(self.stop_worker)
        exits.callback(self.stop_beat)
        self.start_worker()
        self.start_beat()

    # Celery
    def start_worker(self, **overrides: str) -> CeleryProcess:
        """A worker with the stack's environment, and `overrides` in it."""
        self.worker_starts += 1
        self.worker = celery_worker(
            {**worker_env(self.env), **overrides},
            LOGS / "worker.log",
            name=f"drill{self.worker_starts}",
        )
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def start_beat(self) -> None:
        self.stop_beat()
        schedule = self.workdir / f"beat-schedule-{time.monotonic_ns()}"
        # The periodic re-verification of steps in progress is no part of any drill: every five
        # minutes it would queue a check for each plan the drills left in progress, and a drill
        # that happened to be running then would wait behind them (drill d timed out so on a
        # slow machine). Every drill's own jobs come from the outbox relay beat still sends.
        env = {**worker_env(self.env), "REVERIFY_IN_PROGRESS_SECONDS": str(DRILL_REVERIFY_SECONDS)}
        self.beat = celery_beat(env, LOGS / "beat.log", schedule)

    def stop_beat(self) -> None:
        if self.beat is not None:
            self.beat.stop()
            self.beat = None

    # Database reads
    def now(self) -> datetime:
        now: datetime = self.db.query("SELECT now()")[0][0]
        return now

    def jobs(self, plan_ids: list[str], since: datetime | None = None) -> list[Job]:
        """The plans' jobs, each with how many evidence entries on its step carry its id."""
        rows = self.db.query(
            """
            SELECT j.id::text, j.plan_id::text, j.state, j.attempts, j.created_at,
                   j.published_at, j.started_at, j.finished_at, j.last_error,
                   (SELECT count(*) FROM plans_step s, jsonb_array_elements(s.evidence) e
                     WHERE s.id = j.step_id AND e->>'job' = j.id::text)
              FROM plans_job j
             WHERE j.plan_id = ANY(%s::uuid[]) AND (%s::timestamptz IS NULL OR j.created_at >= %s)
             ORDER BY j.created_at
            """,
            (plan_ids, since, since),
        )
        return [
            Job(
                id=row[0],
                plan_id=row[1],
                state=row[2],
                attempts=row[3],
                created_at=row[4],
                published_at=row[5],
                started_at=row[6],
                finished_at=row[7],
                last_error=row[8],
                evidence=row[9],
            )
            for row in rows
        ]

    def wait_jobs_finished(self, plan_ids: list[str], since: datetime, timeout: float) -> float:
        """Seconds until none of the plans' jobs (created since `since`) is still open."""
        started = time.monotonic()

        def finished() -> bool:
            jobs = self.jobs(plan_ids, since)
            return bool(jobs) and all(job["state"] in {"done", "failed"} for job in jobs)

        wait_for("the jobs to finish", finished, timeout=timeout, interval=0.25)
        return time.monotonic() - started

    def log_mark(self) -> int:
        return log_size(self.web_log)

    def web_error(self, since: int = 0) -> str:
        """The web processes' most frequent exceptions since `since` (a log_mark)."""
        return most_common_errors(self.web_log, since)


def once_each(jobs: list[Job]) -> tuple[bool, str]:
    """Every job done, run once, its evidence recorded once."""
    states = Counter(job["state"] for job in jobs)
    attempts = Counter(job["attempts"] for job in jobs)
    evidence = Counter(job["evidence"] for job in jobs)
    ok = (
        bool(jobs)
        and states == Counter({"done": len(jobs)})
        and attempts == Counter({1: len(jobs)})
        and evidence == Counter({1: len(jobs)})
    )
    return ok, (
        f"{len(jobs)} jobs; states {dict(states)}; attempts {dict(sorted(attempts.items()))}; "
        f"evidence entries per job {dict(sorted(evidence.items()))}"
    )


# --- a) Redis stopped during 500 transitions --------------------------------------------------


def drill_redis(stack: Stack, result: DrillResult) -> None:
    client = stack.client
    per_plan = TRANSITIONS // REDIS_PLANS
    log(f"a) {REDIS_PLANS} plans checked against the fast fake Octopus, and one probe plan")
    plans = make_plans(client, "Drill redis", REDIS_PLANS, stack.fast)
    probe = make_plan(client, "Drill redis probe", stack.fast)
    plan_ids = [plan.id for plan in plans]

    log(f"a) {TRANSITIONS} transitions with Redis up (the reference)")
    since = stack.now()
    before = cycle_transitions(client, plans, per_plan, within=TRANSITIONS_WITHIN)
    stack.wait_jobs_finished(plan_ids, since, timeout=60)
    ok_before, jobs_before = once_each(stack.jobs(plan_ids, since))
    ok_count = sum(s.ok for s in before)
    result.check(
        "Redis up (reference): transitions answer 2xx, their jobs run once",
        ok_count == TRANSITIONS and ok_before,
        f"{ok_count}/{TRANSITIONS} 2xx; {jobs_before}",
    )

    log("a) stopping Redis")
    stack.redis.stop()
    if stack.redis.ping():
        raise BenchError("Redis still answers after being stopped")
    outage_since = stack.now()
    outage_started = time.monotonic()
    mark = stack.log_mark()
    log(f"a) {TRANSITIONS} transitions with Redis stopped")
    during = cycle_transitions(client, plans, per_plan, within=TRANSITIONS_WITHIN)
    transitions_seconds = time.monotonic() - outage_started
    remaining = OUTAGE_AT_LEAST - (time.monotonic() - outage_started)
    if remaining > 0:
        time.sleep(remaining)
    health = timed(client, "healthz", "GET", "/healthz")
    jobs_during = stack.jobs(plan_ids, outage_since)
    outage_seconds = time.monotonic() - outage_started

    ok_count = sum(s.ok for s in during)
    observed = f"{ok_count}/{TRANSITIONS} 2xx; statuses {statuses(during)}"
    if len(during) < TRANSITIONS:
        observed += f"; {TRANSITIONS - len(during)} not sent within {TRANSITIONS_WITHIN:g} s"
    if ok_count < TRANSITIONS:
        observed += f"; the web log's most frequent errors: {stack.web_error(mark) or 'none'}"
    result.check("Redis down: every transition answers 2xx", ok_count == TRANSITIONS, observed)

    # Latencies of the transitions that succeeded (a fast error is no comfort), and of the
    # starts that wrote a job (those try the broker after commit), whatever they answered.
    stats_before = percentiles([s.seconds for s in before if s.ok])
    stats_during = percentiles([s.seconds for s in during if s.ok])
    queueing = _job_creating(during, plans, jobs_during)
    stats_queueing = percentiles([s.seconds for s in queueing])
    result.figures.update(
        latency_before=stats_before,
        latency_during=stats_during,
        latency_during_job_creating_starts=stats_queueing,
    )
    slowed_ok = (
        stats_during["n"] == TRANSITIONS
        and stats_during["max_ms"] <= SLOW_MAX * 1000
        and stats_during["p99_ms"] <= stats_before["p99_ms"] + SLOW_P99_MARGIN * 1000
    )
    result.check(
        f"Redis down: none slowed (max <= {SLOW_MAX:g} s, p99 <= before + "
        f"{SLOW_P99_MARGIN * 1000:.0f} ms)",
        slowed_ok,
        f"2xx before: {fmt_latency(stats_before)}; 2xx during: {fmt_latency(stats_during)}; "
        f"the {stats_queueing['n']} starts that wrote a job: {fmt_latency(stats_queueing)}",
    )
    states = Counter(job["state"] for job in jobs_during)
    pending = bool(jobs_during) and states == Counter({"pending": len(jobs_during)})
    result.check(
        "Redis down: jobs created during the outage stay pending",
        pending,
        f"{len(jobs_during)} jobs created (one per plan expected: {len(plans)}); "
        f"states {dict(states)} after {outage_seconds:.0f} s of outage; /healthz answered "
        f"{health.status}",
    )
    result.figures.update(
        outage_seconds=round(outage_seconds, 1),
        outage_transitions_seconds=round(transitions_seconds, 1),
        statuses_during=statuses(during),
        sent_during=len(during),
        healthz_during=health.status,
    )

    log("a) starting Redis again")
    stack.redis.start()
    restored = time.monotonic()
    if not jobs_during:
        recovered = "no job to run"
    else:
        try:
            stack.wait_jobs_finished(plan_ids, outage_since, timeout=JOBS_AFTER_REDIS_WITHIN)
            recovered = f"all finished {time.monotonic() - restored:.1f} s after Redis returned"
        except BenchError:
            recovered = f"not all finished within {JOBS_AFTER_REDIS_WITHIN:g} s"
    jobs_after = stack.jobs(plan_ids, outage_since)
    once, summary = once_each(jobs_after)
    result.check(
        f"Redis back: every job runs exactly once, within {JOBS_AFTER_REDIS_WITHIN:g} s",
        bool(jobs_during) and once and len(jobs_after) == len(jobs_during),
        f"{summary}; {recovered}",
    )
    result.figures["jobs_recovered_seconds"] = round(time.monotonic() - restored, 1)

    # The web processes tried the broker during the outage; they must publish at once again
    # (not only through beat's relay 10 s later) without a restart.
    probe_since = stack.now()
    reply = timed(client, "start", "POST", probe.transition_path(), {"actor": "drill"})
    with contextlib.suppress(BenchError):
        stack.wait_jobs_finished([probe.id], probe_since, timeout=30)
    probe_jobs = stack.jobs([probe.id], probe_since)
    delays = [
        (job["published_at"] - job["created_at"]).total_seconds()
        for job in probe_jobs
        if job["published_at"]
    ]
    result.check(
        "Redis back: the web publishes a new job itself at once (< 1 s, no restart)",
        reply.ok and len(probe_jobs) == 1 and bool(delays) and delays[0] < 1.0,
        f"start answered {reply.status} in {reply.seconds * 1000:.0f} ms; job published "
        + (f"{delays[0]:.2f} s after it was written" if delays else "never")
        + f"; {once_each(probe_jobs)[1]}",
    )


def _job_creating(samples: list[Sample], plans: list[PlanRef], jobs: list[Job]) -> list[Sample]:
    """The start requests during which a job row was written (matched by plan and time)."""
    index = {plan.id: number for number, plan in enumerate(plans)}
    found = []
    by_plan: dict[int, list[Sample]] = {}
    for sample in samples:
        if sample.kind == "start":
            by_plan.setdefault(sample.plan, []).append(sample)
    for job in jobs:
        created = job["created_at"].timestamp()
        for sample in by_plan.get(index.get(job.get("plan_id", ""), -1), []):
            if sample.wall_started - 0.05 <= created <= sample.wall_started + sample.seconds:
                found.append(sample)
                break
    return found


# --- b) the worker killed mid-job ------------------------------------------------------------


def drill_worker_kill(stack: Stack, result: DrillResult, seed: int) -> None:
    client = stack.client
    rng = random.Random(seed)
    log(f"b) {KILL_PLANS} plans checked against the slow fake Octopus ({SLOW_CHECK_SECONDS:g} s)")
    plans = make_plans(client, "Drill kill", KILL_PLANS, stack.slow)
    plan_ids = [plan.id for plan in plans]
    since = stack.now()
    for plan in plans:
        client.expect(200, "POST", plan.transition_path(), {"actor": "drill"})
    jobs = stack.jobs(plan_ids, since)
    if len(jobs) != len(plans):
        raise BenchError(f"expected {len(plans)} jobs, found {len(jobs)}")

    kills: list[dict[str, Any]] = []
    worker_since = since
    for number in range(1, KILLS + 1):
        if stack.worker is None:
            worker_since = stack.now()  # before the start: a ready worker takes jobs at once
            stack.start_worker()
        into = rng.uniform(0.5, SLOW_CHECK_SECONDS - 1.0)

        def running_long_enough(
            into: float = into, worker_since: datetime = worker_since
        ) -> list[tuple[Any, ...]]:
            return stack.db.query(
                """SELECT id::text, attempts FROM plans_job
                    WHERE plan_id = ANY(%s::uuid[]) AND state = 'running'
                      AND started_at >= %s AND started_at <= now() - %s * interval '1 second'""",
                (plan_ids, worker_since, into),
            )

        wait_for(f"a job to run (kill {number})", running_long_enough, timeout=60, interval=0.05)
        running = stack.db.query(
            """SELECT id::text, extract(epoch FROM now() - started_at) FROM plans_job
                WHERE plan_id = ANY(%s::uuid[]) AND state = 'running' AND started_at >= %s""",
            (plan_ids, worker_since),
        )
        stack.kill_worker()
        kills.append(
            {
                "kill": number,
                "jobs": [job_id for job_id, _ in running],
                "seconds_into_job": [round(float(s), 2) for _, s in running],
            }
        )
        log(f"b) kill {number}: SIGKILL the worker with {len(running)} job(s) mid-check")
    last_kill = time.monotonic()
    stack.start_worker()

    killed = {job_id for kill in kills for job_id in kill["jobs"]}
    mid_job = [k for k in kills if k["jobs"]]
    result.check(
        f"{KILLS} SIGKILLs each landed mid-job (worker restarted after each)",
        len(mid_job) == KILLS,
        f"{len(mid_job)}/{KILLS} kills hit running jobs; {len(killed)} distinct jobs killed, "
        f"{min(s for k in kills for s in k['seconds_into_job']):.1f}-"
        f"{max(s for k in kills for s in k['seconds_into_job']):.1f} s into a "
        f"{SLOW_CHECK_SECONDS:g} s check",
    )
    try:
        stack.wait_jobs_finished(plan_ids, since, timeout=JOBS_AFTER_KILLS_WITHIN)
        waited = f"all finished {time.monotonic() - last_kill:.0f} s after the last kill"
    except BenchError:
        waited = f"not all finished within {JOBS_AFTER_KILLS_WITHIN:g} s of the last kill"
    jobs = stack.jobs(plan_ids, since)
    states = Counter(job["state"] for job in jobs)
    evidence = Counter(job["evidence"] for job in jobs)
    attempts_killed = Counter(j["attempts"] for j in jobs if j["id"] in killed)
    attempts_other = Counter(j["attempts"] for j in jobs if j["id"] not in killed)
    result.check(
        "every job completes (state done) in the end",
        states == Counter({"done": len(jobs)}) and "all finished" in waited,
        f"{len(jobs)} jobs; states {dict(states)}; {waited}",
    )
    result.check(
        "every job's evidence is recorded exactly once",
        evidence == Counter({1: len(jobs)}),
        f"evidence entries per job {dict(sorted(evidence.items()))}",
    )
    result.check(
        "killed jobs were run again, the others once",
        all(a >= 2 for a in attempts_killed.elements()) and set(attempts_other) <= {1},
        f"attempts of killed jobs {dict(sorted(attempts_killed.items()))}, of the others "
        f"{dict(sorted(attempts_other.items()))}",
    )
    result.figures.update(
        kills=kills,
        recovered_seconds_after_last_kill=round(time.monotonic() - last_kill, 1),
        worker_starts=stack.worker_starts,
    )


# --- c) PostgreSQL restarted under load ------------------------------------------------------


LOAD_KINDS = ("healthz", "api_read", "page", "poll", "transition")


def drill_postgres(stack: Stack, result: DrillResult) -> None:
    client = stack.client
    log("c) plans for the load")
    reader = make_plan(client, "Drill pg reads", None)
    movers = make_plans(client, "Drill pg moves", CLIENT_THREADS, None)
    checked = make_plan(client, "Drill pg worker", stack.fast)
    version = client.expect(200, "GET", f"/api/v1/plans/{reader.edit}").json()["version"]
    paths = {
        "healthz": "/healthz",
        "api_read": f"/api/v1/plans/{reader.edit}",
        "page": f"/p/{reader.edit}/",
        "poll": f"/v/{reader.view}/poll?v={version}",
    }
    samples: list[Sample] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(mover: PlanRef) -> None:
        body = {"actor": "drill", "reason": "drill cycle"}
        deadline = time.monotonic() + PG_BEFORE + PG_DOWN + PG_AFTER + 120
        while not stop.is_set() and time.monotonic() < deadline:
            for kind in LOAD_KINDS:
                if kind == "transition":
                    sample = timed(client, kind, "POST", mover.transition_path(), body)
                    if sample.ok:
                        mover.position += 1
                    else:
                        resync(client, mover)
                else:
                    sample = timed(client, kind, "GET", paths[kind])
                with lock:
                    samples.append(sample)
                time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(m,), daemon=True) for m in movers]
    for thread in threads:
        thread.start()
    mark = stack.log_mark()
    try:
        time.sleep(PG_BEFORE)
        log("c) stopping PostgreSQL (pg_ctl stop -m fast)")
        stop_begin = time.monotonic()
        stack.pg.stop("fast")
        stop_done = time.monotonic()
        time.sleep(PG_DOWN)
        log("c) starting PostgreSQL")
        start_begin = time.monotonic()
        stack.pg.start()
        up = time.monotonic()
        time.sleep(PG_AFTER)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        if not stack.pg.running():
            stack.pg.start()

    before = [s for s in samples if s.finished < stop_begin]
    down = [s for s in samples if s.started >= stop_done and s.finished <= start_begin]
    after = [s for s in samples if s.started >= up]
    placed = {id(s) for s in before + down + after}
    edges = [s for s in samples if id(s) not in placed]

    result.check(
        "before: every request answers",
        bool(before) and all(s.ok for s in before),
        f"{len(before)} requests; statuses {statuses(before)}",
    )
    by_kind = {
        kind: dict(Counter(str(s.status) for s in down if s.kind == kind)) for kind in LOAD_KINDS
    }
    # The version cached before the stop is still correct: "not modified", or the page cached
    # for it, is a clean answer.
    cached_until = stop_begin + POLL_VERSION_CACHED_FOR + 0.5
    from_cache_status = {"poll": 304, "page": 200}

    def clean_answer(sample: Sample) -> bool:
        from_cache = sample.started <= cached_until
        return sample.status == 503 or (
            from_cache and sample.status == from_cache_status.get(sample.kind)
        )

    clean = bool(down) and all(clean_answer(s) for s in down)
    observed = f"{len(down)} requests; by type {by_kind}"
    late = [s for s in down if s.status == from_cache_status.get(s.kind)]
    if late:
        last = max(s.started for s in late) - stop_begin
        observed += f"; polls and pages answered from the cached version up to {last:.2f} s in"
    bad = [s for s in down + edges if not s.ok and s.status != 503]
    if bad:
        first = bad[0]
        observed += f"; first non-503 failure: {first.kind} {first.status} {first.detail[:120]!r}"
        error = stack.web_error(mark)
        if error:
            observed += f"; the web log's most frequent errors: {error}"
    result.check(
        "down: every request fails cleanly with 503 (no 500, no hang), but for unchanged polls "
        f"and cached pages in the first {POLL_VERSION_CACHED_FOR:g} s (304, or the page, from "
        "the cached version)",
        clean,
        observed,
    )
    edge_ok = all(s.ok or s.status == 503 for s in edges)
    result.check(
        "stopping and starting: in-flight requests answer or 503",
        edge_ok,
        f"{len(edges)} requests; statuses {statuses(edges)}",
    )
    first_ok = {}
    for kind in LOAD_KINDS:
        oks = [s.finished - up for s in after if s.kind == kind and s.ok]
        first_ok[kind] = round(min(oks), 2) if oks else None
    settled = [s for s in after if s.started >= up + PG_RECOVER_WITHIN]
    recovered = (
        all(v is not None and v <= PG_RECOVER_WITHIN for v in first_ok.values())
        and bool(settled)
        and all(s.ok for s in settled)
    )
    result.check(
        f"back: every request type answers again within {PG_RECOVER_WITHIN:g} s, no manual action",
        recovered,
        f"first success after restart (s) {first_ok}; after {PG_RECOVER_WITHIN:g} s: "
        f"{len(settled)} requests, statuses {statuses(settled)}",
    )

    since = stack.now()
    reply = timed(client, "start", "POST", checked.transition_path(), {"actor": "drill"})
    try:
        waited = stack.wait_jobs_finished([checked.id], since, timeout=WORKER_RECOVER_WITHIN)
        job_seen = f"its job finished {waited:.1f} s later"
    except BenchError:
        job_seen = f"its job did not finish within {WORKER_RECOVER_WITHIN:g} s"
    once, summary = once_each(stack.jobs([checked.id], since))
    result.check(
        "back: the worker runs a new job (its database connection recovered)",
        reply.ok and once,
        f"start answered {reply.status}; {job_seen}; {summary}",
    )
    result.figures.update(
        statuses_before=statuses(before),
        statuses_down=statuses(down),
        statuses_down_by_type=by_kind,
        statuses_edges=statuses(edges),
        statuses_after=statuses(after),
        first_success_after_restart_s=first_ok,
        stop_seconds=round(stop_done - stop_begin, 2),
        start_seconds=round(up - start_begin, 2),
    )


# --- d) a lost job ------------------------------------------------------------------------------


def _job(stack: Stack, job_id: str) -> tuple[str, int, int, str]:
    """The job's state, attempts, attempt limit and last error."""
    state, attempts, limit, error = stack.db.query(
        "SELECT state, attempts, max_attempts, last_error FROM plans_job WHERE id = %s::uuid",
        (job_id,),
    )[0]
    return str(state), int(attempts), int(limit), str(error)


def _started_job(stack: Stack, plan: PlanRef, client: Client) -> str:
    """Start the plan's step (which queues its check) and return the job's id."""
    since = stack.now()
    client.expect(200, "POST", plan.transition_path(), {"actor": "drill"})
    plan.position += 1
    jobs = stack.jobs([plan.id], since)
    if len(jobs) != 1:
        raise BenchError(f"expected one job for the started step, found {len(jobs)}")
    return jobs[0]["id"]


def _kill_when_running(stack: Stack, job_id: str, attempt: int) -> None:
    """SIGKILL the worker once the job runs its `attempt`-th attempt, a second into it."""
    wait_for(
        f"the job's attempt {attempt} to run",
        lambda: bool(
            stack.db.query(
                """SELECT 1 FROM plans_job WHERE id = %s::uuid AND state = 'running'
                      AND attempts = %s AND started_at <= now() - interval '1 second'""",
                (job_id, attempt),
            )
        ),
        timeout=LOST_TAKEN_BACK_WITHIN,
        interval=0.05,
    )
    stack.kill_worker()
    log(f"d) SIGKILL the worker in attempt {attempt} of job {job_id}")


def drill_lost_job(stack: Stack, result: DrillResult) -> None:
    client = stack.client
    stack.stop_worker()
    stack.start_worker(**LOST_JOB_OVERRIDES)
    try:
        _lost_job_finishes(stack, client, result)
        _lost_job_gives_up(stack, client, result)
    finally:
        stack.stop_worker()
        stack.start_worker()


def _lost_job_finishes(stack: Stack, client: Client, result: DrillResult) -> None:
    plan = make_plan(client, "Drill lost job", stack.slow)
    job_id = _started_job(stack, plan, client)
    _kill_when_running(stack, job_id, 1)
    killed = time.monotonic()
    stack.start_worker(**LOST_JOB_OVERRIDES)
    try:
        stack.wait_jobs_finished([plan.id], stack.now() - _ago(120), LOST_TAKEN_BACK_WITHIN)
        waited = f"finished {time.monotonic() - killed:.0f} s after the kill"
    except BenchError:
        waited = f"not finished {LOST_TAKEN_BACK_WITHIN:g} s after the kill"
    jobs = stack.jobs([plan.id])
    state, attempts, _, _ = _job(stack, job_id)
    result.check(
        "a job whose worker was killed mid-check is taken back and finishes, its evidence once",
        len(jobs) == 1 and state == "done" and attempts == 2 and jobs[0]["evidence"] == 1,
        f"state {state}, attempts {attempts}, evidence entries {jobs[0]['evidence']}; {waited}",
    )
    result.figures["lost_job_finished_seconds_after_kill"] = round(time.monotonic() - killed, 1)


def _lost_job_gives_up(stack: Stack, client: Client, result: DrillResult) -> None:
    plan = make_plan(client, "Drill lost job every time", stack.slow)
    stack.stop_worker()  # the job waits in the queue while its attempt limit is lowered
    job_id = _started_job(stack, plan, client)
    stack.db.query(
        "UPDATE plans_job SET max_attempts = %s WHERE id = %s::uuid RETURNING 1",
        (LOST_ATTEMPTS, job_id),
    )
    started = time.monotonic()
    seen_attempts: list[int] = []
    for attempt in range(1, LOST_ATTEMPTS + 1):
        stack.start_worker(**LOST_JOB_OVERRIDES)
        _kill_when_running(stack, job_id, attempt)
        seen_attempts.append(_job(stack, job_id)[1])
    stack.start_worker(**LOST_JOB_OVERRIDES)
    with contextlib.suppress(BenchError):
        wait_for(
            "the job to end",
            lambda: _job(stack, job_id)[0] in {"done", "failed"},
            timeout=LOST_TAKEN_BACK_WITHIN,
            interval=0.25,
        )
    state, attempts, limit, error = _job(stack, job_id)
    result.check(
        f"a job whose worker dies on every attempt ends failed after {LOST_ATTEMPTS} attempts, "
        "never running for ever",
        state == "failed" and attempts == limit == LOST_ATTEMPTS and "given up" in error,
        f"attempts seen when killed {seen_attempts}; then state {state}, attempts "
        f"{attempts} of {limit}, {time.monotonic() - started:.0f} s after the first start; "
        f"its message: {error[:120]!r}",
    )
    step_state = stack.db.query("SELECT state FROM plans_step WHERE id = %s::uuid", (plan.step,))[
        0
    ][0]
    result.check(
        "the given-up job leaves its step as it was (a killed worker is no finding)",
        step_state == "in-progress",
        f"step {step_state}",
    )


def _ago(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


# --- e) a late failure ---------------------------------------------------------------------------


def drill_late_failure(stack: Stack, result: DrillResult) -> None:
    client = stack.client
    with fake_octopus(version=FAKE_VERSION, slow_seconds=LATE_CHECK_SECONDS) as server:
        plan = make_plan(client, "Drill late failure", server)
        server.overrides["/api"] = lambda query: (500, {"ErrorMessage": "drill: server error"})
        stack.stop_worker()  # the job waits while its attempt limit is set to one
        job_id = _started_job(stack, plan, client)
        stack.db.query(
            "UPDATE plans_job SET max_attempts = 1 WHERE id = %s::uuid RETURNING 1", (job_id,)
        )
        stack.start_worker()
        wait_for(
            "the check to start",
            lambda: _job(stack, job_id)[0] == "running",
            timeout=60,
            interval=0.05,
        )
        # While the check waits on the slow server, the team finishes the step and starts the
        # next one.
        edit = plan.edit
        client.expect(
            200, "POST", f"/api/v1/plans/{edit}/steps/{plan.step}/complete", {"actor": "drill"}
        )
        document = client.expect(200, "GET", f"/api/v1/plans/{edit}").json()
        dependent = next(
            s for s in document["steps"] if plan.step in s["depends_on"] and s["state"] == "ready"
        )
        client.expect(
            200, "POST", f"/api/v1/plans/{edit}/steps/{dependent['id']}/start", {"actor": "drill"}
        )
        ran_before = _job(stack, job_id)[0] == "running"
        with contextlib.suppress(BenchError):
            wait_for(
                "the late result",
                lambda: _job(stack, job_id)[0] in {"done", "failed"},
                timeout=LATE_WITHIN,
                interval=0.1,
            )
    state, _, _, error = _job(stack, job_id)
    steps = {s["id"]: s for s in client.expect(200, "GET", f"/api/v1/plans/{edit}").json()["steps"]}
    finished, following = steps[plan.step], steps[dependent["id"]]
    evidence = [e for e in finished["evidence"] if e.get("job") == job_id]
    result.check(
        "the check failed after the step was finished and its dependent started",
        ran_before and state == "failed",
        f"job running when the dependent started: {ran_before}; then {state} ({error[:80]!r})",
    )
    result.check(
        "the late failure is recorded as evidence on the finished step (ok false)",
        len(evidence) == 1 and evidence[0]["ok"] is False,
        f"evidence of the job: {evidence}",
    )
    result.check(
        "the finished step stays done and its dependent stays in progress",
        finished["state"] == "done" and following["state"] == "in-progress",
        f"step {finished['state']}, dependent {following['state']}",
    )


# --- Report ----------------------------------------------------------------------------------


def table(results: list[DrillResult]) -> str:
    lines = ["| Drill | Check | Observed | Result |", "|---|---|---|---|"]
    for drill in results:
        title = f"{drill.title} ({drill.seconds:.0f} s)"
        if drill.error:
            lines.append(f"| {title} | drill ran to the end | {drill.error} | **FAIL** |")
        for check in drill.checks:
            verdict = "pass" if check.passed else "**FAIL**"
            lines.append(
                f"| {title} | {check.name} | {check.observed.replace('|', '/')} | {verdict} |"
            )
            title = ""
    return "\n".join(lines)


# Each drill runs with the stack, the result it fills in, and the seed (only the kill timing
# is random).
DRILLS: dict[str, tuple[str, Callable[[Stack, DrillResult, int], None]]] = {
    "redis": (
        "a) Redis stopped during 500 transitions",
        lambda stack, result, seed: drill_redis(stack, result),
    ),
    "worker": (f"b) worker SIGKILLed mid-job {KILLS} times", drill_worker_kill),
    "postgres": (
        "c) PostgreSQL restarted under load",
        lambda stack, result, seed: drill_postgres(stack, result),
    ),
    "lost-job": (
        "d) a lost job: worker SIGKILLed mid-job",
        lambda stack, result, seed: drill_lost_job(stack, result),
    ),
    "late-failure": (
        "e) a late failure after the step's dependents started",
        lambda stack, result, seed: drill_late_failure(stack, result),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(DRILLS), help=f"comma-separated: {','.join(DRILLS)}"
    )
    parser.add_argument("--seed", type=int, default=9, help="seed for the kill timing")
    parser.add_argument("--output", type=Path, default=RESULTS / "drill.json")
    args = parser.parse_args(argv)
    chosen = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in DRILLS]
    if unknown:
        parser.error(f"unknown drill(s): {', '.join(unknown)}")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    results: list[DrillResult] = []
    with contextlib.ExitStack() as exits:
        workdir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="drill-")))
        stack = Stack(workdir, exits)
        for key in chosen:
            title, run = DRILLS[key]
            drill = DrillResult(key, title)
            results.append(drill)
            began = time.monotonic()
            log(f"--- {title}")
            try:
                run(stack, drill, args.seed)
            except Exception as error:  # reported in the table; the other drills still run
                drill.error = f"{type(error).__name__}: {error}".replace("\n", " ")[:400]
                log(f"{key}: stopped by {drill.error}")
            finally:
                drill.seconds = time.monotonic() - began
                _restore(stack)
        log("stopping everything the drill started")

    wall = time.monotonic() - started
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds": round(wall, 1),
        "passed": all(d.passed for d in results),
        "drills": [
            {**asdict(d), "passed": d.passed, "seconds": round(d.seconds, 1)} for d in results
        ],
        "table_markdown": table(results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(report["table_markdown"])
    print()
    for drill in results:
        print(f"{'PASS' if drill.passed else 'FAIL'}  {drill.title}")
    output = args.output.resolve()
    shown = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    print(f"\n{wall:.0f} s; written to {shown}; process logs in {LOGS.relative_to(ROOT)}/")
    return 0 if report["passed"] else 1


def _restore(stack: Stack) -> None:
    """Leave Redis, PostgreSQL and a worker running for the next drill, whatever happened."""
    with contextlib.suppress(Exception):
        stack.redis.start()
    with contextlib.suppress(Exception):
        if not stack.pg.running():
            stack.pg.start()
    with contextlib.suppress(Exception):
        if stack.worker is None:
            stack.start_worker()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"drill: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("drill: interrupted; everything it started has been stopped", file=sys.stderr)
        sys.exit(130)
