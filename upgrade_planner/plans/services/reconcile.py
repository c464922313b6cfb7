"""Saving a planner result onto a plan: the plan's own fields, its steps (matched by key, so
that steps which exist before and after keep their progress; steps no longer planned are
retired, not deleted), their dependencies, and the blocked/ready states derived from them.
Creating a plan and every re-plan go through here."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

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


def steps_reconcile(
    *,
    plan: Plan,
    planned_steps: tuple[planner.PlannedStep, ...],
    tentacles: dict[str, TentacleRef] | dict[str, Tentacle],
    new: bool = False,
) -> dict[str, int]:
    """Make the plan's steps match `planned_steps`, matching by key and keeping progress."""
    existing = {} if new else {step.key: step for step in Step.objects.filter(plan=plan)}
    wanted = {planned.key for planned in planned_steps}
    ids = {key: step.id for key, step in existing.items()}
    created: list[Step] = []
    updated: list[Step] = []
    for position, planned in enumerate(planned_steps):
        step = existing.get(planned.key)
        if step is None:
            step = Step(id=uuid.uuid4(), plan=plan, key=planned.key, state=StepState.BLOCKED)
            ids[planned.key] = step.id
            created.append(step)
        else:
            updated.append(step)
        step.position = position
        step.kind = planned.kind
        step.title = planned.title
        step.detail = planned.detail
        step.phase = planned.phase
        step.hop = planned.hop
        step.source = planned.source
        step.optional = planned.optional
        step.tentacle = planned.tentacle or ""
        step.tentacles = list(planned.tentacles)
        ref = tentacles.get(planned.tentacle or "")
        step.tentacle_ref_id = ref.id if ref else None
        step.labels = step_labels([tentacles[n] for n in planned.tentacles if n in tentacles])
        step.canary = planned.canary
        step.method = planned.method or ""
        step.point_of_no_return = planned.point_of_no_return
        step.fleet_gate = planned.fleet_gate
        step.retired = False
        if step.estimate_basis not in TEAM_ESTIMATES:  # the team's own estimates stay
            step.estimate_minutes = planned.estimate_minutes
            step.estimate_basis = planned.estimate_basis
    retired = [step for key, step in existing.items() if key not in wanted and not step.retired]
    for step in retired:
        step.retired = True
    fields = [
        "position", "kind", "title", "detail", "phase", "hop", "source", "optional", "tentacle",
        "tentacles", "tentacle_ref", "labels", "canary", "method", "point_of_no_return",
        "fleet_gate", "retired", "estimate_minutes", "estimate_basis",
    ]  # fmt: skip
    now = timezone.now()
    insert_rows(
        Step,
        ["id", "plan", "key", "state", "evidence", "updated_at", *fields],
        (
            (
                step.id,
                plan.pk,
                step.key,
                step.state,
                [],
                now,
                *(
                    step.tentacle_ref_id if name == "tentacle_ref" else getattr(step, name)
                    for name in fields
                ),
            )
            for step in created
        ),
    )
    update_rows(
        Step,
        fields,
        (
            [
                *(
                    step.tentacle_ref_id if name == "tentacle_ref" else getattr(step, name)
                    for name in fields
                ),
                step.id,
            ]
            for step in updated + retired
        ),
    )
    if not new:
        StepDependency.objects.filter(plan=plan).delete()
    _dependencies_insert(
        plan=plan,
        pairs=[
            (ids[planned.key], ids[key]) for planned in planned_steps for key in planned.depends_on
        ],
    )
    _states_rederive(plan)
    return {"created": len(created), "kept": len(updated), "retired": len(retired)}


def _dependencies_insert(*, plan: Plan, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    insert_rows(
        StepDependency,
        ["step", "prerequisite", "plan"],
        ((step, prerequisite, plan.pk) for step, prerequisite in pairs),
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
