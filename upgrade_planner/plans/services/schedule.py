"""The timed runbook's writes: the window and the people, a step's estimate and assignee, and
rehearsals (a plan made from the same input, run on a test instance, whose measured times
become the live plan's estimates). Each takes the plan lock, bumps the version and writes an
activity entry, in one transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final, cast

from django.db import transaction
from django.utils import timezone

from upgrade_planner.domain.vocabulary import ActivityAction, StepState
from upgrade_planner.plans.forecasts import plan_schedule
from upgrade_planner.plans.models import Activity, Plan, Step
from upgrade_planner.plans.services.creation import CreatedPlan, PlanInputInvalid, plan_create
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.replans import installation_input_of
from upgrade_planner.plans.services.text import NUL_REFUSED, actor_name, has_nul, too_long
from upgrade_planner.plans.services.transitions import StepNotFound


class Keep(Enum):
    """The value of a field a change leaves as it is (as opposed to None, which clears it)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP

# Limits of what a person may set: a year of minutes for one step; a team of up to 100.
ESTIMATE_MAX_MINUTES = 525_600
PEOPLE_MAX = 100
ASSIGNEE_MAX = cast(int, Step._meta.get_field("assignee").max_length)
TEAM, REHEARSAL = "team", "rehearsal"  # Step.estimate_basis of estimates not the planner's


class RehearsalNotFound(Exception):
    """No rehearsal of this plan with that id (or none at all)."""


class NothingMeasured(Exception):
    """The rehearsal has no step done with both a start and an end time."""

    code = "nothing-measured"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%a %d %b %H:%M %Z").strip() if moment else "not set"


def _aware(name: str, value: datetime | Keep | None, errors: dict[str, list[str]]) -> None:
    if isinstance(value, datetime) and timezone.is_naive(value):
        errors[name] = ["Give the time with its time zone, e.g. 2026-05-02T20:00:00Z."]


def schedule_set(
    *,
    plan: Plan,
    window_start: datetime | Keep | None = KEEP,
    window_end: datetime | Keep | None = KEEP,
    people_at_once: int | Keep = KEEP,
    actor: str = "",
) -> Plan:
    """Set the maintenance window (None clears an end of it) and how many people can work at
    once; what is not given stays. Raises PlanInputInvalid naming the field at fault."""
    errors: dict[str, list[str]] = {}
    _aware("window_start", window_start, errors)
    _aware("window_end", window_end, errors)
    if not isinstance(people_at_once, Keep) and not 1 <= people_at_once <= PEOPLE_MAX:
        errors["people_at_once"] = [f"Give a number of people from 1 to {PEOPLE_MAX}."]
    if errors:
        raise PlanInputInvalid(errors)
    with transaction.atomic():
        plan_lock(plan=plan)
        plan.refresh_from_db(fields=["window_start", "window_end", "people_at_once"])
        if not isinstance(window_start, Keep):
            plan.window_start = window_start
        if not isinstance(window_end, Keep):
            plan.window_end = window_end
        if not isinstance(people_at_once, Keep):
            plan.people_at_once = people_at_once
        start, end = plan.window_start, plan.window_end
        if start is not None and end is not None and end <= start:
            raise PlanInputInvalid({"window_end": ["The window must end after it starts."]})
        plan.save(update_fields=["window_start", "window_end", "people_at_once", "updated_at"])
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action=ActivityAction.SCHEDULE_SET,
            details={
                "summary": f"window {_when(start)} → {_when(end)}, {plan.people_at_once} at once",
                "window_start": start.isoformat() if start else None,
                "window_end": end.isoformat() if end else None,
                "people_at_once": plan.people_at_once,
            },
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
        )
    return plan


def step_update(
    *,
    plan: Plan,
    step_id: uuid.UUID,
    estimate_minutes: int | Keep = KEEP,
    assignee: str | Keep | None = KEEP,
    actor: str = "",
) -> Step:
    """Set a step's estimate (the team's from now on: a re-plan keeps it) and/or who does
    it (None or "" for nobody). Raises PlanInputInvalid naming the field at fault, or
    StepNotFound."""
    errors: dict[str, list[str]] = {}
    if isinstance(estimate_minutes, Keep) and isinstance(assignee, Keep):
        errors["body"] = ["Give estimate_minutes, assignee or both."]
    if not isinstance(estimate_minutes, Keep) and (
        isinstance(estimate_minutes, bool)
        or not isinstance(estimate_minutes, int)
        or not 0 <= estimate_minutes <= ESTIMATE_MAX_MINUTES
    ):
        errors["estimate_minutes"] = [
            f"Give a whole number of minutes from 0 to {ESTIMATE_MAX_MINUTES:,}."
        ]
    name = "" if isinstance(assignee, Keep) or assignee is None else assignee.strip()
    if message := too_long(name, limit=ASSIGNEE_MAX, what="The assignee's name"):
        errors["assignee"] = [message]
    elif has_nul(name):
        errors["assignee"] = [NUL_REFUSED]
    if errors:
        raise PlanInputInvalid(errors)
    with transaction.atomic():
        plan_lock(plan=plan)
        step = Step.objects.current().filter(plan=plan, pk=step_id).first()
        if step is None:
            raise StepNotFound(f"No step {step_id} in this plan.")
        changed: list[str] = []
        said: list[str] = []
        if not isinstance(estimate_minutes, Keep):
            step.estimate_minutes, step.estimate_basis = estimate_minutes, TEAM
            changed += ["estimate_minutes", "estimate_basis"]
            said.append(f"estimate {estimate_minutes} min")
        if not isinstance(assignee, Keep):
            step.assignee = actor_name(name)
            changed.append("assignee")
            said.append(f"assignee {step.assignee or 'nobody'}")
        step.save(update_fields=[*changed, "updated_at"])
        Activity.objects.create(
            plan=plan,
            step=step,
            actor=actor_name(actor),
            action=ActivityAction.STEP_PLANNED,
            details={"summary": ", ".join(said)},
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
        )
    return step


