"""Saving a planner result onto a plan: the plan's own fields, its steps (matched by key, so
that steps which exist before and after keep their progress; steps no longer planned are
retired, not deleted), their dependencies, and the blocked/ready states derived from them.
Creating a plan and every re-plan go through here."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from upgrade_planner.bulk import insert_rows, update_rows
from upgrade_planner.domain import planner
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.installations.services import TentacleRef
from upgrade_planner.plans.models import Plan, Step, StepDependency

# Estimates a person or a rehearsal gave: a re-plan keeps them rather than the planner's.
TEAM_ESTIMATES = frozenset({"team", "rehearsal"})


def step_labels(tentacles: Sequence[TentacleRef | Tentacle]) -> str:
    labels: set[str] = set()
    for tentacle in tentacles:
        labels.update(f"env={env}" for env in tentacle.environments)
        labels.update(f"role={role}" for role in tentacle.roles)
        labels.add(f"style={tentacle.communication_style}")
    return "|" + "|".join(sorted(labels)) + "|" if labels else ""


def plan_fields_set(plan: Plan, result: planner.Plan) -> None:
    plan.approach = result.approach or ""
    plan.recommended_approach = result.recommended_approach or ""
    plan.approach_overridden = result.approach_overridden
    plan.reasons = list(result.reasons)
    plan.alternatives = [
        {"approach": alt.approach, "why_not": alt.why_not} for alt in result.alternatives
    ]
    plan.assumptions = list(result.assumptions)
    plan.path = [
        {
            "from": hop.from_version,
            "to": hop.to_version,
            "kind": hop.kind,
            "reason": hop.reason,
            "source": hop.source,
        }
        for hop in result.path
    ]
    plan.warnings = [dataclasses.asdict(warning) for warning in result.warnings]
    plan.migration = dataclasses.asdict(result.migration) if result.migration else None
    plan.canary = list(result.canary)
    plan.estimates = [dataclasses.asdict(estimate) for estimate in result.estimates]
    plan.content_version = result.content_version


# The columns a planner result sets on a step (the rest is the step's own progress).
PLANNED_FIELDS = [
    "position", "kind", "title", "detail", "phase", "hop", "source", "optional", "tentacle",
    "tentacles", "tentacle_ref", "labels", "canary", "method", "point_of_no_return",
    "fleet_gate", "retired", "estimate_minutes", "estimate_basis",
]  # fmt: skip
# Every column a new step is written with (PLANNED_FIELDS, then its progress as it starts).
NEW_STEP_FIELDS = [
    "id", "plan", "key", "state", "evidence", "assignee", "started_at", "finished_at",
    "updated_at", *PLANNED_FIELDS,
]  # fmt: skip


def _planned_values(
    planned: planner.PlannedStep,
    position: int,
    tentacles: dict[str, TentacleRef] | dict[str, Tentacle],
) -> dict[str, Any]:
    """PLANNED_FIELDS of the step `planned` (at `position`) as they are stored."""
    ref = tentacles.get(planned.tentacle or "")
    return {
        "position": position,
        "kind": planned.kind,
        "title": planned.title,
        "detail": planned.detail,
        "phase": planned.phase,
        "hop": planned.hop,
        "source": planned.source,
        "optional": planned.optional,
        "tentacle": planned.tentacle or "",
        "tentacles": list(planned.tentacles),
        "tentacle_ref": ref.id if ref else None,
        "labels": step_labels([tentacles[n] for n in planned.tentacles if n in tentacles]),
        "canary": planned.canary,
        "method": planned.method or "",
        "point_of_no_return": planned.point_of_no_return,
        "fleet_gate": planned.fleet_gate,
        "retired": False,
        "estimate_minutes": planned.estimate_minutes,
        "estimate_basis": planned.estimate_basis,
    }


@dataclass(frozen=True)
class NewSteps:
    """The steps of a new plan as written: one dict per step (the plan document's STEP_FIELDS,
    `id` as text) in plan order, and the (step id, prerequisite id) pairs, as text."""

    rows: list[dict[str, Any]]
    dependencies: list[tuple[str, str]]


def steps_create(
    *,
    plan: Plan,
    planned_steps: tuple[planner.PlannedStep, ...],
    tentacles: dict[str, TentacleRef] | dict[str, Tentacle],
) -> NewSteps:
    """Write the steps of a plan that has none yet, their dependencies and their states.

    Nothing is read back: a new step is ready when it has no prerequisite and blocked
    otherwise (no step of a new plan is done or skipped), so the states are known before the
    rows are written, and the rows returned are exactly what was stored.

    At 20,000 Tentacles every pass over the steps counts: each step's stored values and its
    row for the plan document are made in one pass, with no dict per step in between."""
    now = timezone.now()
    # Random (version 4), as product.md says step ids are. As text: the driver sends them as
    # they are, and the plan document wants text.
    ids = {planned.key: str(uuid.uuid4()) for planned in planned_steps}
    plan_id = str(plan.pk)  # as text, like the keys: converted once, not once per row
    stored: list[tuple[Any, ...]] = []
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[str, str]] = []
    for position, planned in enumerate(planned_steps):
        step_id = ids[planned.key]
        state = StepState.BLOCKED if planned.depends_on else StepState.READY
        ref = tentacles.get(planned.tentacle or "")
        labels = step_labels([tentacles[n] for n in planned.tentacles if n in tentacles])
        tentacle, method = planned.tentacle or "", planned.method or ""
        # In NEW_STEP_FIELDS order.
        stored.append((
            step_id, plan_id, planned.key, state, [], "", None, None, now,
            position, planned.kind, planned.title, planned.detail, planned.phase, planned.hop,
            planned.source, planned.optional, tentacle, list(planned.tentacles),
            ref.id if ref else None, labels, planned.canary, method,
            planned.point_of_no_return, planned.fleet_gate, False, planned.estimate_minutes,
            planned.estimate_basis,
        ))  # fmt: skip
        # In the plan document's STEP_FIELDS order.
        rows.append({
            "id": step_id, "key": planned.key, "kind": planned.kind, "title": planned.title,
            "hop": planned.hop, "phase": planned.phase, "tentacle": tentacle,
            "tentacles": list(planned.tentacles), "optional": planned.optional,
            "canary": planned.canary, "method": method,
            "point_of_no_return": planned.point_of_no_return, "fleet_gate": planned.fleet_gate,
            "state": state, "source": planned.source, "detail": planned.detail, "evidence": [],
            "estimate_minutes": planned.estimate_minutes,
            "estimate_basis": planned.estimate_basis, "assignee": "", "started_at": None,
            "finished_at": None,
        })  # fmt: skip
        pairs.extend((step_id, ids[key]) for key in planned.depends_on)
    insert_rows(Step, NEW_STEP_FIELDS, stored)
    del stored  # a third of the memory of the plan's rows, not needed for the answer
    _dependencies_insert(plan=plan, pairs=pairs)
    plan.finished_steps = 0
    return NewSteps(rows=rows, dependencies=pairs)


def steps_reconcile(
    *,
    plan: Plan,
    planned_steps: tuple[planner.PlannedStep, ...],
    tentacles: dict[str, TentacleRef] | dict[str, Tentacle],
) -> dict[str, int]:
    """Make the plan's steps match `planned_steps`, matching by key and keeping progress."""
    existing = {step.key: step for step in Step.objects.filter(plan=plan)}
    wanted = {planned.key for planned in planned_steps}
    ids = {key: step.id for key, step in existing.items()}
    created: list[list[Any]] = []
    updated: list[list[Any]] = []
    now = timezone.now()
    for position, planned in enumerate(planned_steps):
        values = _planned_values(planned, position, tentacles)
        step = existing.get(planned.key)
        if step is None:
            ids[planned.key] = uuid.uuid4()
            created.append(
                [ids[planned.key], plan.pk, planned.key, StepState.BLOCKED, [], now]
                + [values[name] for name in PLANNED_FIELDS]
            )
            continue
        if step.estimate_basis in TEAM_ESTIMATES:  # the team's own estimates stay
            values["estimate_minutes"] = step.estimate_minutes
            values["estimate_basis"] = step.estimate_basis
        updated.append([values[name] for name in PLANNED_FIELDS] + [step.id])
    retired = [step for key, step in existing.items() if key not in wanted and not step.retired]
    for step in retired:
        step.retired = True
        updated.append(
            [
                step.tentacle_ref_id if name == "tentacle_ref" else getattr(step, name)
                for name in PLANNED_FIELDS
            ]
            + [step.id]
        )
    insert_rows(
        Step, ["id", "plan", "key", "state", "evidence", "updated_at", *PLANNED_FIELDS], created
    )
    update_rows(Step, PLANNED_FIELDS, updated)
    StepDependency.objects.filter(plan=plan).delete()
    _dependencies_insert(
        plan=plan,
        pairs=[
            (ids[planned.key], ids[key]) for planned in planned_steps for key in planned.depends_on
        ],
    )
    _states_rederive(plan)
    return {"created": len(created), "kept": len(updated) - len(retired), "retired": len(retired)}


def _dependencies_insert(
    *, plan: Plan, pairs: list[tuple[uuid.UUID, uuid.UUID]] | list[tuple[str, str]]
) -> None:
    plan_id = str(plan.pk)  # as text: converted once, not once per row
    insert_rows(
        StepDependency,
        ["step", "prerequisite", "plan"],
        ((step, prerequisite, plan_id) for step, prerequisite in pairs),
    )


def _states_rederive(plan: Plan) -> None:
    """Blocked/ready for every current step from its prerequisites; other states are kept."""
    waiting = StepDependency.objects.filter(plan=plan).exclude(
        prerequisite__state__in=SATISFIED_STATES
    )
    current = Step.objects.current().filter(plan=plan)
    current.filter(state=StepState.READY, pk__in=waiting.values("step_id")).update(
        state=StepState.BLOCKED
    )
    current.filter(state=StepState.BLOCKED).exclude(pk__in=waiting.values("step_id")).update(
        state=StepState.READY
    )
    finished = current.filter(state__in=SATISFIED_STATES).count()
    Plan.objects.filter(pk=plan.pk).update(finished_steps=finished)
    plan.finished_steps = finished
