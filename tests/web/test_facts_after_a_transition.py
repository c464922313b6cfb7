"""The first render of a version a transition made reads again only what a transition can
change: the machines' names, the readiness findings and the inventory's environments and
roles are taken from the version before (pages.version_facts, plans.access.steps_moved), and
anything else that moves the version reads them all again."""

import random
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import a_random_change, create_plan, fleet, tentacle
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import access, services
from upgrade_planner.plans.models import Plan, Step
from upgrade_planner.web import pages

pytestmark = pytest.mark.django_db

CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')

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


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_facts_carried_through_transitions_equal_facts_read_afresh(
    client, commits, monkeypatch, seed
):
    """Any run of single and bulk transitions (starts, completions, failures, exclusions,
    reopenings): each version's facts, built on the version before (with no query for a single
    transition), are the facts read from the database alone."""
    created = create_plan(tentacles=fleet(6), target_version="2025.2.9999")
    plan_id = created.plan.pk
    url = f"/v/{created.view_token}/"
    chosen = random.Random(seed)
    built_on_the_last = carried_results(monkeypatch, "_facts_after")
    client.get(url)
    for _ in range(20):
        with commits():
            if not a_random_change(Plan.objects.get(pk=plan_id), chosen):
                continue
        client.get(url)  # the facts of this version, built on the last
        plan = Plan.objects.get(pk=plan_id)
        carried = cache.get(pages._facts_key(plan.pk, plan.version))
        assert isinstance(carried, pages.VersionFacts)
        moved = f"plan-steps-moved:{plan.pk}:{plan.version}"
        assert cache.get(moved) == plan.version - 1
        forget_note(plan)  # so that the facts are read from the database alone
        assert summary(carried) == summary(pages._read_version_facts(plan))
        cache.set(moved, plan.version - 1)
    assert any(built_on_the_last)


@pytest.mark.parametrize("a_tentacle_removed", [False, True])
def test_facts_carried_through_a_whole_upgrade_in_order_equal_facts_read_afresh(
    client, commits, monkeypatch, a_tentacle_removed
):
    """Every step started and completed in plan order, through the canary and the fleet: each
    transition moves fleets' steps (their dependents) as well as plan-wide ones, and each
    version's facts are built on the last with no query and equal the facts read afresh, also
    after a Tentacle left the inventory (its step is retired: no page counts it)."""
    created = create_plan(tentacles=fleet(6), target_version="2025.2.9999")
    plan_id = created.plan.pk
    if a_tentacle_removed:
        with commits():
            services.inventory_replace(plan=created.plan, tentacles=fleet(5))
        assert Step.objects.filter(plan_id=plan_id, retired=True).exists()
    url = f"/v/{created.view_token}/"
    carried_facts = carried_results(monkeypatch, "_facts_after")
    carried_pages = carried_results(monkeypatch, "_tentacle_rows_after_transition")
    client.get(url)
    transitions = 0
    while transitions < 40:
        plan = Plan.objects.get(pk=plan_id)
        step = Step.objects.of_plan(plan).filter(state=StepState.READY).order_by("position").first()
        if step is None:
            break
        for act in (services.step_start, services.step_complete):
            plan = Plan.objects.get(pk=plan_id)
            with commits():
                act(step_id=step.id, plan=plan, actor="Ana", confirmed=True)
            transitions += 1
            shown = client.get(url).content.decode()
            plan = Plan.objects.get(pk=plan_id)
            carried = cache.get(pages._facts_key(plan.pk, plan.version))
            forget_note(plan)
            assert summary(carried) == summary(pages._read_version_facts(plan)), step.kind
            # And the Tentacle table built on the last version's is the one read afresh.
            cache.clear()
            pages.forget_process_copies()
            fresh = Client().get(url).content.decode()
            assert tentacle_table(shown) == tentacle_table(fresh), step.kind
    assert transitions >= 30
    assert sum(carried_facts) == sum(carried_pages) == transitions


def forget_note(plan: Plan) -> None:
    """Forget that this version came by a transition, in the cache and in this process, so that
    its facts are read from the database alone."""
    cache.delete(f"plan-steps-moved:{plan.pk}:{plan.version}")
    access.forget_seen_notes()


def tentacle_table(body: str) -> str:
    table = body[body.index('id="tentacles"') :]
    return CSRF_VALUE.sub("", table[: table.index("</table>")])


def carried_results(monkeypatch, name: str) -> list[bool]:  # type: ignore[no-untyped-def]
    """Whether each call of `pages.<name>` (a builder on the last version) built anything."""
    built: list[bool] = []
    real = getattr(pages, name)

    def counted(*args):  # type: ignore[no-untyped-def]
        result = real(*args)
        built.append(result is not None)
        return result

    monkeypatch.setattr(pages, name, counted)
    return built


def summary(facts: pages.VersionFacts) -> dict[str, object]:
    return {
        "steps": [
            (step.id, step.state, step.started_at, step.finished_at, step.updated_at)
            for step in facts.steps
        ],
        "counts": facts.counts,
        "fleet_counts": facts.fleet_counts,
        "fleet_first": facts.fleet_first,
        "machine_names": facts.machine_names,
        "finishers": facts.finishers,
        "findings": [(f.pk, f.state) for f in facts.readiness.findings],
        "inhibited": facts.readiness.inhibited,
        "facets": facts.facets,
        "progress_chart": facts.progress_chart,
        "progress_points": facts.progress_points,
    }