def _live_plan(plan: Plan) -> Plan:
    """The plan a rehearsal rehearses: `plan` itself, or the one it is a rehearsal of."""
    return plan.rehearsal_of if plan.rehearsal_of is not None else plan


def rehearsal_create(*, plan: Plan, actor: str = "") -> CreatedPlan:
    """A new plan from the same input as the live plan (`plan`, or the plan it rehearses),
    with its own links, marked as its rehearsal; the live plan links to it as its latest.

    The server addresses and API keys are not copied: a rehearsal runs on a test instance,
    never against the production servers."""
    live = _live_plan(plan)
    approach = live.approach if live.approach_overridden and live.approach else None
    given = dataclasses.replace(
        installation_input_of(live, approach=approach), old_server_url="", new_server_url=""
    )
    name = f"{live.name} (rehearsal)"[: cast(int, Plan._meta.get_field("name").max_length)]
    with transaction.atomic():
        plan_lock(plan=live)
        created = plan_create(name=name, installation=given, actor=actor)
        rehearsal = created.plan
        rehearsal.rehearsal_of = live
        rehearsal.people_at_once = live.people_at_once
        rehearsal.save(update_fields=["rehearsal_of", "people_at_once"])
        live.latest_rehearsal = rehearsal
        live.save(update_fields=["latest_rehearsal", "updated_at"])
        Activity.objects.create(
            plan=live,
            actor=actor_name(actor),
            action=ActivityAction.REHEARSAL_CREATED,
            details={"summary": rehearsal.name, "rehearsal": str(rehearsal.pk)},
            plan_version=live.version,
            finished_steps=live.finished_steps,
        )
    return created


@dataclass(frozen=True)
class Measured:
    """A rehearsal's measured time for one kind of step (and method), applied to the plan."""

    kind: str
    method: str | None
    minutes: int  # the average over the steps measured
    measured_steps: int
    steps_changed: int


@dataclass(frozen=True)
class RehearsalApplied:
    rehearsal: Plan
    before: dict[str, Any]
    after: dict[str, Any]
    applied: list[Measured]


def measured_minutes(rehearsal: Plan) -> dict[tuple[str, str], tuple[int, int]]:
    """(kind, method) → (average minutes, steps measured) over the rehearsal's steps done
    with both a start and an end time: per step kind, and per machine on average."""
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    rows = (
        Step.objects.of_plan(rehearsal)
        .filter(state=StepState.DONE, started_at__isnull=False, finished_at__isnull=False)
        .values_list("kind", "method", "started_at", "finished_at")
    )
    for kind, method, started, finished in rows:
        if started is not None and finished is not None:  # filtered above; for the types
            minutes = (finished - started).total_seconds() / 60
            durations[(kind, method)].append(max(0.0, minutes))
    return {
        key: (round(sum(values) / len(values)), len(values)) for key, values in durations.items()
    }


def rehearsal_apply(
    *, plan: Plan, rehearsal_id: uuid.UUID | None = None, actor: str = ""
) -> RehearsalApplied:
    """Make the rehearsal's measured times (its latest one unless `rehearsal_id` names
    another) the estimates of this plan's steps of the same kind and method. Answers the
    forecast before and after, both computed at the same moment."""
    found = Plan.objects.filter(rehearsal_of=plan)
    chosen = rehearsal_id or plan.latest_rehearsal_id
    rehearsal = found.filter(pk=chosen).first() if chosen else None
    if rehearsal is None:
        raise RehearsalNotFound("This plan has no such rehearsal.")
    measured = measured_minutes(rehearsal)
    if not measured:
        raise NothingMeasured(
            "The rehearsal has no measured step yet: start and complete steps in the "
            "rehearsal plan as you go, then apply its times."
        )
    now = timezone.now()
    with transaction.atomic():
        plan_lock(plan=plan)
        plan.refresh_from_db(fields=["window_start", "window_end", "people_at_once"])
        before = plan_schedule(plan, now=now)
        applied = []
        for (kind, method), (minutes, count) in sorted(measured.items()):
            changed = (
                Step.objects.of_plan(plan)
                .filter(kind=kind, method=method)
                .update(estimate_minutes=minutes, estimate_basis=REHEARSAL)
            )
            applied.append(Measured(kind, method or None, minutes, count, changed))
        after = plan_schedule(plan, now=now)
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action=ActivityAction.REHEARSAL_APPLIED,
            details={
                "summary": f"{sum(m.steps_changed for m in applied)} estimates from "
                f"{rehearsal.name}",
                "rehearsal": str(rehearsal.pk),
            },
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
        )
    return RehearsalApplied(rehearsal=rehearsal, before=before, after=after, applied=applied)
