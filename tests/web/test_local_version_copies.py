"""Each process keeps the version facts and Tentacle pages it used (page_cache.local_values)
and hands every page a copy to dress: a view of a version this process has seen reads neither
from the shared cache, and no page's dressing reaches the copy kept or the next visitor. The
sections rendered once per version (and the printed runbook and timeline of the minute) are
kept the same way, the timeline no longer than a minute after it was worked out."""

import pickle
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step
from upgrade_planner.web import page_cache
from upgrade_planner.web import timeline as timelines
from upgrade_planner.web.pages import _facts_key

pytestmark = pytest.mark.django_db

DRESSING = ("fragment", "finisher", "waiting_for", "inhibitors", "outcome", "critical")


def kept_entries() -> dict[str, object]:
    return {
        key: value
        for key, (_, value) in page_cache.local_values._entries.items()
        if key.startswith(("plan-facts:", "plan-tentacle-page:"))
    }


def keys_read(reads: list[list[str]]) -> list[str]:
    """Every key of `cache_reads`, in order."""
    return [key for keys in reads for key in keys]


def kept_steps(value: object) -> list[Step]:
    steps = value.steps if hasattr(value, "steps") else value[0]  # type: ignore[index]
    return list(steps)


def test_a_view_of_a_version_this_process_has_seen_reads_its_facts_from_nowhere_else(
    client, cache_reads
):
    created = create_plan(tentacles=fleet(4))
    client.get(f"/p/{created.edit_token}/")
    cache_reads.clear()  # only what the next view reads
    response = Client().get(f"/v/{created.view_token}/", {"page": "7"})

    assert response.status_code == 200
    assert not [
        key
        for key in keys_read(cache_reads)
        if key.startswith(("plan-facts:", "plan-tentacle-page:", "plan-waiting:"))
    ]


def test_what_a_page_dresses_never_reaches_the_copy_kept(client):
    created = create_plan(tentacles=fleet(4))
    step = Step.objects.filter(plan=created.plan, state=StepState.READY).order_by("position")[0]
    services.step_start(plan=created.plan, step_id=step.id)
    services.step_complete(plan=created.plan, step_id=step.id, actor="Ana")
    client.get(f"/p/{created.edit_token}/")
    entries = kept_entries()
    assert len(entries) == 2
    before = {key: pickle.dumps(value) for key, value in entries.items()}

    for url in (f"/p/{created.edit_token}/", f"/v/{created.view_token}/"):
        for page in ("2", "3"):
            assert Client().get(url, {"page": page}).status_code == 200

    assert {key: pickle.dumps(value) for key, value in kept_entries().items()} == before
    for value in kept_entries().values():
        for kept in kept_steps(value):
            assert not any(name in kept.__dict__ for name in DRESSING)


def test_a_new_version_is_read_again_and_shows_its_change(client):
    created = create_plan(tentacles=fleet(4))
    url = f"/v/{created.view_token}/"
    client.get(url)
    step = Step.objects.filter(plan=created.plan, state=StepState.READY).order_by("position")[0]

    services.step_start(plan=created.plan, step_id=step.id)
    body = Client().get(url, {"page": "2"}).content.decode()

    created.plan.refresh_from_db()
    assert _facts_key(created.plan.pk, created.plan.version) in page_cache.local_values._entries
    card = body[body.index(f'id="step-{step.id}"') :][:4000]
    assert "In progress" in card or "in-progress" in card


def test_a_kept_value_lasts_no_longer_than_the_shared_cache_keeps_it(monkeypatch):
    values = page_cache.LocalValues(limit=2)
    clock = [1000.0]
    monkeypatch.setattr(page_cache.time, "monotonic", lambda: clock[0])

    values.put("a", 1, 60)
    values.put("b", 2, 60)
    clock[0] += 59
    assert (values.get("a"), values.get("b")) == (1, 2)
    values.put("c", 3, 60)  # "a" was used before "b": "a" goes
    clock[0] += 1

    assert values.get("a") is None
    assert values.get("b") is None  # 60 s old: expired with the shared cache's copy
    assert values.get("c") == 3


