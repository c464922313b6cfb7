# Every statement here formats in only identifiers from the models' own metadata; values are
# always parameters.
# ruff: noqa: S608
"""The fixed statements of a step transition, written once per database vendor.

A transition runs the same few statements every time; building them through the ORM (filters,
joins, compilation) took about as long as running them. Each is written here from the models'
own table and column names, for PostgreSQL and SQLite alike, and its rows are turned into
Python values by the same converters the ORM uses.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connection, models

from upgrade_planner.bulk import read_converter
from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    FindingSeverity,
    FindingState,
    StepState,
)
from upgrade_planner.plans.access import MovedStep
from upgrade_planner.plans.models import Finding, Plan, Step, StepDependency

# Fixed orders, so each statement's parameters line up with its placeholders.
_SATISFIED = sorted(SATISFIED_STATES)
_STARTED = [StepState.IN_PROGRESS, StepState.DONE]


@dataclass(frozen=True)
class StepRead:
    """A step as a transition finds it under the plan's lock, with what its rules ask."""

    step: Step
    # Its prerequisites' ids (sorted) and those of them neither done nor skipped.
    prerequisite_ids: list[uuid.UUID]
    waiting_ids: list[uuid.UUID]
    # An open inhibitor of the readiness report guards it.
    inhibited: bool
    # A current step that depends on it is in progress or done.
    dependents_started: bool
    # Some step depends on it (so blocked/ready may have to be re-derived).
    has_dependents: bool


def step_read(*, plan: Plan, step_id: uuid.UUID) -> StepRead | None:
    """The current step `step_id` of `plan` with its prerequisites' states and the flags its
    rules need, in one statement: the step's row, then one row per prerequisite (UNION ALL,
    so the step's columns are not repeated for each of a fleet gate's thousands of
    prerequisites). None when the plan has no such current step."""
    step_pk = _pk(step_id)
    params: list[Any] = [
        FindingSeverity.INHIBITOR,
        FindingState.OPEN,
        False,
        *_STARTED,
        step_pk,
        _pk(plan.pk),
        False,
        step_pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_step_read_sql(connection.vendor), params)
        rows = cursor.fetchall()
    fields = _step_fields()
    convert_id = _step_id_converter_of(connection.vendor)
    converters = _step_converters()
    found: Step | None = None
    flags: Sequence[Any] = ()
    prerequisites: list[tuple[uuid.UUID, str]] = []
    for row in rows:
        if row[0] == 0:
            stored = row[1 : 1 + len(fields)]
            values = [convert(value) for convert, value in zip(converters, stored, strict=True)]
            found = Step.from_db(connection.alias, [f.attname for f in fields], values)
            flags = row[1 + len(fields) : 4 + len(fields)]
        else:
            prerequisites.append((convert_id(row[-2]), row[-1]))
    if found is None:
        return None
    prerequisites.sort()
    return StepRead(
        step=found,
        prerequisite_ids=[pk for pk, _ in prerequisites],
        waiting_ids=[pk for pk, state in prerequisites if state not in SATISFIED_STATES],
        inhibited=bool(flags[0]),
        dependents_started=bool(flags[1]),
        has_dependents=bool(flags[2]),
    )


def step_state_save(step: Step, *, now: datetime) -> None:
    """Write the step's state, start and finish times (and `now` as its change time)."""
    step.updated_at = now
    names = ("state", "started_at", "finished_at", "updated_at", "id")
    values = [
        _field(Step, name).get_db_prep_save(getattr(step, name), connection) for name in names
    ]
    with connection.cursor() as cursor:
        cursor.execute(_step_save_sql(connection.vendor), values)


