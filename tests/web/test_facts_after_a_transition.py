"""The first render of a version a transition made reads again only what a transition can
change: the machines' names, the readiness findings and the inventory's environments and
roles are taken from the version before (pages.version_facts, plans.access.steps_moved), and
anything else that moves the version reads them all again."""

import random

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Plan, Step
from upgrade_planner.web import pages

pytestmark = pytest.mark.django_db

# What only the version's unchanged facts need.
UNCHANGED_BY_TRANSITIONS = {
    "findings": '"plans_finding"',
    "environments and roles": 'DISTINCT "installations_tentacle"."environments"',
    "machine names": "ROW_NUMBER()",
}


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run each change's commit hooks, as a committed request does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def read_on_render(client, url: str) -> set[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    sql = "\n".join(query["sql"] for query in captured.captured_queries)
    return {name for name, marker in UNCHANGED_BY_TRANSITIONS.items() if marker in sql}


def a_ready_step(plan: Plan, **filters) -> Step:  # type: ignore[no-untyped-def]
    return Step.objects.of_plan(plan).filter(state=StepState.READY, **filters).first()


def test_the_first_view_after_a_transition_reads_no_finding_tentacle_or_machine_name(
    client, commits
):
    created = create_plan(
        tentacles=(tentacle("web-01", environments=["Production"]), *fleet(3)),
        target_version="2025.2.9999",
    )
    url = f"/v/{created.view_token}/"
    assert read_on_render(client, url) == set(UNCHANGED_BY_TRANSITIONS)  # the first version

    with commits():
        services.step_start(step_id=a_ready_step(created.plan).id, plan=created.plan, actor="Ana")

    assert read_on_render(client, url) == set()
    page = client.get(url).content.decode()
    assert "Production" in page and "web-01" in page


def test_after_an_inventory_change_the_first_view_reads_everything_again(client, commits):
    created = create_plan(tentacles=fleet(2))
    url = f"/v/{created.view_token}/"
    client.get(url)

    with commits():
        services.inventory_replace(
            plan=created.plan,
            tentacles=(*fleet(2), tentacle("db-07", environments=["Staging"])),
        )

    assert read_on_render(client, url) == set(UNCHANGED_BY_TRANSITIONS)
    page = client.get(url).content.decode()
    assert "Staging" in page and "db-07" in page


def test_a_refused_transition_notes_nothing(client, commits):
    created = create_plan(tentacles=fleet(2))
    blocked = Step.objects.of_plan(created.plan).filter(state=StepState.BLOCKED).first()
    client.get(f"/v/{created.view_token}/")

    with commits(), pytest.raises(services.StepBlocked):
        services.step_start(step_id=blocked.id, plan=created.plan, actor="Ana")

    plan = Plan.objects.get(pk=created.plan.pk)
    assert cache.get(f"plan-steps-moved:{plan.pk}:{plan.version}") is None


def test_facts_carried_through_transitions_equal_facts_read_afresh(client, commits):
    """Any run of single and bulk transitions: each version's facts, built on the version
    before, are the facts read from the database alone."""
    created = create_plan(tentacles=fleet(6), target_version="2025.2.9999")
    plan_id = created.plan.pk
    url = f"/v/{created.view_token}/"
    chosen = random.Random(7)
    client.get(url)
    for _ in range(12):
        plan = Plan.objects.get(pk=plan_id)
        ready = list(Step.objects.of_plan(plan).filter(state=StepState.READY))
        started = list(Step.objects.of_plan(plan).filter(state=StepState.IN_PROGRESS))
        with commits():
            if started and chosen.random() < 0.5:
                services.step_complete(
                    step_id=chosen.choice(started).id, plan=plan, actor="Ana", confirmed=True
                )
            elif ready and chosen.random() < 0.7:
                services.step_start(step_id=chosen.choice(ready).id, plan=plan, actor="Ana")
            else:
                services.steps_bulk(
                    plan=plan, action="start", tentacles_matching={"state": "ready"}, actor="Bo"
                )
        client.get(url)  # the facts of this version, built on the last
        plan = Plan.objects.get(pk=plan_id)
        carried = cache.get(f"plan-facts:{plan.pk}:{plan.version}")
        assert isinstance(carried, pages.VersionFacts)
        moved = f"plan-steps-moved:{plan.pk}:{plan.version}"
        assert cache.get(moved) == plan.version - 1
        cache.delete(moved)  # so that the facts are read from the database alone
        assert summary(carried) == summary(pages._read_version_facts(plan))
        cache.set(moved, plan.version - 1)


def summary(facts: pages.VersionFacts) -> dict[str, object]:
    return {
        "steps": [(step.id, step.state) for step in facts.steps],
        "counts": facts.counts,
        "fleet_counts": facts.fleet_counts,
        "fleet_first": facts.fleet_first,
        "machine_names": facts.machine_names,
        "finishers": facts.finishers,
        "findings": [(f.pk, f.state) for f in facts.readiness.findings],
        "inhibited": facts.readiness.inhibited,
        "facets": facts.facets,
        "progress_chart": facts.progress_chart,
    }
