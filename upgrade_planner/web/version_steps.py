"""Every current step of a plan version as the forecast, the timeline and the "waiting for"
texts read them, with what each step depends on: read in two queries whatever the plan's size,
or, for a version that a single transition made, built with none from the version before.

A transition changes steps' states and the acted step's times, never which steps a plan has or
what they depend on (plans/access.py): the new version's steps are the last version's with the
moved rows replaced. Each process keeps the last version of the plans it showed most recently,
rows shared between versions and never changed in place; within a budget of rows, since a
20,000-Tentacle plan's steps are tens of megabytes of Python objects. Nothing here is written
to the shared cache: what other processes need of it (the minute's timeline, the "waiting
for" texts) is kept there already, and is small.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from upgrade_planner.domain.schedule import Task
from upgrade_planner.plans.access import Transition, moved_from
from upgrade_planner.plans.forecasts import (
    TASK_FIELDS,
    plan_rows_and_prerequisites,
    tasks_from_rows,
)
from upgrade_planner.plans.models import Plan
from upgrade_planner.web.page_cache import SizedLRU

# What the timeline and the "waiting for" texts read of each step besides the forecast's fields.
SHOWN_FIELDS = ("title", "hop", "phase", "tentacle", "canary", "point_of_no_return")
STEP_FIELDS = (*TASK_FIELDS, *(name for name in SHOWN_FIELDS if name not in TASK_FIELDS))
# How many rows a process keeps in all, and for how long it keeps a version.
ROW_BUDGET = 30_000
KEEP_SECONDS = 120


@dataclass(frozen=True)
class VersionSteps:
    """The current steps of one plan version. Read only: every holder shares the rows."""

    version: int
    rows: Sequence[Mapping[str, Any]]  # STEP_FIELDS, `id` as text, in plan order
    prerequisites: Mapping[str, Sequence[str]]  # step id -> its prerequisites' ids
    index: Mapping[str, int]  # step id -> its row

    def tasks(self) -> list[Task]:
        return tasks_from_rows(self.rows, self.prerequisites)

    def after(self, version: int, transition: Transition) -> VersionSteps | None:
        """These steps as `transition` left them at `version`: the moved steps in their new
        state, the acted one with its times. None when the transition does not fit them (a
        step it moved is not here, or was not in the state it moved from)."""
        rows = list(self.rows)
        for number, moved in enumerate(transition.moved):
            i = self.index.get(str(moved.step_id))
            if i is None or rows[i]["state"] != moved.before:
                return None
            row = rows[i] = {**rows[i], "state": moved.after}
            if number == 0:  # the step acted on
                row["started_at"] = transition.started_at
                row["finished_at"] = transition.finished_at
        return VersionSteps(version, rows, self.prerequisites, self.index)


def read(plan: Plan) -> VersionSteps:
    """The current steps of `plan` at its version, from the database (two queries)."""
    rows, prerequisites = plan_rows_and_prerequisites(plan, fields=STEP_FIELDS)
    index = {row["id"]: i for i, row in enumerate(rows)}
    return VersionSteps(plan.version, rows, prerequisites, index)


def version_steps(plan: Plan) -> VersionSteps:
    """The steps of `plan` at its version: `known`, else read (and kept)."""
    found = known(plan)
    if found is None:
        found = read(plan)
        kept.put(plan.pk, found)
    return found


def known(plan: Plan) -> VersionSteps | None:
    """The steps of `plan` at its version when they cost no read: this process's copy, or
    built on the version a single transition made it from, when this process keeps that one
    (and then kept). None otherwise."""
    found = kept.get(plan.pk, plan.version)
    if found is not None:
        return found
    noted = moved_from(plan.pk, plan.version)
    if noted is None or noted[1] is None:
        return None
    before = kept.get(plan.pk, noted[0])
    found = before.after(plan.version, noted[1]) if before is not None else None
    if found is not None:
        kept.put(plan.pk, found)
    return found


class KeptSteps:
    """One version's steps for each plan, the plans used most recently first, at most
    `budget` rows in all (a plan larger than that is not kept), each for `seconds`. A row
    stands for its dependencies too: about four for a Tentacle's step."""

    def __init__(self, budget: int = ROW_BUDGET, seconds: float = KEEP_SECONDS) -> None:
        self.seconds = seconds
        self._plans = SizedLRU[tuple[float, VersionSteps]](budget)

    def get(self, plan_id: object, version: int) -> VersionSteps | None:
        entry = self._plans.get(str(plan_id))
        if entry is None or entry[1].version != version:
            return None
        if entry[0] <= time.monotonic():
            self._plans.drop(str(plan_id))
            return None
        return entry[1]

    def put(self, plan_id: object, steps: VersionSteps) -> None:
        """Keep `steps` for their plan, unless it is larger than the budget or this process
        keeps a later version of the plan (read by a slower request)."""
        self._plans.put(
            str(plan_id),
            (time.monotonic() + self.seconds, steps),
            len(steps.rows),
            unless=lambda kept: kept[1].version > steps.version,
        )

    def clear(self) -> None:
        self._plans.clear()


kept = KeptSteps()
