"""The step lifecycle of product.md §4, through the services."""

import pytest

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Plan, Step, StepDependency

pytestmark = pytest.mark.django_db


def step_of(plan, kind, **filters):
    return Step.objects.filter(plan=plan, kind=kind, **filters).order_by("position").first()


def first_ready(plan, **filters):
    return (
        Step.objects.filter(
            plan=plan, state=StepState.READY, tentacle="", optional=False, **filters
        )
        .order_by("position")
        .first()
    )


def finish(plan, step, actor="Ana"):
    """Complete `step` after completing everything it waits for."""
    for prerequisite in Step.objects.filter(
        pk__in=StepDependency.objects.filter(step=step).values("prerequisite_id")
    ).order_by("position"):
        prerequisite.refresh_from_db()
        if prerequisite.state not in (StepState.DONE, StepState.SKIPPED):
            finish(plan, prerequisite, actor)
    step.refresh_from_db()
    if step.state != StepState.DONE:
        services.step_complete(step_id=step.id, plan=plan, actor=actor)


def test_a_step_without_prerequisites_starts_ready_and_others_start_blocked():
    plan = create_plan().plan

    states = dict(Step.objects.filter(plan=plan).values_list("key", "state"))
    roots = set(
        Step.objects.filter(plan=plan)
        .exclude(pk__in=StepDependency.objects.values("step_id"))
        .values_list("key", flat=True)
    )
    assert roots
    assert all(states[key] == StepState.READY for key in roots)
    assert all(state == StepState.BLOCKED for key, state in states.items() if key not in roots)


def test_completing_a_blocked_step_is_refused_naming_what_it_waits_for():
    plan = create_plan().plan
    install = step_of(plan, "install-server-new-machine")

    with pytest.raises(services.StepBlocked) as refused:
        services.step_complete(step_id=install.id, plan=plan, actor="Ana")

    assert "Waiting for:" in refused.value.message
    assert refused.value.details["blocked_by"]
    install.refresh_from_db()
    assert install.state == StepState.BLOCKED
    assert not Activity.objects.filter(plan=plan, action="complete").exists()


def test_starting_a_blocked_step_is_refused_too():
    plan = create_plan().plan
    install = step_of(plan, "install-server-new-machine")

    with pytest.raises(services.StepBlocked):
        services.step_start(step_id=install.id, plan=plan)


def test_completing_the_last_prerequisite_makes_the_dependent_ready():
    plan = create_plan().plan
    install = step_of(plan, "install-server-new-machine")
    prerequisites = Step.objects.filter(
        pk__in=StepDependency.objects.filter(step=install).values("prerequisite_id")
    )
    for prerequisite in prerequisites.order_by("position"):
        finish(plan, prerequisite)

    install.refresh_from_db()
    assert install.state == StepState.READY


def test_start_then_complete_moves_through_in_progress_and_logs_each_move():
    plan = create_plan().plan
    backup = first_ready(plan)
    version = plan.version

    services.step_start(step_id=backup.id, plan=plan, actor="Ana")
    services.step_complete(step_id=backup.id, plan=plan, actor="Ben")

    backup.refresh_from_db()
    plan.refresh_from_db()
    assert backup.state == StepState.DONE
    assert plan.version == version + 2
    log = list(Activity.objects.filter(plan=plan, step=backup).order_by("at", "id"))
    assert [(e.actor, e.from_state, e.to_state) for e in log] == [
        ("Ana", "ready", "in-progress"),
        ("Ben", "in-progress", "done"),
    ]


def test_a_required_step_cannot_be_skipped():
    plan = create_plan().plan
    backup = first_ready(plan)

    with pytest.raises(services.StepNotSkippable):
        services.step_skip(step_id=backup.id, plan=plan, reason="no time")

    backup.refresh_from_db()
    assert backup.state == StepState.READY


def test_skipping_needs_a_reason():
    plan = create_plan().plan
    upgrade = step_of(plan, "upgrade-tentacle")

    with pytest.raises(services.ReasonRequired):
        services.step_skip(step_id=upgrade.id, plan=plan, reason="   ")


