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
