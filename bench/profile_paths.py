"""Profile the request paths `make bench` measures, in-process, with cProfile.

    PYTHONPATH=. .venv/bin/python bench/profile_paths.py [--only page_50,create_5000]

Uses the bench database (BENCH_DATABASE_URL, default the one `make bench` creates; run
`make bench` once first so it exists and is migrated) with production settings, drives the
full middleware stack through Django's test client, and prints for each path the number of
SQL queries per request, the mean time per request and the top functions by cumulative and
by own time. The figures are slower than under gunicorn (profiling overhead) but the shares
are what matter.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import io
import itertools
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Run as a script, the directory on sys.path is bench/, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    STEPS_DONE_IN_FIXTURES,
    STEPS_FOR_SMALL_PLAN,
    analyze,
    bench_env,
    check_loopback,
    plan_body,
)

if TYPE_CHECKING:
    from django.http.response import HttpResponseBase

TOP = 25
# Paths timed only when asked for by name: each takes seconds.
SLOW_PATHS = ("create_5000", "create_20000", "page_20000_first")
# The paths --breakdown bills, and how many requests a round.
BREAKDOWN_REPEATS = {
    "page_50_uncached": 20,
    "page_5000_uncached": 5,
    "transition": 60,
    "api_read": 60,
    "tick_poll_view": 40,
    "tick_page_view": 20,
    "tick_page_edit": 20,
    "tick_poll_view_5000": 5,
}
BREAKDOWN_TITLES = {
    "page_50_uncached": "first view of the 50-step plan page (not cached)",
    "page_5000_uncached": "first view of the 5,000-Tentacle plan page (not cached)",
    "transition": "step transition, API (start / complete / reopen)",
    "api_read": "API read of the 50-step plan (200)",
    "tick_poll_view": "a tick, then the changed poll of a read-only link (first of its version)",
    "tick_page_view": "a tick, then a full view of a read-only link (first of its version)",
    "tick_page_edit": "a tick, then a full view of the edit link (first of its version)",
    "tick_poll_view_5000": "a tick on the 5,000-Tentacle plan, then the changed poll of a "
    "read-only link (first of its version)",
}
# The paths measured after a tick: a transition through the API (not measured) before each
# request, so every measured request is the first of its plan version, as in the mixed load.
TICKED = ("tick_poll_view", "tick_page_view", "tick_page_edit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated path keys to profile (e.g. create_5000, create_20000, "
        "create_5000_phases, create_20000_phases, transition_phases)",
    )
    parser.add_argument("--top", type=int, default=TOP)
    parser.add_argument(
        "--pyinstrument",
        action="store_true",
        help="sample with pyinstrument (if installed) instead of cProfile: far less overhead "
        "on paths made of many small calls, such as plan creation",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="bill each request's time to its causes (templates and partials, SQL, text "
        "rendering, JSON, locking, outbox, cache, session, forecast, print section) instead of "
        "profiling: the first views, the transition, the API read and the paths after a tick",
    )
    parser.add_argument(
        "--time",
        action="store_true",
        help="time the paths without a profiler or wrappers: the median and quartiles of each "
        "request's wall clock (a tick path's transition not included) and its query count",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the breakdown")
    parser.add_argument(
        "--sql", action="store_true", help="with --time: print each statement of one request"
    )
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    check_loopback(database_url, "BENCH_DATABASE_URL")
    check_loopback(redis_url, "BENCH_REDIS_URL")
    os.environ.update(bench_env(database_url, redis_url))

    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")

    def create(name: str, count: int) -> dict[str, Any]:
        response = client.post(
            "/api/v1/plans", plan_body(name, count), content_type="application/json"
        )
        assert response.status_code == 201, response.content[:300]
        document: dict[str, Any] = response.json()
        return document

    def complete_some(token: str, count: int) -> None:
        """Like make bench: the fixture plans are in progress."""
        for _ in range(count):
            steps = client.get(f"/api/v1/plans/{token}").json()["steps"]
            ready = [step["id"] for step in steps if step["state"] == "ready"]
            if not ready:
                return
            for action in ("start", "complete"):
                client.post(
                    f"/api/v1/plans/{token}/steps/{ready[0]}/{action}",
                    {"actor": "profile"},
                    content_type="application/json",
                )

    # The same shapes as make bench: 38 Tentacles make the 50-step plan.
    small = create("Profile 50 steps", STEPS_FOR_SMALL_PLAN - 12)
    large = create("Profile 5,000", 5000)
    mover = create("Profile transitions", STEPS_FOR_SMALL_PLAN - 12)
    edit, big = small["edit_token"], large["edit_token"]
    complete_some(edit, STEPS_DONE_IN_FIXTURES)
    complete_some(big, STEPS_DONE_IN_FIXTURES)
    analyze(database_url)  # as make bench does before measuring
    read = client.get(f"/api/v1/plans/{edit}")
    etag, version = read["ETag"], read.json()["version"]
    ready = next(s["id"] for s in mover["steps"] if s["state"] == "ready")
    cycle = itertools.cycle(["start", "complete", "reopen"])

    def transition() -> HttpResponseBase:
        action = next(cycle)
        return client.post(
            f"/api/v1/plans/{mover['edit_token']}/steps/{ready}/{action}",
            {"actor": "profile", "reason": "profile cycle"},
            content_type="application/json",
        )

    # A plan of its own for the paths after a tick, in progress like the others: its viewers
    # see each transition as a new version.
    ticked = create("Profile ticks", STEPS_FOR_SMALL_PLAN - 12)
    complete_some(ticked["edit_token"], STEPS_DONE_IN_FIXTURES)
    tick_steps = client.get(f"/api/v1/plans/{ticked['edit_token']}").json()["steps"]
    tick_step = next(s["id"] for s in tick_steps if s["state"] == "ready")
    tick_cycle = itertools.cycle(["start", "complete", "reopen"])

    def tick(plan: dict[str, Any] = ticked, step: str = tick_step, cycle: Any = tick_cycle) -> None:
        """One transition of the tick plan: the next request of it is the first of a version."""
        response = client.post(
            f"/api/v1/plans/{plan['edit_token']}/steps/{step}/{next(cycle)}",
            {"actor": "profile", "reason": "profile tick"},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content[:300]

    # And a 5,000-Tentacle plan of its own, for what a tick costs the first poll at scale.
    ticked_large = create("Profile ticks, 5,000", 5000)
    large_step = next(s["id"] for s in ticked_large["steps"] if s["state"] == "ready")
    large_cycle = itertools.cycle(["start", "complete", "reopen"])

    def tick_large() -> None:
        tick(ticked_large, large_step, large_cycle)

    huge: dict[str, Any] = {}

    def huge_token() -> str:
        """The 20,000-Tentacle plan, made only when a path asks for it (it takes seconds)."""
        if not huge:
            huge.update(create("Profile 20,000", 20_000))
        return str(huge["edit_token"])

    def forget_everything() -> None:
        """As a plan no one has viewed in a process that has shown nothing: every shared and
        local cache emptied (sessions included)."""
        from django.core.cache import cache

        from upgrade_planner.web import pages

        cache.clear()
        pages.forget_process_copies()

    views_seen = itertools.count(1)

    def uncached(path: str) -> Callable[[], HttpResponseBase]:
        """A GET of `path` that misses the page caches: each request asks for a page of the
        Tentacle table no one asked for yet (past the last, so it shows the last page)."""
        separator = "&" if "?" in path else "?"
        return lambda: client.get(f"{path}{separator}page={next(views_seen) % 99_999 + 1}")

    # Each call returns the response (the creation returns the plan document instead).
    paths: dict[str, tuple[int, Callable[[], object]]] = {
        "minimal": (500, lambda: client.get("/bench/minimal")),
        "poll_unchanged": (500, lambda: client.get(f"/p/{edit}/poll?v={version}")),
        "page_50": (500, lambda: client.get(f"/p/{edit}/")),
        "page_50_uncached": (60, uncached(f"/p/{edit}/")),
        "poll_changed": (500, lambda: client.get(f"/p/{edit}/poll?v=0")),
        "poll_changed_uncached": (60, uncached(f"/p/{edit}/poll?v=0")),
        "page_5000": (500, lambda: client.get(f"/p/{big}/")),
        "page_5000_uncached": (15, uncached(f"/p/{big}/")),
        "page_20000_first": (3, lambda: client.get(f"/p/{huge_token()}/")),
        "api_read": (200, lambda: client.get(f"/api/v1/plans/{edit}")),
        "api_not_modified": (
            500,
            lambda: client.get(f"/api/v1/plans/{edit}", HTTP_IF_NONE_MATCH=etag),
        ),
        "transition": (150, transition),
        "create_5000": (2, lambda: create("Profile create", 5000)),
        "create_20000": (1, lambda: create("Profile create", 20_000)),
        # After tick(): the poll of a viewer who saw an older version (as the mixed load's
        # viewers poll), and the full pages (a new version is never in the page cache).
        "tick_poll_view": (60, lambda: client.get(f"/v/{ticked['view_token']}/poll?v=0")),
        "tick_page_view": (60, lambda: client.get(f"/v/{ticked['view_token']}/")),
        "tick_page_edit": (60, lambda: client.get(f"/p/{ticked['edit_token']}/")),
        "tick_poll_view_5000": (
            10,
            lambda: client.get(f"/v/{ticked_large['view_token']}/poll?v=0"),
        ),
    }
    setups: dict[str, Callable[[], object]] = {key: tick for key in TICKED}
    setups["tick_poll_view_5000"] = tick_large
    setups["page_20000_first"] = forget_everything
    only = {key for key in args.only.split(",") if key}
    if args.breakdown:
        for key, repeats in BREAKDOWN_REPEATS.items():
            if not only or key in only:
                breakdown(
                    BREAKDOWN_TITLES[key], paths[key][1], repeats, args.rounds, setups.get(key)
                )
        return 0
    if args.time:
        for key, (count, call) in paths.items():
            if (not only and key not in SLOW_PATHS) or key in only:
                timed_path(key, call, count, args.rounds, setups.get(key), show_sql=args.sql)
        return 0
    all_phases(only, lambda size: create("Phases", size), transition, uncached, edit, big, version)
    tick_phases(only, tick, paths)
    for key, (count, call) in paths.items():
        if (only and key not in only) or (not only and key == "page_20000_first"):
            continue
        call()  # warm caches (templates, URL resolvers, prepared plans)
        recorded = Recorded()
        setup = setups.get(key, lambda: None)
        setup()
        with connection.execute_wrapper(recorded):
            response = call()
        status = getattr(response, "status_code", "?")
        if args.pyinstrument:
            # pyinstrument is optional, not one of the project's dependencies (and untyped).
            pyinstrument = importlib.import_module("pyinstrument")
            sampler = pyinstrument.Profiler(interval=0.0005)
            per_request = profiled(call, count, setup, sampler.start, sampler.stop)
            print(
                f"\n=== {key}: status {status}, {len(recorded.statements)} queries, "
                f"{per_request:.2f} ms per request under pyinstrument ({count} requests) ==="
            )
            print(sampler.output_text(unicode=False, color=False))
            continue
        profiler = cProfile.Profile()
        per_request = profiled(call, count, setup, profiler.enable, profiler.disable)
        print(
            f"\n=== {key}: status {status}, {len(recorded.statements)} queries, "
            f"{per_request:.2f} ms per request under cProfile ({count} requests) ==="
        )
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(order).print_stats(args.top)
            text = out.getvalue()
            print(f"--- by {order} ---")
            print(text[text.index("   ncalls") :].rstrip() if "   ncalls" in text else text)
    return 0


class Recorded:
    """An execute wrapper keeping every statement run inside `connection.execute_wrapper(self)`.
    Queries are counted this way because Django clears connection.queries at the start of every
    request, which would hide them from CaptureQueriesContext."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(
        self,
        execute: Callable[[str, Any, bool, dict[str, Any]], object],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> object:
        self.statements.append(sql)
        return execute(sql, params, many, context)


