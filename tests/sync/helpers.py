"""Plans with progress on them, and snapshots to prove a re-sync left that progress alone."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.factories import create_plan, fleet
from upgrade_planner.domain import planner
from upgrade_planner.domain.inventory_diff import as_row
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Plan, Step

PROGRESS_STATES = {StepState.DONE, StepState.SKIPPED, StepState.IN_PROGRESS, StepState.FAILED}


def step(plan: Plan, key: str) -> Step:
    return Step.objects.get(plan=plan, key=key)


def complete(plan: Plan, *keys: str, actor: str = "Ana") -> None:
    for key in keys:
        services.step_complete(step_id=step(plan, key).id, plan=plan, actor=actor)


def in_place_plan_with_progress(count: int = 12) -> services.CreatedPlan:
    """An in-place plan (no new server, more than a handful of Tentacles) half-way through:
    backups done, Hydra prepared, the canary upgraded and verified, two more upgraded (one with
    evidence), one excluded."""
    created = create_plan(can_provision_new_server=False, tentacles=fleet(count))
    plan = created.plan
    assert plan.approach == "in-place"
    complete(
        plan,
        "0:backup-license-key",
        "0:backup-master-key",
        "0:backup-database",
        "0:prepare-sql-server",
        "0:hydra-prepare",
        "0:upgrade-tentacle:web-0001",
        "0:upgrade-tentacle:web-0002",
        "0:verify-canary",
        "0:upgrade-tentacle:web-0003",
    )
    services.step_start(step_id=step(plan, "0:upgrade-tentacle:web-0004").id, plan=plan)
    services.step_skip(
        step_id=step(plan, "0:upgrade-tentacle:web-0005").id, plan=plan, reason="retired soon"
    )
    Step.objects.filter(plan=plan, key="0:upgrade-tentacle:web-0002").update(
        evidence=[{"check": "pasted", "at": "2026-01-01T00:00:00Z", "ok": True, "detail": "3.17"}]
    )
    plan.refresh_from_db()
    return created


def snapshot(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every step with progress or evidence, by key."""
    return {
        s.key: {"id": s.id, "state": s.state, "evidence": s.evidence, "retired": s.retired}
        for s in Step.objects.filter(plan=plan)
        if s.state in PROGRESS_STATES or s.evidence
    }


def activity_ids(plan: Plan) -> set[int]:
    return set(Activity.objects.filter(plan=plan).values_list("id", flat=True))


def inventory_of(plan: Plan) -> list[planner.TentacleInput]:
    return [t.as_input() for t in plan.installation.tentacles.all()]


def replaced(
    tentacles: list[planner.TentacleInput], which: str, /, **changes: Any
) -> list[planner.TentacleInput]:
    return [dataclasses.replace(t, **changes) if t.name == which else t for t in tentacles]


def without(tentacles: list[planner.TentacleInput], *names: str) -> list[planner.TentacleInput]:
    return [t for t in tentacles if t.name not in names]


def rows(tentacles: list[planner.TentacleInput]) -> list[dict[str, Any]]:
    return [as_row(t) for t in tentacles]
