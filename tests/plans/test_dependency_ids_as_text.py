"""The forecast reads a plan's dependencies as text (PostgreSQL writes the ids itself): the text
must be what str() writes of each UUID, on every database, or steps would lose their
prerequisites and the forecast would start work before what it waits for."""

import pytest

from tests.factories import create_plan, fleet
from upgrade_planner.plans.forecasts import plan_tasks
from upgrade_planner.plans.models import StepDependency

pytestmark = pytest.mark.django_db


def test_dependency_ids_as_text_are_the_uuids_as_str_writes_them():
    created = create_plan(tentacles=fleet(3))
    dependencies = StepDependency.objects.filter(plan=created.plan)

    as_text = sorted(dependencies.id_pairs_as_text())

    assert as_text == sorted(
        (str(step), str(prerequisite))
        for step, prerequisite in dependencies.values_list("step_id", "prerequisite_id")
    )
    assert len(as_text) > 10


def test_every_task_of_the_forecast_keeps_every_prerequisite():
    created = create_plan(tentacles=fleet(3))
    expected: dict[str, set[str]] = {}
    for step, prerequisite in StepDependency.objects.filter(plan=created.plan).values_list(
        "step_id", "prerequisite_id"
    ):
        expected.setdefault(str(step), set()).add(str(prerequisite))

    tasks = plan_tasks(created.plan)

    assert {task.id: set(task.depends_on) for task in tasks if task.depends_on} == expected