def profiled(
    call: Callable[[], object],
    count: int,
    setup: Callable[[], object],
    start: Callable[[], object],
    stop: Callable[[], object],
) -> float:
    """`count` requests, each after `setup` and between the profiler's `start` and `stop`:
    the mean wall clock of a request in ms (setup not counted)."""
    spent = 0.0
    for _ in range(count):
        setup()
        started = time.perf_counter()
        start()
        call()
        stop()
        spent += time.perf_counter() - started
    return spent / count * 1000


def timed_path(
    key: str,
    call: Callable[[], object],
    count: int,
    rounds: int,
    setup: Callable[[], object] | None,
    *,
    show_sql: bool = False,
) -> None:
    """The wall clock of `count` requests of a path in each of `rounds` rounds, without a
    profiler or wrappers (`setup` runs before each, unmeasured), and its queries a request."""
    from django.db import connection

    recorded = Recorded()
    if setup:
        setup()
    call()  # warm up
    if setup:
        setup()
    with connection.execute_wrapper(recorded):
        response = call()
    status = getattr(response, "status_code", "?")
    queries = len(recorded.statements)
    medians = []
    every: list[float] = []
    # This process's own CPU time (not the database's or the cache's): steadier than the wall
    # clock on a machine other work shares.
    cpu: list[float] = []
    for _ in range(rounds):
        spent = []
        for _ in range(count):
            if setup:
                setup()
            started, started_cpu = time.perf_counter(), time.process_time()
            call()
            spent.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        medians.append(statistics.median(spent))
        every += spent
    low, _, high = statistics.quantiles(every, n=4)
    median = statistics.median(every)
    print(
        f"{key:24} status {status}, {queries:2} queries; median {median * 1000:6.2f} ms "
        f"(quartiles {low * 1000:.2f} to {high * 1000:.2f}; rounds "
        f"{' / '.join(f'{m * 1000:.2f}' for m in medians)}); "
        f"CPU median {statistics.median(cpu) * 1000:.2f} ms"
    )
    if show_sql:
        for statement in recorded.statements:
            print(f"    {' '.join(statement.split())[:160]}")


