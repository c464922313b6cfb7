"""16 clients clicking at random on one plan never break the lifecycle rules (PostgreSQL)."""

import random
import threading

import pytest
from django.db import connection

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Plan, Step, StepDependency

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CLIENTS = 16
# A fixed number of clicks per client (not a time budget), so a slow or busy machine runs the
# same contention, only more slowly.
CLICKS_PER_CLIENT = 40
ACTIONS = ["start", "complete", "complete", "complete", "skip", "reopen"]


def click_at_random(plan_id, seed, barrier, results):
    rng = random.Random(seed)
    plan = Plan.objects.get(pk=plan_id)
    ok = refused = 0
    barrier.wait()
    try:
        for _ in range(CLICKS_PER_CLIENT):
            candidates = list(
                Step.objects.filter(plan_id=plan_id)
                .exclude(state=StepState.BLOCKED)
                .values_list("id", flat=True)
            )
            step_id = rng.choice(candidates)
            action = rng.choice(ACTIONS)
            reason = "random test" if action in {"skip", "reopen"} else ""
            try:
                services.step_act(
                    plan=plan,
                    step_id=step_id,
                    action=action,
                    actor=f"client-{seed}",
                    reason=reason,
                )
                ok += 1
            except services.TransitionRefused:
                refused += 1
    finally:
        connection.close()
    results.append((ok, refused))


def test_random_concurrent_transitions_keep_every_rule():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what this test is about: it needs PostgreSQL")
    created = create_plan(tentacles=fleet(12))
    plan = created.plan
    start_version = Plan.objects.get(pk=plan.pk).version
    barrier = threading.Barrier(CLIENTS)
    results: list[tuple[int, int]] = []
    threads = [
        threading.Thread(target=click_at_random, args=(plan.pk, seed, barrier, results))
        for seed in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    successes = sum(ok for ok, _ in results)
    assert len(results) == CLIENTS
    assert successes > 50, results  # the clients really did contend

    states = dict(Step.objects.filter(plan=plan).values_list("id", "state"))
    for step_id, prerequisite_id in StepDependency.objects.filter(plan=plan).values_list(
        "step_id", "prerequisite_id"
    ):
        if states[step_id] in (StepState.DONE, StepState.IN_PROGRESS):
            assert states[prerequisite_id] in SATISFIED_STATES, (step_id, prerequisite_id)
    waiting = set(
        StepDependency.objects.filter(plan=plan)
        .exclude(prerequisite__state__in=SATISFIED_STATES)
        .values_list("step_id", flat=True)
    )
    for step_id, state in states.items():
        if state == StepState.READY:
            assert step_id not in waiting
        if state == StepState.BLOCKED:
            assert step_id in waiting

    plan.refresh_from_db()
    transitions = Activity.objects.filter(plan=plan).exclude(action="plan-created")
    assert plan.version == start_version + successes
    assert transitions.count() == successes
    last_logged = {}
    for step_id, to_state in transitions.order_by("plan_version").values_list(
        "step_id", "to_state"
    ):
        last_logged[step_id] = to_state
    for step_id, state in states.items():
        if state in (StepState.DONE, StepState.SKIPPED, StepState.IN_PROGRESS):
            assert last_logged.get(step_id) == state
    assert sorted(transitions.values_list("plan_version", flat=True)) == list(
        range(start_version + 1, start_version + successes + 1)
    )
