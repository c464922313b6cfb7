"""The steps of a plan version as the forecast, the timeline and the "waiting for" texts read
them (web/version_steps.py): read once per version in each process, and for a version a single
transition made, built on the version before with no query. Built or read, they are the same."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import a_random_change, create_plan, fleet
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.plans import access, services
from upgrade_planner.plans.models import Plan, Step
from upgrade_planner.web import page_cache, pages, version_steps
from upgrade_planner.web.version_steps import KeptSteps, VersionSteps

pytestmark = pytest.mark.django_db

DEPENDENCIES = '"plans_stepdependency"'


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run each change's commit hooks, as a committed request does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def ready_step(plan: Plan) -> Step:
    return Step.objects.of_plan(plan).filter(state=StepState.READY).order_by("position").first()


def as_read(plan: Plan) -> VersionSteps:
    return version_steps.read(Plan.objects.get(pk=plan.pk))


def same_steps(built: VersionSteps, read: VersionSteps) -> bool:
    prerequisites = {step: sorted(ids) for step, ids in built.prerequisites.items()}
    return (
        built.version == read.version
        and [dict(row) for row in built.rows] == [dict(row) for row in read.rows]
        and prerequisites == {step: sorted(ids) for step, ids in read.prerequisites.items()}
        and dict(built.index) == dict(read.index)
    )


def test_the_first_view_after_a_transition_reads_no_step_dependency(client, commits):
    """A blocked step's "waiting for" words and the forecast come from the steps this process
    kept of the version before: a live upgrade's every tick no longer reads the plan's
    dependencies (80,000 rows for 20,000 Tentacles) again."""
    created = create_plan(tentacles=fleet(4), target_version="2025.2.9999")
    url = f"/v/{created.view_token}/"
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    assert any(DEPENDENCIES in query["sql"] for query in first.captured_queries)

    with commits():
        services.step_start(step_id=ready_step(created.plan).id, plan=created.plan, actor="Ana")

    with CaptureQueriesContext(connection) as after:
        page = client.get(url).content.decode()
    assert not any(DEPENDENCIES in query["sql"] for query in after.captured_queries)
    assert len(after.captured_queries) < len(first.captured_queries)
    assert "<strong>Waiting for:</strong>" in page


@pytest.mark.parametrize("seed", [3, 4])
def test_steps_built_through_an_upgrade_equal_steps_read_afresh(client, commits, seed):
    """Steps started, completed and reopened in a random order, now and then in bulk: each
    version's steps, built on the last for a single transition, are the steps read from the
    database, and so are the blocked steps' "waiting for" words."""
    created = create_plan(tentacles=fleet(5), target_version="2025.2.9999")
    plan_id = created.plan.pk
    url = f"/v/{created.view_token}/"
    chosen = random.Random(seed)
    built = 0
    client.get(url)
    for _ in range(40):
        with commits():
            if not a_random_change(Plan.objects.get(pk=plan_id), chosen):
                continue
        plan = Plan.objects.get(pk=plan_id)
        noted = access.moved_from(plan.pk, plan.version)
        came_by_one_transition = noted is not None and noted[1] is not None
        with CaptureQueriesContext(connection) as reads:
            shown = version_steps.version_steps(plan)
        built += came_by_one_transition
        assert (len(reads.captured_queries) == 0) == came_by_one_transition
        assert same_steps(shown, as_read(plan))

        # The words made from the steps are the words read with SQL alone.
        unfinished = [
            step.id for step in Step.objects.of_plan(plan).exclude(state__in=SATISFIED_STATES)
        ]
        page = pages.PlanPage.__new__(pages.PlanPage)
        page.plan = plan
        words = pages.waiting_words(shown, unfinished)
        assert words and words == page._waiting_for_read(unfinished)
    assert built >= 20


def test_a_version_whose_steps_this_process_does_not_hold_reads_only_the_waiting_words(
    client, commits
):
    """Another worker worked the forecast out and shared it: the words of a new table page
    are counted in SQL, not made from the whole plan's steps read for them alone (80,000
    dependency rows for 20,000 Tentacles)."""
    created = create_plan(tentacles=fleet(60), target_version="2025.2.9999")
    url = f"/v/{created.view_token}/"
    client.get(url)  # the forecast and the first page's words are in the shared cache
    version_steps.kept.clear()  # as in a process that has not shown this version
    page_cache.local_values.clear()

    with CaptureQueriesContext(connection) as reads:
        page = client.get(f"{url}?page=2").content.decode()
    dependencies = [q["sql"] for q in reads.captured_queries if DEPENDENCIES in q["sql"]]
    assert len(dependencies) == 1 and "GROUP BY" in dependencies[0]
    assert "Waits for:" in page


def test_a_transition_that_does_not_fit_the_kept_steps_reads_them_again(commits):
    """Steps kept at a version whose moved step was not in the state the transition moved it
    from (read while the plan was moving on) are not built on: they are read."""
    created = create_plan(tentacles=fleet(2), target_version="2025.2.9999")
    step = ready_step(created.plan)
    kept = as_read(created.plan)
    # As if read a moment late: the step already started, under the version before.
    i = kept.index[str(step.id)]
    rows = list(kept.rows)
    rows[i] = {**rows[i], "state": StepState.IN_PROGRESS}
    late = VersionSteps(kept.version, rows, kept.prerequisites, kept.index)
    version_steps.kept.put(created.plan.pk, late)

    with commits():
        services.step_start(step_id=step.id, plan=created.plan, actor="Ana")

    plan = Plan.objects.get(pk=created.plan.pk)
    with CaptureQueriesContext(connection) as reads:
        shown = version_steps.version_steps(plan)
    assert any(DEPENDENCIES in query["sql"] for query in reads.captured_queries)
    assert same_steps(shown, as_read(plan))


def test_the_kept_steps_stay_within_their_budget_of_rows():
    """A worker keeps one version a plan and at most the budget's rows: the plan used least
    recently goes first, and a plan larger than the budget is never kept (a 20,000-Tentacle
    plan's steps are tens of megabytes)."""

    def steps(version: int, count: int) -> VersionSteps:
        rows = [{"id": str(n), "state": "ready"} for n in range(count)]
        return VersionSteps(version, rows, {}, {row["id"]: n for n, row in enumerate(rows)})

    kept = KeptSteps(budget=10)
    kept.put("a", steps(1, 4))
    kept.put("b", steps(1, 4))
    assert kept.get("a", 1) is not None  # now the most recent
    kept.put("c", steps(1, 4))  # 12 rows: b goes
    assert kept.get("b", 1) is None
    assert kept.get("a", 1) is not None and kept.get("c", 1) is not None
    kept.put("a", steps(2, 4))  # one version a plan
    assert kept.get("a", 1) is None and kept.get("a", 2) is not None
    kept.put("a", steps(1, 4))  # read by a slower request: the later version stays
    assert kept.get("a", 2) is not None
    kept.put("d", steps(1, 11))
    assert kept.get("d", 1) is None
    assert kept.get("a", 2) is not None and kept.get("c", 1) is not None


def test_kept_steps_are_dropped_when_their_time_is_up(monkeypatch):
    kept = KeptSteps(budget=10, seconds=5)
    clock = [100.0]
    monkeypatch.setattr(version_steps.time, "monotonic", lambda: clock[0])
    kept.put("a", VersionSteps(1, [{"id": "x"}], {}, {"x": 0}))
    clock[0] += 4
    assert kept.get("a", 1) is not None
    clock[0] += 2
    assert kept.get("a", 1) is None