def phases(
    title: str,
    call: Callable[[], object],
    patches: list[tuple[object, str, str]],
    repeats: int,
    setup: Callable[[], object] | None = None,
) -> None:
    """Wall-clock time of each phase of a request, without a profiler's overhead: wraps the
    functions the view calls (owner, attribute, label) and prints the mean of `repeats` runs
    (means add up; medians would not). Labels starting with a space are nested phases."""
    import statistics

    spent: dict[str, float] = {}

    def timed(name: str, function: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    missing = [f"{getattr(o, '__name__', o)}.{a}" for o, a, _ in patches if not hasattr(o, a)]
    if missing:
        raise SystemExit(f"{title}: no longer in the code: {', '.join(missing)}")
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    runs: list[dict[str, float]] = []
    if setup:
        setup()
    call()  # warm up
    try:
        for owner, attr, name in patches:
            setattr(owner, attr, timed(name, getattr(owner, attr)))
        for _ in range(repeats):
            if setup:
                setup()  # not measured: what it calls is cleared below
            spent.clear()
            started = time.perf_counter()
            call()
            runs.append({**spent, "total": time.perf_counter() - started})
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)
    total = statistics.fmean(run["total"] for run in runs)
    print(f"\n=== {title}: mean of {repeats} runs, wall clock, no profiler ===")
    accounted = 0.0
    for _, _, name in patches:
        median = statistics.fmean(run.get(name, 0.0) for run in runs)
        if not name.startswith(" "):
            accounted += median
        print(f"  {median * 1000:8.2f} ms  {median / total:6.1%}  {name}")
    rest = total - accounted
    print(
        f"  {rest * 1000:8.2f} ms  {rest / total:6.1%}  the rest (request/response handling, "
        "middleware, test client)"
    )
    print(f"  {total * 1000:8.2f} ms  100.0%  total")