def test_another_view_of_a_version_this_process_has_seen_reads_no_section_from_the_cache(
    client, cache_reads
):
    created = create_plan(tentacles=fleet(4))
    client.get(f"/p/{created.edit_token}/")
    cache_reads.clear()  # only what the next view reads
    response = client.get(f"/p/{created.edit_token}/", {"page": "7"})

    assert response.status_code == 200
    read = [
        key
        for key in keys_read(cache_reads)
        if key.startswith(("plan-section:", "plan-print:", "timeline:"))
    ]
    assert read == []
    # ... and the sections served from this process's copies carry this visitor's token.
    body = response.content.decode()
    assert page_cache.PLACEHOLDER not in body


def test_a_timeline_kept_by_the_process_is_worked_out_again_a_minute_after_it_was(
    monkeypatch,
):
    created = create_plan(tentacles=fleet(2))
    first = timelines.cached_timeline(created.plan)
    assert timelines.cached_timeline(created.plan) is first  # kept here

    # The shared cache's copy was got 50 s after it was worked out: this process keeps it only
    # for the 10 s left of its minute, not for a minute from now.
    cache.delete(f"timeline:{created.plan.pk}:{created.plan.version}")
    page_cache.local_values.clear()
    worked_out = first.now
    clock = [worked_out + timedelta(seconds=50)]
    monkeypatch.setattr(timelines.timezone, "now", lambda: clock[0])
    monotonic = [1000.0]
    monkeypatch.setattr(page_cache.time, "monotonic", lambda: monotonic[0])
    cache.set(f"timeline:{created.plan.pk}:{created.plan.version}", first, 60)
    assert timelines.cached_timeline(created.plan) is not None
    monotonic[0] += 9
    kept = page_cache.local_values.get(f"timeline:{created.plan.pk}:{created.plan.version}")
    assert kept is not None
    monotonic[0] += 1
    assert page_cache.local_values.get(f"timeline:{created.plan.pk}:{created.plan.version}") is None


def test_the_first_view_after_a_tick_builds_on_this_process_copy_of_the_last_version(
    client, cache_reads, django_capture_on_commit_callbacks
):
    created = create_plan(tentacles=fleet(4))
    url = f"/v/{created.view_token}/"
    client.get(url)
    step = Step.objects.filter(plan=created.plan, state=StepState.READY).order_by("position")[0]
    with django_capture_on_commit_callbacks(execute=True):  # its note is written on commit
        services.step_start(plan=created.plan, step_id=step.id)
    cache_reads.clear()  # only what the first view after the tick reads
    body = client.get(url, {"page": "2"}).content.decode()

    created.plan.refresh_from_db()
    before = created.plan.version - 1
    # The last version's facts and Tentacle page came from this process, and the note of what
    # the transition moved was read once for both.
    last = (_facts_key(created.plan.pk, before), f"plan-tentacle-page:{created.plan.pk}:{before}:")
    asked = keys_read(cache_reads)
    assert not [key for key in asked if key.startswith(last)]
    assert len([key for key in asked if key.startswith("plan-steps-moved:")]) == 1
    card = body[body.index(f'id="step-{step.id}"') :][:4000]
    assert "In progress" in card or "in-progress" in card


def test_a_note_not_written_yet_is_looked_for_again(monkeypatch):
    from upgrade_planner.plans import access

    plan_id = "a-plan"
    assert access.moved_from(plan_id, 8) is None
    cache.set(f"plan-steps-moved:{plan_id}:8", 7, 60)  # the transition's commit wrote it now

    assert access.moved_from(plan_id, 8) == (7, None)
    cache.delete(f"plan-steps-moved:{plan_id}:8")
    assert access.moved_from(plan_id, 8) == (7, None)  # once found, kept: it cannot change