def test_excluding_every_tentacle_satisfies_the_in_place_fleet_gate():
    plan = create_plan(can_provision_new_server=False, tentacles=fleet(12)).plan
    assert plan.approach == "in-place"
    install = step_of(plan, "install-server-in-place")
    cut_off = step_of(plan, "verify-old-server-cut-off")

    for upgrade in Step.objects.filter(plan=plan, kind="upgrade-tentacle"):
        services.step_skip(step_id=upgrade.id, plan=plan, reason="retired", actor="Ana")
    finish(plan, cut_off)

    remaining = services.unsatisfied_prerequisites(install)
    assert all(step.kind != "upgrade-tentacle" for step in remaining)


def test_the_in_place_server_install_stays_blocked_while_one_tentacle_is_not_done():
    plan = create_plan(can_provision_new_server=False, tentacles=fleet(12)).plan
    install = step_of(plan, "install-server-in-place")
    upgrades = list(Step.objects.filter(plan=plan, kind="upgrade-tentacle").order_by("position"))
    for upgrade in upgrades[:-1]:
        finish(plan, upgrade)

    with pytest.raises(services.StepBlocked) as refused:
        services.step_complete(step_id=install.id, plan=plan)

    assert str(upgrades[-1].id) in refused.value.details["blocked_by"]
    assert "Waiting for:" in refused.value.message


def test_reopening_needs_a_reason_and_blocks_dependents_again():
    plan = create_plan().plan
    backup = step_of(plan, "backup-database")
    finish(plan, backup)
    dependents = list(
        StepDependency.objects.filter(prerequisite=backup).values_list("step_id", flat=True)
    )

    with pytest.raises(services.ReasonRequired):
        services.step_reopen(step_id=backup.id, plan=plan, reason="")
    services.step_reopen(step_id=backup.id, plan=plan, reason="backup was corrupt", actor="Ana")

    backup.refresh_from_db()
    assert backup.state == StepState.READY
    assert not Step.objects.filter(pk__in=dependents, state=StepState.READY).exists()
    entry = Activity.objects.filter(plan=plan, action="reopen").get()
    assert entry.reason == "backup was corrupt"


def test_reopening_is_refused_while_a_dependent_is_started():
    plan = create_plan().plan
    install = step_of(plan, "install-server-new-machine")
    finish(plan, install)
    migrate = step_of(plan, "migrate-data")
    finish(plan, migrate)

    with pytest.raises(services.StepHasStartedDependents) as refused:
        services.step_reopen(step_id=install.id, plan=plan, reason="redo")

    assert migrate.title in refused.value.message
    install.refresh_from_db()
    assert install.state == StepState.DONE


def test_a_failed_step_blocks_its_dependents_until_completed_again():
    plan = create_plan().plan
    backup = step_of(plan, "backup-database")
    finish(plan, backup)
    services.step_fail(step_id=backup.id, plan=plan, reason="verification failed")
    dependents = StepDependency.objects.filter(prerequisite=backup).values("step_id")

    assert not Step.objects.filter(pk__in=dependents, state=StepState.READY).exists()
    services.step_complete(step_id=backup.id, plan=plan)
    backup.refresh_from_db()
    assert backup.state == StepState.DONE


def test_completing_a_done_step_again_is_refused():
    plan = create_plan().plan
    backup = step_of(plan, "backup-database")
    finish(plan, backup)

    with pytest.raises(services.InvalidTransition):
        services.step_complete(step_id=backup.id, plan=plan)


def test_a_step_of_another_plan_is_not_found():
    plan = create_plan().plan
    other = create_plan(name="Other").plan
    step = step_of(other, "backup-database")

    with pytest.raises(services.StepNotFound):
        services.step_complete(step_id=step.id, plan=plan)


def test_bulk_exclusion_reports_what_it_refused():
    plan = create_plan().plan
    upgrades = list(Step.objects.filter(plan=plan, kind="upgrade-tentacle"))
    backup = step_of(plan, "backup-database")

    outcome = services.steps_bulk(
        plan=plan,
        step_ids=[s.id for s in upgrades] + [backup.id],
        action="skip",
        reason="retired",
    )

    assert outcome.changed == len(upgrades)
    assert len(outcome.refusals) == 1 and "cannot be skipped" in outcome.refusals[0]


def test_a_change_to_a_plan_deleted_meanwhile_says_the_plan_does_not_exist():
    created = create_plan()
    stale = Plan.objects.get(pk=created.plan.pk)
    step = Step.objects.filter(plan=stale, state=StepState.READY).first()
    Plan.objects.filter(pk=stale.pk).delete()

    with pytest.raises(Plan.DoesNotExist):
        services.step_start(plan=stale, step_id=step.id)