def all_phases(
    only: set[str],
    create: Callable[[int], object],
    transition: Callable[[], object],
    uncached: Callable[[str], Callable[[], object]],
    edit: str,
    big: str,
    version: int,
) -> None:
    from django.core.cache import cache
    from django.db import transaction
    from django.test import Client

    from upgrade_planner.api import endpoints as api
    from upgrade_planner.domain import planner
    from upgrade_planner.plans import documents
    from upgrade_planner.plans.services import creation, reconcile, transitions
    from upgrade_planner.web import pages, views

    client = Client(HTTP_HOST="127.0.0.1")

    from django.http import JsonResponse
    from ninja import operation as ninja_operation

    # The creation's phases, by the names the code has now (a phase whose function is gone
    # would wrap nothing and read 0 ms: phases() refuses it).
    create_patches: list[tuple[object, str, str]] = [
        (ninja_operation.Operation, "_get_values", "parse the body (JSON, pydantic schema)"),
        (api, "installation_input", "validate the Tentacle rows (api.installation_input)"),
        (planner, "make_plan", "plan the steps (planner.make_plan)"),
        (creation, "installation_create", "write installation + Tentacles (COPY)"),
        (creation, "steps_create", "write steps + dependencies (COPY)"),
        (reconcile, "_dependencies_insert", "  of which: dependency rows (COPY)"),
        (creation, "readiness_evaluate", "readiness findings (readiness_evaluate)"),
        (transaction.Atomic, "__exit__", "commit (deferred foreign-key checks, WAL)"),
        (api, "plan_document", "the answer's document (plan_document, from the rows)"),
        (JsonResponse, "__init__", "encode the answer (JsonResponse)"),
    ]
    for size in (5000, 20_000):
        key = f"create_{size}_phases"
        # Only on request for the largest: one run is ~5 s and ~300 MiB.
        if (not only and size == 5000) or key in only:
            phases(
                f"{key} (POST /api/v1/plans, {size:,} Tentacles)",
                functools.partial(create, size),
                create_patches,
                repeats=3,
            )
    if not only or "transition_phases" in only:
        phases(
            "transition_phases (POST /api/v1/plans/<edit>/steps/<id>/<action>)",
            transition,
            [
                (api, "linked_plan", "find the link (linked_plan)"),
                (transitions, "_transition", "the transition (one transaction)"),
                (transitions, "step_read", "  of which: the step, its prerequisites and flags"),
                (transitions, "_dependents_refresh", "  of which: dependents' blocked/ready"),
                (transaction.Atomic, "__exit__", "  of which: commit"),
                (api, "dependency_ids", "the step's prerequisites for the response"),
            ],
            repeats=90,
        )
    if not only or "api_read_phases" in only:
        phases(
            "api_read_phases (GET /api/v1/plans/<token>, 50 steps, 200)",
            lambda: client.get(f"/api/v1/plans/{edit}"),
            [
                (api, "current_version", "find the link (current_version)"),
                (api, "encoded_plan_document", "the document of this version (cache, else built)"),
                (documents, "_document_and_tasks", "  of which: building it (first read only)"),
                (documents.EncodedDocument, "body", "its body: forecast now, joined in"),
            ],
            repeats=100,
        )
    page_patches = [
        (views, "_load", "find the link (link_for_token)"),
        (pages.PlanPage, "context", "build the context (queries)"),
        (pages.PlanPage, "_waiting_for", "  of which: what blocked steps wait for"),
        (pages.PlanPage, "_facets", "  of which: environment/role facets"),
        (views, "render", "render the template"),
        (views, "_render_sections", "render the live sections (changed polls)"),
    ]
    poll_patches = [
        (views, "current_version", "the narrow version lookup (current_version)"),
        # The cache proxy (the one access.py counts unknown tokens with) passes the attribute on
        # to this thread's cache (Redis).
        (cache, "get", "  of which: unknown-token counter (cache.get, Redis)"),
    ]
    # The rendering paths, which only the first visitor of a version takes.
    for key, call, repeats, patches in (
        ("page_50_phases", uncached(f"/p/{edit}/"), 30, page_patches),
        ("poll_changed_phases", uncached(f"/p/{edit}/poll?v=0"), 30, page_patches),
        ("page_5000_phases", uncached(f"/p/{big}/"), 10, page_patches),
        (
            "poll_unchanged_phases",
            functools.partial(client.get, f"/p/{edit}/poll?v={version}"),
            300,
            poll_patches,
        ),
    ):
        if not only or key in only:
            phases(key, call, patches, repeats)


