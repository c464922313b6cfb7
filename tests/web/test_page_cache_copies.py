"""A cached plan page is kept as pieces around its CSRF token, and each process keeps a copy
of the pages it served; the shared cache still decides whether a copy may be served."""

import re

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import create_plan, fleet
from upgrade_planner.plans.models import Plan
from upgrade_planner.web import page_cache
from upgrade_planner.web.page_cache import LocalPages

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _no_copies_from_other_tests():  # type: ignore[no-untyped-def]
    page_cache.local_pages.clear()
    yield
    page_cache.local_pages.clear()


def page_keys() -> list[str]:
    """The keys of the pages this process has stored (each test starts with none), whichever
    cache backend the tests run on."""
    return page_cache.local_pages.keys()


def rename_behind_the_caches_back(plan: Plan, name: str) -> None:
    """A change that does not move the plan's version: only a cache miss can show it, in a
    process that has not kept this version's link and plan (as this one now has not)."""
    Plan.objects.filter(pk=plan.pk).update(name=name)
    page_cache.local_values.clear()


def test_a_copy_is_served_only_while_the_shared_cache_holds_its_stamp(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    client.get(url)
    rename_behind_the_caches_back(created.plan, "Renamed quietly")

    # Served from this process's copy (the proof that this test can see a stale page).
    cached = client.get(url).content.decode()
    assert "Renamed quietly" not in cached

    # Once the shared cache forgets the page (expiry, eviction, a clear), no process serves it.
    cache.clear()
    assert "Renamed quietly" in client.get(url).content.decode()


def test_a_copy_under_another_stamp_is_not_served(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    client.get(url)
    (key,) = page_keys()
    rename_behind_the_caches_back(created.plan, "Stored again elsewhere")
    # The entry expired and another process rendered and stored the page again: a new
    # stamp, a new body; this process still has its copy under the old stamp.
    old_stamp, old_pieces = page_cache.local_pages.entry(key)  # type: ignore[misc]
    cache.delete_many([key, key + page_cache.BODY_SUFFIX])
    Client().get(url)
    newer = page_cache.local_pages.entry(key)
    assert newer is not None
    assert newer[0] != old_stamp
    page_cache.local_pages.put(key, old_stamp, old_pieces)

    served = client.get(url).content.decode()
    assert "Stored again elsewhere" in served
    assert page_cache.local_pages.get(key, newer[0]) is not None  # the shared body, kept


def test_a_transition_shows_at_once_on_a_page_served_from_copies(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    first = client.get(url).content.decode()
    client.get(url)
    assert page_cache.local_pages.keys()

    token = TOKEN.search(first).group(1)  # type: ignore[union-attr]
    step = created.plan.steps.filter(state="ready").order_by("position").first()
    client.post(f"{url}steps/{step.id}/complete", {"csrfmiddlewaretoken": token})

    after = client.get(url).content.decode()
    assert after.count('class="badge state-done"') > first.count('class="badge state-done"')


def test_each_visitor_gets_its_own_token_in_every_place_of_a_cached_page(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    first = client.get(url).content.decode()
    pages = [Client().get(url).content.decode() for _ in range(2)]

    tokens = [TOKEN.search(page).group(1) for page in [first, *pages]]  # type: ignore[union-attr]
    assert len(set(tokens)) == 3
    for page, token in zip([first, *pages], tokens, strict=True):
        assert page_cache.PLACEHOLDER not in page
        assert set(TOKEN.findall(page)) == {token}
    # The same page but for the token, wherever it stands (forms and htmx headers).
    visited = zip([first, *pages], tokens, strict=True)
    assert len({page.replace(token, "") for page, token in visited}) == 1


def test_a_cache_outage_renders_the_page(client, monkeypatch):
    created = create_plan(tentacles=fleet(2))
    url = f"/p/{created.edit_token}/"
    client.get(url)

    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", down)
    monkeypatch.setattr(cache, "set_many", down)
    rename_behind_the_caches_back(created.plan, "Rendered without the cache")
    response = client.get(url)
    assert response.status_code == 200
    assert "Rendered without the cache" in response.content.decode()


def test_the_copies_stay_within_their_budget():
    pages = LocalPages(budget=100, entry_limit=60)
    pages.put("a", "s", (b"x" * 40,))
    pages.put("b", "s", (b"x" * 40,))
    assert pages.get("a", "s") is not None  # now the most recently used
    pages.put("c", "s", (b"x" * 40,))
    assert pages.get("b", "s") is None and pages.get("a", "s") and pages.get("c", "s")
    pages.put("big", "s", (b"x" * 61,))
    assert pages.get("big", "s") is None
    assert pages.get("a", "t") is None  # another stamp is another page


def test_a_cached_page_costs_one_cache_read_in_a_process_that_knows_its_link(client, cache_reads):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    first = client.get(url).content.decode()
    client.get(url)  # this process now knows the link, its version, and has a copy of the page
    cache_reads.clear()  # only what the next visitor's view reads

    served = Client().get(url).content.decode()  # a new visitor

    page_reads = [
        keys for keys in cache_reads if not any(k.startswith("django.contrib") for k in keys)
    ]
    assert len(page_reads) == 1, page_reads
    assert page_reads[0][0].startswith("plan-version:")
    mine, theirs = (TOKEN.search(page).group(1) for page in (served, first))  # type: ignore[union-attr]
    assert served.replace(mine, "") == first.replace(theirs, "")


def test_a_page_of_an_older_version_is_not_served_by_the_one_read(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    client.get(url)
    client.get(url)
    rename_behind_the_caches_back(created.plan, "Renamed with a new version")
    Plan.objects.filter(pk=created.plan.pk).update(version=created.plan.version + 1)
    cache.delete(f"plan-version:{created.plan.pk}")  # as a commit that moves the version does

    assert "Renamed with a new version" in client.get(url).content.decode()
