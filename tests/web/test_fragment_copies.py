"""Each process keeps the step cards, Tentacle rows and activity lines it used: their keys name
their content, so the first view of a new version asks the shared cache only for the ones this
process has not seen, and nothing it keeps can be stale."""

from typing import Any

import pytest
from django.core.cache import cache

from tests.factories import create_plan, fleet
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step
from upgrade_planner.web import fragments
from upgrade_planner.web.fragments import LocalFragments

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(monkeypatch):  # type: ignore[no-untyped-def]
    """The fragment keys each request asks the shared cache for."""
    calls: list[list[str]] = []
    get_many = cache.get_many

    def recording(keys: Any, *args: Any, **kwargs: Any) -> Any:
        wanted = [k for k in keys if k.startswith(("plan-fragment:", "plan-activity:"))]
        if wanted:
            calls.append(wanted)
        return get_many(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", recording)
    return calls


def ready_step(plan) -> Step:  # type: ignore[no-untyped-def]
    return Step.objects.current().filter(plan=plan, state="ready").order_by("position").first()


def test_a_view_after_a_tick_asks_the_shared_cache_only_for_what_changed(client, asked):
    created = create_plan(tentacles=fleet(3))
    page = f"/v/{created.view_token}/"
    client.get(page)
    first_view = sum(len(keys) for keys in asked)
    step = ready_step(created.plan)
    services.step_start(step_id=step.id, plan=created.plan, actor="Ana")
    asked.clear()

    body = client.get(page).content.decode()

    # Only the moved step's card and its new activity line are new to this process.
    assert first_view > 10
    assert 0 < sum(len(keys) for keys in asked) <= 4, asked
    assert "Ana" in body


def test_a_copy_is_served_even_when_the_shared_cache_lost_it(client, monkeypatch):
    created = create_plan(tentacles=fleet(2))
    page = f"/v/{created.view_token}/"
    before = client.get(page, {"page": 1}).content.decode()
    cache.clear()  # the shared cache evicted everything; this process's copies remain
    rendered: list[str] = []
    partial = fragments._partial

    def counting(name: str) -> Any:
        rendered.append(name)
        return partial(name)

    monkeypatch.setattr(fragments, "_partial", counting)
    after = client.get(page, {"page": 2}).content.decode()

    assert rendered == []  # no card, row or log line rendered again
    step = ready_step(created.plan)
    assert step.title in before and step.title in after


def test_the_copies_a_process_keeps_stay_within_their_budget():
    copies = LocalFragments(budget=100)
    copies.put_many({f"k{n}": "x" * 30 for n in range(5)})

    kept = copies.get_many([f"k{n}" for n in range(5)])

    assert set(kept) == {"k2", "k3", "k4"}  # the oldest went first
    copies.get_many(["k2"])  # used again: now the newest
    copies.put_many({"k5": "x" * 30})
    assert set(copies.get_many([f"k{n}" for n in range(6)])) == {"k2", "k4", "k5"}