def tick_phases(
    only: set[str], tick: Callable[[], object], paths: dict[str, tuple[int, Callable[[], object]]]
) -> None:
    """The phases of the first poll and page view after a tick (the tick not measured)."""
    from upgrade_planner.plans.models import StepQuerySet
    from upgrade_planner.web import fragments, pages, timeline, views

    patches = [
        (views, "_load", "find the link (link_for_token)"),
        (pages.PlanPage, "context", "build the context"),
        (pages.PlanPage, "_waiting_for_at_version", "  of which: what blocked steps wait for"),
        (pages, "cached_timeline", "  of which: forecast + timeline"),
        (fragments, "attach", "  of which: step cards and rows"),
        (pages.PlanPage, "_checklist", "  of which: checklist (fleet names)"),
        (pages, "readiness_report", "  of which: readiness report"),
        (pages, "finishers", "  of which: who finished the steps shown"),
        (pages.PlanPage, "_tentacle_page", "  of which: Tentacle table page"),
        (pages.PlanPage, "_facets", "  of which: facets"),
        (pages.PlanPage, "_progress_chart", "  of which: progress chart"),
        (StepQuerySet, "fleet_counts", "  of which: fleet counts"),
        (pages.PlanPage, "_stop_now", "  of which: stop-now card"),
        (pages.PlanPage, "_connections", "  of which: connections (API keys decrypted)"),
        (pages, "estimate_text", "  of which: estimate texts"),
        (views, "render", "render the page template"),
        (pages.PlanPage, "print_runbook", "  of which: print section"),
        (views, "_render_sections", "render the live sections (a poll)"),
        (fragments.Section, "_html", "  activity and schedule sections"),
        (pages.PlanPage, "_activity_page", "    of which: activity page (query)"),
        (pages, "schedule_panel", "    of which: schedule panel"),
        (timeline, "timeline_svg", "    of which: timeline SVG"),
    ]
    for key in ("tick_poll_view", "tick_page_view", "tick_page_edit"):
        if not only or f"{key}_phases" in only:
            phases(f"{key}_phases (after a tick)", paths[key][1], patches, 40, setup=tick)


