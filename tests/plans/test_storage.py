"""What a plan owns goes with it."""

import pytest

from tests.factories import create_plan, fleet
from upgrade_planner.plans.models import Activity, Plan, PlanLink, Step, StepDependency

pytestmark = pytest.mark.django_db


def test_deleting_a_plan_deletes_its_steps_dependencies_links_and_activity():
    kept = create_plan(name="Kept", tentacles=fleet(3))
    gone = create_plan(name="Gone", tentacles=fleet(3))
    kept_rows = StepDependency.objects.filter(plan=kept.plan).count()
    assert StepDependency.objects.filter(plan=gone.plan).exists()

    Plan.objects.filter(pk=gone.plan.pk).delete()

    assert not StepDependency.objects.filter(plan_id=gone.plan.pk).exists()
    assert not Step.objects.filter(plan_id=gone.plan.pk).exists()
    assert not PlanLink.objects.filter(plan_id=gone.plan.pk).exists()
    assert not Activity.objects.filter(plan_id=gone.plan.pk).exists()
    assert StepDependency.objects.filter(plan=kept.plan).count() == kept_rows > 0


def test_a_new_plans_dependencies_join_steps_of_that_plan():
    # The rows have no database foreign keys to their steps (they cost a lookup each at
    # commit): what keeps them whole is that they are written from the plan's own steps.
    created = create_plan(tentacles=fleet(5))
    plan = created.plan
    steps = set(Step.objects.filter(plan=plan).values_list("id", flat=True))
    rows = list(StepDependency.objects.filter(plan=plan).values_list("step_id", "prerequisite_id"))

    assert rows
    assert {step for step, _ in rows} <= steps
    assert {prerequisite for _, prerequisite in rows} <= steps
    assert len(rows) == sum(len(s.depends_on.all()) for s in Step.objects.filter(plan=plan))


def test_deleting_a_step_deletes_the_dependencies_on_either_side_of_it():
    created = create_plan(tentacles=fleet(3))
    plan = created.plan
    step = Step.objects.filter(plan=plan, tentacle="web-0001").get()
    assert StepDependency.objects.filter(step=step).exists()
    assert StepDependency.objects.filter(prerequisite=step).exists()

    step.delete()

    assert not StepDependency.objects.filter(step_id=step.pk).exists()
    assert not StepDependency.objects.filter(prerequisite_id=step.pk).exists()
    assert StepDependency.objects.filter(plan=plan).exists()
