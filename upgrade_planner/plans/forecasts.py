"""The timed runbook's forecast of a saved plan: step rows turned into the pure scheduler's
tasks (domain/schedule.py), and its answer as the plan document's `schedule` object.

The forecast is recomputed on every read, from the rows the reader has anyway: the plan
document reads every step and dependency already, so its forecast costs no query. A reader
of only a page of steps (the API's paged read) takes the forecast kept for the plan version
and minute (`usable_schedule`, `keep_schedule`): two queries, once per version and minute (the
forecast moves with the clock while a step runs late, not only with the version).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.core.cache import cache
from django.utils import timezone

from upgrade_planner.domain.planning.estimates import needs_person
from upgrade_planner.domain.schedule import Forecast, Task, Window, forecast
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.plans.models import Plan, Step, StepDependency

# What the forecast reads of each step.
TASK_FIELDS = (
    "id",
    "kind",
    "method",
    "state",
    "estimate_minutes",
    "started_at",
    "finished_at",
)
CACHE_SECONDS = 60


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def tasks_from_rows(
    rows: Iterable[Mapping[str, Any]], prerequisites: Mapping[str, Sequence[str]]
) -> list[Task]:
    """Step rows (TASK_FIELDS, with `id` as text), in plan order, as the scheduler's tasks.
    `prerequisites` maps a step id to its prerequisites' ids; ids of steps not in `rows`
    (retired ones) are left out."""
    rows = list(rows)
    known = {row["id"] for row in rows}.__contains__
    person: dict[tuple[str, str], bool] = {}
    tasks = []
    for row in rows:
        kind, method = row["kind"], row["method"] or ""
        attended = person.get((kind, method))
        if attended is None:
            attended = person[(kind, method)] = needs_person(kind, method or None)
        finished = row["state"] in SATISFIED_STATES
        tasks.append(
            Task(
                id=row["id"],
                estimate_minutes=row["estimate_minutes"],
                depends_on=tuple(filter(known, prerequisites.get(row["id"], ()))),
                needs_person=attended,
                finished=finished,
                # Only a step in progress is running: a failed one is done again in full.
                started_at=row["started_at"] if row["state"] == StepState.IN_PROGRESS else None,
                finished_at=row["finished_at"] if finished else None,
            )
        )
    return tasks


class Scheduled(Protocol):
    """What a forecast reads of a plan: a Plan, or what a cached plan document keeps of it."""

    @property
    def window_start(self) -> datetime | None: ...

    @property
    def window_end(self) -> datetime | None: ...

    @property
    def people_at_once(self) -> int: ...


def forecast_of(plan: Scheduled, tasks: Sequence[Task], *, now: datetime | None = None) -> Forecast:
    return forecast(
        tasks,
        now=now or timezone.now(),
        people=plan.people_at_once,
        window=Window(plan.window_start, plan.window_end),
    )


def schedule_document(plan: Scheduled, result: Forecast) -> dict[str, Any]:
    """The plan document's `schedule` object (product.md §5.7)."""
    return {
        "window_start": iso(plan.window_start),
        "window_end": iso(plan.window_end),
        "forecast_end": iso(result.end),
        "critical_path": list(result.critical_path),
        "fits_window": result.fits_window,
        "slack_minutes": result.slack_minutes,
        "remaining_minutes": round(result.remaining_minutes),
        "people_at_once": plan.people_at_once,
        "computed_at": iso(result.now),
    }


def plan_tasks(plan: Plan) -> list[Task]:
    """The current steps of `plan` as tasks, in two queries."""
    return plan_tasks_and_rows(plan)[0]


def plan_tasks_and_rows(
    plan: Plan, *, fields: Sequence[str] = ()
) -> tuple[list[Task], list[dict[str, Any]]]:
    """The current steps of `plan` as tasks, and as rows of TASK_FIELDS and `fields` (with
    `id` as text) in plan order for whoever shows them, in two queries."""
    rows, prerequisites = plan_rows_and_prerequisites(plan, fields=fields)
    return tasks_from_rows(rows, prerequisites), rows


def plan_rows_and_prerequisites(
    plan: Plan, *, fields: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The current steps of `plan` as rows of TASK_FIELDS and `fields` (with `id` as text) in
    plan order, and each step's prerequisites' ids (retired ones included), in two queries."""
    wanted = [*TASK_FIELDS, *(name for name in fields if name not in TASK_FIELDS)]
    rows = [
        {**row, "id": str(row["id"])}
        for row in Step.objects.of_plan(plan).order_by("position").values(*wanted)
    ]
    prerequisites: dict[str, list[str]] = {}
    for step_id, prerequisite_id in StepDependency.objects.filter(plan=plan).id_pairs_as_text():
        prerequisites.setdefault(step_id, []).append(prerequisite_id)
    return rows, prerequisites


def plan_schedule(plan: Plan, *, now: datetime | None = None) -> dict[str, Any]:
    """The `schedule` object of `plan` as it stands, in two queries."""
    return schedule_document(plan, forecast_of(plan, plan_tasks(plan), now=now))


def schedule_key(plan_id: Any, version: int, *, now: datetime | None = None) -> str:
    """Where `keep_schedule` keeps the forecast of a plan version made in the minute of `now`."""
    minute = int((now or timezone.now()).timestamp() // 60)
    return f"schedule:{plan_id}:{version}:{minute}"


def schedule_keys(plan_id: Any, version: int, *, now: datetime) -> tuple[str, str]:
    """The keys of this minute's forecast of a plan version, and of the minute before's."""
    return (
        schedule_key(plan_id, version, now=now),
        schedule_key(plan_id, version, now=now - timedelta(minutes=1)),
    )


def usable_schedule(
    found: Mapping[str, Any], plan_id: Any, version: int, *, now: datetime
) -> dict[str, Any] | None:
    """Of what a reader found in the cache under `schedule_keys`: this minute's forecast; else
    the minute before's while another reader works this minute's out, so that a large plan's
    readers do not all work it out at once (its `computed_at` says when it was made). None:
    the reader works it out itself (`keep_schedule`)."""
    current, previous = schedule_keys(plan_id, version, now=now)
    if isinstance(found.get(current), dict):
        return dict(found[current])
    before = found.get(previous)
    if not isinstance(before, dict):
        return None
    try:
        claimed = cache.add(f"{current}:making", True, CACHE_SECONDS)
    except Exception:  # with no cache to share it through, each reader makes its own
        return None
    return None if claimed else dict(before)


def keep_schedule(plan: Plan) -> dict[str, Any]:
    """`plan_schedule` now, kept for the readers of the same minute (`usable_schedule`)."""
    now = timezone.now()
    found = plan_schedule(plan, now=now)
    with contextlib.suppress(Exception):  # failing to store it costs the next reader a forecast
        cache.set(schedule_key(plan.pk, plan.version, now=now), found, CACHE_SECONDS)
    return dict(found)
