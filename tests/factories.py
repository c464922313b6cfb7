"""Small explicit helpers to build plans for tests."""

from __future__ import annotations

import random
from typing import Any

from upgrade_planner.domain import planner
from upgrade_planner.plans import services


def tentacle(name: str, **fields: Any) -> planner.TentacleInput:
    fields.setdefault("hostname", f"{name}.corp")
    fields.setdefault("environments", ("Production",))
    fields.setdefault("roles", ("web",))
    fields.setdefault("version", "2.6.5")
    return planner.TentacleInput(name=name, **fields)


def fleet(count: int, *, prefix: str = "web", **fields: Any) -> tuple[planner.TentacleInput, ...]:
    return tuple(tentacle(f"{prefix}-{index:04d}", **fields) for index in range(1, count + 1))


def installation(**fields: Any) -> planner.InstallationInput:
    fields.setdefault("server_version", "2.6.5")
    fields.setdefault("target_version", "3.17.14")
    fields.setdefault("sql_server_ready", True)
    fields.setdefault("tentacles", fleet(3))
    return planner.InstallationInput(**fields)


def create_plan(name: str = "Prod Octopus", **fields: Any) -> services.CreatedPlan:
    return services.plan_create(name=name, installation=installation(**fields))


def api_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Prod Octopus",
        "server_version": "2.6.5",
        "target_version": "3.17.14",
        "can_provision_new_server": True,
        "sql_server_ready": True,
        "uses_builtin_feed": False,
        "backup_size_mb": 300,
        "polling_port": 10943,
        "approach": None,
        "tentacles": [
            {
                "name": "web-01",
                "hostname": "web-01.corp",
                "port": 10933,
                "version": "2.6.5",
                "communication_style": "listening",
                "environments": ["Production"],
                "roles": ["web"],
                "os": "Windows Server 2012 R2",
                "service_account": "",
                "restricted_permissions": False,
                "online": True,
            }
        ],
    }
    body.update(fields)
    return body


def finish_prerequisites(plan, step, actor: str = "Ana") -> None:  # type: ignore[no-untyped-def]
    """Complete, in order, everything `step` waits for (through the services)."""
    from upgrade_planner.domain.vocabulary import SATISFIED_STATES
    from upgrade_planner.plans.models import Step, StepDependency

    waiting = Step.objects.filter(
        pk__in=StepDependency.objects.filter(step=step).values("prerequisite_id")
    ).order_by("position")
    for prerequisite in waiting:
        prerequisite.refresh_from_db()
        if prerequisite.state in SATISFIED_STATES:
            continue
        finish_prerequisites(plan, prerequisite, actor)
        services.step_complete(step_id=prerequisite.id, plan=plan, actor=actor, confirmed=True)


def a_random_change(plan, chosen: random.Random) -> bool:  # type: ignore[no-untyped-def]
    """One change a team makes during the night, drawn with `chosen`: complete or fail a
    step in progress, exclude a machine, reopen a finished step, start a ready one, or start
    every ready machine at once. False when the draw was refused (a reopened step whose
    dependents have started) and nothing changed."""
    from upgrade_planner.domain.vocabulary import StepState
    from upgrade_planner.plans.models import Step

    steps = Step.objects.of_plan(plan)
    ready = list(steps.filter(state=StepState.READY))
    started = list(steps.filter(state=StepState.IN_PROGRESS))
    finished = list(steps.filter(state=StepState.DONE))
    roll = chosen.random()
    if started and roll < 0.05:
        step = chosen.choice(started)
        services.step_fail(step_id=step.id, plan=plan, actor="Ana", reason="timed out")
    elif started and roll < 0.45:
        step = chosen.choice(started)
        services.step_complete(step_id=step.id, plan=plan, actor="Ana", confirmed=True)
    elif roll < 0.5 and (machines := [step for step in ready if step.tentacle]):
        step = chosen.choice(machines)
        services.step_skip(step_id=step.id, plan=plan, actor="Bo", reason="retired")
    elif finished and roll < 0.55:
        step = chosen.choice(finished)
        try:
            services.step_reopen(step_id=step.id, plan=plan, actor="Cy", reason="redo")
        except services.StepHasStartedDependents:
            return False
    elif ready and roll < 0.95:
        services.step_start(step_id=chosen.choice(ready).id, plan=plan, actor="Ana")
    else:
        services.steps_bulk(
            plan=plan, action="start", tentacles_matching={"state": "ready"}, actor="Bo"
        )
    return True