def dependents_refresh(step_id: uuid.UUID) -> list[MovedStep]:
    """Re-derive blocked/ready for the steps that wait on `step_id`, in one UPDATE: a ready one
    with a prerequisite neither done nor skipped becomes blocked, a blocked one without such
    a prerequisite becomes ready. Returns the steps it moved."""
    params: list[Any] = [
        StepState.READY,
        StepState.BLOCKED,
        StepState.READY,
        _pk(step_id),
        StepState.READY,
        *_SATISFIED,
        StepState.BLOCKED,
        *_SATISFIED,
    ]
    convert_id = _step_id_converter_of(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(_dependents_sql(connection.vendor), params)
        rows = cursor.fetchall()
    return [
        MovedStep(
            step_id=convert_id(pk),
            before=StepState.BLOCKED if state == StepState.READY else StepState.READY,
            after=state,
            fleet=(hop, phase, kind, bool(canary)) if tentacle else None,
        )
        for pk, state, tentacle, hop, phase, kind, canary, retired in rows
        # A retired step is counted nowhere. (A re-sync drops a retired step's dependencies, so
        # none should come back here; if one ever does, it must not move the page's counts.)
        if not retired
    ]


# --- Writing the statements --------------------------------------------------------------------


def _pk(value: object) -> Any:
    return Step._meta.pk.get_db_prep_value(value, connection)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


class _Names:
    """Quoted table and column names: `names.step` is the step table, `names.step_col("state")`
    one of its columns."""

    def __init__(self) -> None:
        quote = connection.ops.quote_name
        self.quote = quote
        self.step = quote(Step._meta.db_table)
        self.dependency = quote(StepDependency._meta.db_table)
        self.finding = quote(Finding._meta.db_table)
        self.guards = quote(Finding.guards.through._meta.db_table)

    def col(self, model: type[models.Model], name: str) -> str:
        return self.quote(cast(str, _field(model, name).column))


def _step_fields() -> list[models.Field[Any, Any]]:
    return list(Step._meta.concrete_fields)


@functools.cache
def _step_id_converter_of(vendor: str) -> Callable[[Any], Any]:
    return read_converter(Step._meta.pk)


@functools.cache
def _step_converters_of(vendor: str) -> list[Callable[[Any], Any]]:
    return [read_converter(field) for field in _step_fields()]


def _step_converters() -> list[Callable[[Any], Any]]:
    return _step_converters_of(connection.vendor)


@functools.cache
def _step_read_sql(vendor: str) -> str:
    n = _Names()
    step_cols = [f"s.{n.quote(cast(str, f.column))}" for f in _step_fields()]
    s_id, later_id, p_id = (f"{alias}.{n.col(Step, 'id')}" for alias in ("s", "later", "p"))
    dep_step, dep_pre = n.col(StepDependency, "step"), n.col(StepDependency, "prerequisite")
    guard_step = n.col(Finding.guards.through, "step")
    guard_finding = n.col(Finding.guards.through, "finding")
    state, retired = n.col(Step, "state"), n.col(Step, "retired")
    inhibited = (
        f"EXISTS (SELECT 1 FROM {n.guards} g INNER JOIN {n.finding} f "
        f"ON f.{n.col(Finding, 'id')} = g.{guard_finding} "
        f"WHERE g.{guard_step} = {s_id} AND f.{n.col(Finding, 'severity')} = %s "
        f"AND f.{n.col(Finding, 'state')} = %s)"
    )
    dependents_started = (
        f"EXISTS (SELECT 1 FROM {n.dependency} d "
        f"INNER JOIN {n.step} later ON {later_id} = d.{dep_step} "
        f"WHERE d.{dep_pre} = {s_id} AND later.{retired} = %s AND later.{state} IN (%s, %s))"
    )
    has_dependents = f"EXISTS (SELECT 1 FROM {n.dependency} d WHERE d.{dep_pre} = {s_id})"
    nulls = ", ".join(["NULL"] * (len(step_cols) + 3))
    return (
        f"SELECT 0, {', '.join(step_cols)}, {inhibited}, {dependents_started}, "
        f"{has_dependents}, NULL, NULL FROM {n.step} s "
        f"WHERE {s_id} = %s AND s.{n.col(Step, 'plan')} = %s AND s.{retired} = %s "
        f"UNION ALL "
        f"SELECT 1, {nulls}, d.{dep_pre}, p.{state} FROM {n.dependency} d "
        f"INNER JOIN {n.step} p ON {p_id} = d.{dep_pre} WHERE d.{dep_step} = %s"
    )


@functools.cache
def _step_save_sql(vendor: str) -> str:
    n = _Names()
    assignments = ", ".join(
        f"{n.col(Step, name)} = %s" for name in ("state", "started_at", "finished_at", "updated_at")
    )
    return f"UPDATE {n.step} SET {assignments} WHERE {n.col(Step, 'id')} = %s"


@functools.cache
def _dependents_sql(vendor: str) -> str:
    n = _Names()
    state, step_id = n.col(Step, "state"), f"{n.step}.{n.col(Step, 'id')}"
    dep_step, dep_pre = n.col(StepDependency, "step"), n.col(StepDependency, "prerequisite")
    satisfied = ", ".join(["%s"] * len(_SATISFIED))
    waiting = (
        f"EXISTS (SELECT 1 FROM {n.dependency} w INNER JOIN {n.step} p "
        f"ON p.{n.col(Step, 'id')} = w.{dep_pre} "
        f"WHERE w.{dep_step} = {step_id} AND p.{state} NOT IN ({satisfied}))"
    )
    returned = ", ".join(
        n.col(Step, name)
        for name in ("id", "state", "tentacle", "hop", "phase", "kind", "canary", "retired")
    )
    return (
        f"UPDATE {n.step} SET {state} = CASE WHEN {state} = %s THEN %s ELSE %s END "
        f"WHERE {step_id} IN (SELECT {dep_step} FROM {n.dependency} WHERE {dep_pre} = %s) "
        f"AND (({state} = %s AND {waiting}) OR ({state} = %s AND NOT {waiting})) "
        f"RETURNING {returned}"
    )