# --- Breakdown: where each request's time goes, by cause --------------------------------------


class Attribution:
    """A stack of causes: each wrapped function pushes its label while it runs, and every
    interval of wall-clock time is billed to the stack active during it. So the shares of the
    innermost causes add up to 100 %, and a cause's inclusive time (say the session save)
    still says how much of it was SQL."""

    OTHER = "the rest (middleware, URL resolving, ORM and view Python, test client)"

    def __init__(self) -> None:
        self.stack: list[str] = [self.OTHER]
        self.spent: dict[tuple[str, ...], float] = {}
        self.queries = 0
        self.last = time.perf_counter()
        self.paused = False

    def bill(self) -> None:
        now = time.perf_counter()
        key = tuple(self.stack)
        self.spent[key] = self.spent.get(key, 0.0) + now - self.last
        self.last = now

    def enter(self, label: str) -> None:
        self.bill()
        self.stack.append(label)

    def leave(self) -> None:
        self.bill()
        self.stack.pop()

    def reset(self) -> None:
        self.bill()
        self.spent.clear()
        self.queries = 0

    def skip(self, work: Callable[[], object]) -> None:
        """Run `work` (a tick before the measured request) without billing its time or
        counting its queries."""
        self.bill()
        spent, queries = dict(self.spent), self.queries
        self.paused = True
        try:
            work()
        finally:
            self.paused = False
            self.bill()
            self.spent, self.queries = spent, queries

    def total(self) -> float:
        return sum(self.spent.values())

    def exclusive(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for path, seconds in self.spent.items():
            out[path[-1]] = out.get(path[-1], 0.0) + seconds
        return out

    def inclusive(self) -> dict[str, tuple[float, float]]:
        """label → (time with the label on the stack, of which SQL)."""
        out: dict[str, tuple[float, float]] = {}
        for path, seconds in self.spent.items():
            sql = seconds if path[-1] == SQL else 0.0
            for label in set(path[1:]):
                spent, of_sql = out.get(label, (0.0, 0.0))
                out[label] = (spent + seconds, of_sql + sql)
        return out


SQL = "SQL: execute + fetch (psycopg)"
Labeller = Callable[..., str]


def breakdown_patches() -> list[tuple[object, str, str | Labeller]]:
    """(owner, attribute, label or a function of the call's arguments giving the label)."""
    from django import urls
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.db import transaction
    from django.http import JsonResponse
    from django.middleware.csrf import CsrfViewMiddleware
    from django.template import base as template_base
    from django.template import defaulttags, loader_tags
    from ninja import operation as ninja_operation

    from upgrade_planner import cache as app_cache
    from upgrade_planner.api import endpoints as api
    from upgrade_planner.plans import access, documents, exports
    from upgrade_planner.plans.services import links, transitions
    from upgrade_planner.web import fragments, page_cache, pages, schedule, timeline, views
    from upgrade_planner.web.templatetags import plan_text, runbook

    def include(node: Any, *args: object, **kwargs: object) -> str:
        name = getattr(node.template, "var", node.template)
        return f"template: include {name}"

    def partial(node: Any, *args: object, **kwargs: object) -> str:
        return f"template: partial {node.partial_name}"

    def template(tmpl: Any, *args: object, **kwargs: object) -> str:
        return f"template: {tmpl.name} (outside its partials and includes)"

    def partial_template(tmpl: Any, *args: object, **kwargs: object) -> str:
        return f"template: partial {tmpl.name} (rendered on its own)"

    def section(owner: Any, *args: object, **kwargs: object) -> str:
        return f"per-version section: {owner.name} (fragments.Section)"

    patches: list[tuple[object, str, str | Labeller]] = [
        (template_base.Template, "render", template),
        (template_base.PartialTemplate, "render", partial_template),
        (fragments, "attach", "step cards and rows (fragments.attach)"),
        (fragments.Section, "_html", section),
        (pages.PlanPage, "print_runbook", "print section (PlanPage.print_runbook)"),
        (pages.PlanPage, "_waiting_for_at_version", "context: blocked steps' wait (cached)"),
        (views, "_render_sections", "live sections for a poll (views._render_sections)"),
        (loader_tags.IncludeNode, "render", include),
        (defaulttags.PartialNode, "render", partial),
        (defaulttags.PartialDefNode, "render", partial),
        (plan_text, "_step_detail", "text: step details to HTML (_step_detail, lru-cached)"),
        (plan_text, "source_url", "text: source links (source_url)"),
        (runbook, "change_text", "text: runbook change lines (change_text)"),
        # {% url %} imports reverse from django.urls when it renders.
        (urls, "reverse", "template: {% url %} (reverse)"),
        (views, "_load", "find the link (views._load)"),
        (api, "link_for_token", "find the link (link_for_token)"),
        (pages.PlanPage, "context", "context: PlanPage.context"),
        (pages.PlanPage, "_waiting_for", "context: what blocked steps wait for"),
        (pages.PlanPage, "_facets", "context: facets"),
        (pages.PlanPage, "_checklist", "context: checklist"),
        (pages.PlanPage, "_stop_now", "context: stop-now"),
        (pages.PlanPage, "_progress_chart", "context: progress chart"),
        (pages, "readiness_report", "context: readiness report"),
        (pages, "cached_timeline", "forecast + timeline (cached_timeline)"),
        (timeline, "timeline_svg", "timeline SVG (timeline_svg)"),
        (schedule, "schedule_panel", "schedule card (schedule_panel)"),
        (exports, "runbook_for_plan", "print section: runbook_for_plan"),
        (page_cache, "fetch", "page cache: look up the page (page_cache.fetch)"),
        (page_cache, "store", "page cache: store the page (page_cache.store)"),
        (access, "link_for_token", "find the link (link_for_token)"),
        (api, "plan_document", "API: plan_document"),
        (api, "current_version", "find the link (current_version)"),
        (api, "linked_plan", "find the link (linked_plan)"),
        (api, "encoded_plan_document", "API: encoded_plan_document (cache, else built)"),
        (documents, "_document_and_tasks", "API: build the document (first read of a version)"),
        (documents.EncodedDocument, "body", "API: document body (forecast at the read)"),
        (transitions, "step_read", "transition: the step read (prerequisites, flags)"),
        (api, "dependency_ids", "API: dependency_ids"),
        (api, "plan_schedule", "API: plan_schedule (forecast)"),
        (JsonResponse, "__init__", "JSON serialisation (JsonResponse)"),
        (transitions, "plan_lock", "locking: plan_lock"),
        (transitions, "started_step_check_queue", "outbox: started_step_check_queue"),
        (transitions, "_transition", "transition: the rest of its transaction (ORM, Python)"),
        (ninja_operation.Operation, "_get_values", "API: parse and validate the input (ninja)"),
        (transitions, "_dependents_refresh", "transition: dependents' blocked/ready"),
        (transitions, "unsatisfied_prerequisites", "transition: prerequisites check"),
        (links, "activity_log", "activity log (links.activity_log)"),
        (transaction.Atomic, "__exit__", "transaction commit (Atomic.__exit__)"),
        (SessionMiddleware, "process_response", "session save + cookie"),
        (CsrfViewMiddleware, "process_response", "CSRF cookie"),
    ]
    for method in ("get", "get_many", "has_key"):
        patches.append((app_cache.RedisCacheClient, method, "cache read (Redis)"))
    for method in ("set", "set_many", "add", "incr", "delete", "delete_many", "touch"):
        patches.append((app_cache.RedisCacheClient, method, "cache write (Redis)"))
    # Only the names a module really has: the code moves; the breakdown says what it skipped.
    present = [(o, a, label) for o, a, label in patches if hasattr(o, a)]
    for owner, attr, _ in patches:
        if not hasattr(owner, attr):
            print(f"  (not wrapped: {getattr(owner, '__name__', owner)}.{attr} is gone)")
    return present


def breakdown(
    title: str,
    call: Callable[[], object],
    repeats: int,
    rounds: int,
    setup: Callable[[], object] | None = None,
) -> None:
    """Bill each request's wall-clock time to causes (see Attribution) over `rounds` rounds of
    `repeats` requests, and print each cause's share per round: the spread is the noise.
    `setup` runs before each request, unbilled."""
    from django.db import connection

    attribution = Attribution()
    statements: dict[tuple[str, str], float] = {}

    def wrapped(label: str | Labeller, function: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(function)
        def wrapper(*args: object, **kwargs: object) -> object:
            attribution.enter(label if isinstance(label, str) else label(*args, **kwargs))
            try:
                return function(*args, **kwargs)
            finally:
                attribution.leave()

        return wrapper

    def record(
        execute: Callable[[str, Any, bool, dict[str, Any]], object],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> object:
        if attribution.paused:
            return execute(sql, params, many, context)
        attribution.queries += 1
        caller = next((label for label in reversed(attribution.stack) if label != SQL), "")
        started = time.perf_counter()
        attribution.enter(SQL)
        try:
            return execute(sql, params, many, context)
        finally:
            attribution.leave()
            key = (caller, " ".join(sql.split())[:110])
            statements[key] = statements.get(key, 0.0) + time.perf_counter() - started

    patches = breakdown_patches()
    originals = [(owner, attr, owner.__dict__.get(attr)) for owner, attr, _ in patches]
    if setup:
        setup()
    call()  # warm up
    shares: list[dict[str, float]] = []
    inclusive_shares: list[dict[str, tuple[float, float]]] = []
    totals: list[float] = []
    queries = 0
    try:
        for owner, attr, label in patches:
            setattr(owner, attr, wrapped(label, getattr(owner, attr)))
        with connection.execute_wrapper(record):
            for _ in range(rounds):
                attribution.reset()
                for _ in range(repeats):
                    if setup:
                        attribution.skip(setup)
                    call()
                attribution.bill()
                total = attribution.total()
                totals.append(total / repeats)
                queries = attribution.queries // repeats
                shares.append({k: v / total for k, v in attribution.exclusive().items()})
                inclusive_shares.append(
                    {k: (v / total, s / total) for k, (v, s) in attribution.inclusive().items()}
                )
    finally:
        for owner, attr, original in originals:
            if original is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
    per_request = " / ".join(f"{t * 1000:.1f}" for t in totals)
    print(
        f"\n=== {title}: {queries} queries a request; ms a request per round (wrappers "
        f"included): {per_request}; {rounds} rounds of {repeats} ==="
    )
    spent_in_sql = sum(statements.values()) or 1.0
    print("--- the statements that take the most of the SQL time (all rounds) ---")
    for (caller, sql), seconds in sorted(statements.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {seconds / spent_in_sql:6.1%} of SQL  [{caller}]  {sql}")
    print("--- own time (innermost cause), share per round ---")
    labels = sorted(
        {k for s in shares for k in s},
        key=lambda k: -statistics.fmean(s.get(k, 0.0) for s in shares),
    )
    for label in labels:
        values = [s.get(label, 0.0) for s in shares]
        if max(values) < 0.005:
            continue
        print(
            f"  {statistics.fmean(values):6.1%}  ({', '.join(f'{v:.0%}' for v in values)})  {label}"
        )
    print("--- inclusive (everything under the cause), share and of which SQL ---")
    labels = sorted(
        {k for s in inclusive_shares for k in s},
        key=lambda k: -statistics.fmean(s.get(k, (0.0, 0.0))[0] for s in inclusive_shares),
    )
    for label in labels:
        pairs = [share.get(label, (0.0, 0.0)) for share in inclusive_shares]
        if max(spent for spent, _ in pairs) < 0.005:
            continue
        mean = statistics.fmean(spent for spent, _ in pairs)
        sql_share = statistics.fmean(of_sql for _, of_sql in pairs)
        print(f"  {mean:6.1%}  (SQL {sql_share:5.1%})  {label}")


if __name__ == "__main__":
    sys.exit(main())
