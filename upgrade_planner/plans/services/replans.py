"""Re-planning a saved plan: the planner's input rebuilt from what was saved, and changing the
plan's approach, keeping the progress of the steps that exist in both plans."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from upgrade_planner.domain import planner
from upgrade_planner.plans.models import Activity, Plan
from upgrade_planner.plans.services.creation import PlanInputInvalid, planner_settings
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.readiness import readiness_evaluate
from upgrade_planner.plans.services.reconcile import plan_fields_set, steps_reconcile
from upgrade_planner.plans.services.text import actor_name


def installation_input_of(
    plan: Plan,
    *,
    approach: str | None,
    tentacles: Sequence[planner.TentacleInput] | None = None,
) -> planner.InstallationInput:
    """The planner's input rebuilt from what was saved for `plan`; with `tentacles`, for that
    inventory instead of the saved one."""
    installation = plan.installation
    return planner.InstallationInput(
        **{field: getattr(installation, field) for field in planner.INSTALLATION_FIELDS},
        approach=approach,  # type: ignore[arg-type]
        tentacles=tuple(
            tentacles
            if tentacles is not None
            else (t.as_input() for t in installation.tentacles.all())
        ),
    )


def plan_change_approach(*, plan: Plan, approach: str | None, actor: str = "") -> Plan:
    """Re-plan with another approach (None: the recommendation). Steps that exist in both
    plans keep their progress; steps that no longer apply are retired, not deleted."""
    if approach is not None and approach not in planner.APPROACHES:
        raise PlanInputInvalid({"approach": [f"Unknown approach {approach!r}."]})
    try:
        result = planner.make_plan(
            installation_input_of(plan, approach=approach), planner_settings()
        )
    except planner.PlanningError as error:
        raise PlanInputInvalid({error.field: [error.message]}) from error
    with transaction.atomic():
        plan_lock(plan=plan, reload_all=True)
        previous = plan.approach
        plan_fields_set(plan, result)
        plan.save()
        tentacles = {t.name: t for t in plan.installation.tentacles.all()}
        changes = steps_reconcile(plan=plan, planned_steps=result.steps, tentacles=tentacles)
        readiness_evaluate(plan=plan)
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action="approach-changed",
            from_state=previous,
            to_state=plan.approach,
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
            details=changes,
        )
    return plan
