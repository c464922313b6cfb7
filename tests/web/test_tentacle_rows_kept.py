"""The Tentacle table's page of steps, and who finished them, are read once for a plan
version, filter and table page, whichever link or visitor asks (pages.PlanPage._tentacle_page)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step
from upgrade_planner.web.pages import TENTACLES_PER_PAGE

pytestmark = pytest.mark.django_db


def render(client: Client, url: str, **query: str) -> tuple[str, str]:
    """The page, and the SQL its render ran."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode(), "\n".join(q["sql"] for q in captured.captured_queries)


def reads_tentacle_rows(sql: str) -> bool:
    return 'JOIN "installations_tentacle"' in sql


def rows_of(body: str) -> list[str]:
    table = body[body.index('id="tentacles"') :]
    table = table[: table.index("</table>")]
    return [part.split('"', 1)[0] for part in table.split('id="step-')[1:]]


def test_the_read_only_link_shows_the_rows_the_edit_link_read(client):
    created = create_plan(tentacles=fleet(4))
    edit, edit_sql = render(client, f"/p/{created.edit_token}/")
    view, view_sql = render(Client(), f"/v/{created.view_token}/")

    assert reads_tentacle_rows(edit_sql) and not reads_tentacle_rows(view_sql)
    assert rows_of(view) == rows_of(edit) and len(rows_of(view)) == 4


def test_a_table_page_past_the_last_shows_the_last_pages_rows_read_once(client):
    created = create_plan(tentacles=fleet(TENTACLES_PER_PAGE + 5))
    url = f"/v/{created.view_token}/"
    last, first_sql = render(client, url, page="99")
    again, again_sql = render(client, url, page="100")

    assert reads_tentacle_rows(first_sql) and not reads_tentacle_rows(again_sql)
    shown = rows_of(last)
    assert shown == rows_of(again)
    # The last page: what is left after the first page's rows.
    assert len(shown) == Step.objects.of_plan(created.plan).exclude(tentacle="").count() % (
        TENTACLES_PER_PAGE
    )


def test_each_filter_keeps_its_own_rows(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/v/{created.view_token}/"
    ready, _ = render(client, url, state=StepState.READY)
    blocked, _ = render(client, url, state=StepState.BLOCKED)

    plan_steps = Step.objects.of_plan(created.plan).exclude(tentacle="")
    assert set(rows_of(ready)) == {str(s.id) for s in plan_steps.filter(state=StepState.READY)}
    assert set(rows_of(blocked)) == {str(s.id) for s in plan_steps.filter(state=StepState.BLOCKED)}
    assert rows_of(ready) != rows_of(blocked)


def test_a_new_version_reads_its_rows_again(client):
    created = create_plan(tentacles=fleet(2))
    url = f"/v/{created.view_token}/"
    before, _ = render(client, url)
    step = Step.objects.of_plan(created.plan).filter(state=StepState.READY).first()
    services.step_start(step_id=step.id, plan=created.plan, actor="Ana")

    after, sql = render(client, url)

    assert reads_tentacle_rows(sql)
    assert rows_of(after) == rows_of(before)


def test_after_a_transition_the_unfiltered_table_is_the_last_one_with_the_step_moved(
    client, django_capture_on_commit_callbacks
):
    created = create_plan(tentacles=fleet(3))
    url = f"/v/{created.view_token}/"
    plan = created.plan
    for step in Step.objects.of_plan(plan).filter(tentacle="").order_by("position"):
        if (
            step.kind == "upgrade-tentacle"
            or Step.objects.of_plan(plan)
            .exclude(tentacle="")
            .filter(state=StepState.READY)
            .exists()
        ):
            break
        plan.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            services.step_start(step_id=step.id, plan=plan, actor="Ana", confirmed=True)
            services.step_complete(step_id=step.id, plan=plan, actor="Ana", confirmed=True)
    moving = Step.objects.of_plan(plan).exclude(tentacle="").filter(state=StepState.READY).first()
    assert moving is not None
    render(client, url)
    render(client, url, state=StepState.IN_PROGRESS)  # this version's filtered rows, kept
    plan.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        services.step_start(step_id=moving.id, plan=plan, actor="Ana")
    after, sql = render(client, url)
    filtered, filtered_sql = render(client, url, state=StepState.IN_PROGRESS)

    assert not reads_table_rows(sql)
    row = after[after.index(f'id="step-{moving.id}"') :][:3000]
    assert "In progress" in row
    # A filter's rows change with the states: they are read again, with the moved step.
    assert reads_table_rows(filtered_sql)
    assert rows_of(filtered) == [str(moving.id)]


def reads_table_rows(sql: str) -> bool:
    """The Tentacle table's statement: whole steps with their Tentacles (the printed runbook
    reads a few columns of every step with theirs)."""
    return any(
        'JOIN "installations_tentacle"' in statement and '"plans_step"."key"' in statement
        for statement in sql.split("\n")
    )
