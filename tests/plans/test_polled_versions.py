"""Polls, conditional GETs and cached pages of an unchanged plan are answered without the
database, and a change, a replaced link or a deleted plan is seen by the very next one
(plans.access.polled_link)."""

from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction

from tests.factories import create_plan, fleet
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans import access
from upgrade_planner.plans.models import Plan, Step, hash_token
from upgrade_planner.plans.services.locking import plan_lock

pytestmark = pytest.mark.django_db


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run each change's commit hooks, as a committed request does (a test's transaction
    never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def api(token: str) -> str:
    return f"/api/v1/plans/{token}"


def ready_step(plan: Plan) -> Step:
    return Step.objects.current().filter(plan=plan, state="ready").order_by("position").first()


def test_an_unchanged_plan_answers_a_conditional_get_without_the_database(
    client, django_assert_num_queries
):
    created = create_plan(tentacles=fleet(2))
    etag = client.get(api(created.view_token))["ETag"]
    client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag)  # the version is now cached

    with django_assert_num_queries(0):
        response = client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304 and response["ETag"] == etag


def test_a_conditional_get_right_after_a_step_change_gets_the_new_plan(client, commits):
    created = create_plan(tentacles=fleet(2))
    etag = client.get(api(created.view_token))["ETag"]
    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag).status_code == 304

    with commits():
        moved = client.post(
            f"{api(created.edit_token)}/steps/{ready_step(created.plan).id}/start",
            {"actor": "Ana"},
            content_type="application/json",
        )
    assert moved.status_code == 200

    response = client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] != etag and response.json()["version"] == created.plan.version + 1


def test_a_poll_right_after_a_step_change_gets_the_new_parts_of_the_page(client, commits):
    created = create_plan(tentacles=fleet(2))
    poll = f"/v/{created.view_token}/poll"
    version = created.plan.version
    assert client.get(poll, {"v": version}).status_code == 304

    with commits():
        client.post(f"/p/{created.edit_token}/steps/{ready_step(created.plan).id}/start")

    changed = client.get(poll, {"v": version})
    assert changed.status_code == 200 and 'id="checklist"' in changed.content.decode()


def test_a_process_that_remembers_a_link_reads_each_new_version_from_the_database(
    client, django_assert_num_queries
):
    """A version cached by another process (here: written straight into the cache) that is
    not the one this process last read the link at is checked against the database."""
    created = create_plan()
    etag = client.get(api(created.view_token))["ETag"]
    client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag)
    cache.set(f"plan-version:{created.plan.pk}", created.plan.version + 5, 60)

    with django_assert_num_queries(1):
        response = client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304  # the database still says the remembered version


def test_a_replaced_link_stops_answering_conditional_gets_and_polls_at_once(client, commits):
    created = create_plan()
    etag = client.get(api(created.view_token))["ETag"]
    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert (
        client.get(f"/v/{created.view_token}/poll", {"v": created.plan.version}).status_code == 304
    )

    with commits():
        client.post(f"/p/{created.edit_token}/links/view/rotate")

    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag).status_code == 410
    stopped = client.get(f"/v/{created.view_token}/poll", {"v": created.plan.version + 1})
    assert stopped.status_code == 286 and "This link was replaced" in stopped.content.decode()


def test_a_deleted_plan_stops_answering_conditional_gets_at_once(client, commits):
    created = create_plan()
    etag = client.get(api(created.view_token))["ETag"]
    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag).status_code == 304

    with commits():
        Installation.objects.filter(pk=created.plan.installation_id).get().delete()

    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag).status_code == 404
    assert (
        client.get(f"/v/{created.view_token}/poll", {"v": created.plan.version}).status_code == 404
    )


def test_a_conditional_get_reads_the_database_while_the_cache_is_down(client, monkeypatch):
    created = create_plan()
    etag = client.get(api(created.view_token))["ETag"]

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    for method in ("get", "set", "delete"):
        monkeypatch.setattr(cache, method, down)
    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get(api(created.view_token), HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_the_links_a_process_remembers_are_bounded(monkeypatch):
    monkeypatch.setattr(access, "REMEMBERED_LINKS_LIMIT", 3)
    monkeypatch.setattr(access, "_remembered", {})
    tokens = [create_plan(name=f"Plan {n}").view_token for n in range(5)]

    for token in tokens:
        access.polled_link(token)

    assert len(access._remembered) == 3
    # The newest are kept; the oldest went first.
    assert set(access._remembered) == {hash_token(token) for token in tokens[2:]}


def test_a_version_cached_by_a_read_during_a_change_is_cleared_when_the_change_commits(
    django_capture_on_commit_callbacks,
):
    created = create_plan()
    key = f"plan-version:{created.plan.pk}"

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        plan_lock(plan=created.plan)
        # A read that found the version from before the change, and cached it.
        cache.set(key, created.plan.version - 1, 60)

    assert cache.get(key) is None


def test_a_cached_page_is_served_without_a_query(client, django_assert_num_queries):
    created = create_plan(tentacles=fleet(2))
    page = f"/v/{created.view_token}/"
    first = client.get(page).content.decode()

    with django_assert_num_queries(0):
        again = client.get(page).content.decode()

    assert again.count('class="step') == first.count('class="step') > 0


def test_a_cached_page_of_a_replaced_link_is_refused_at_once(client, commits):
    created = create_plan()
    assert client.get(f"/p/{created.edit_token}/").status_code == 200  # cached now

    with commits():
        client.post(f"/p/{created.edit_token}/links/edit/rotate")

    gone = client.get(f"/p/{created.edit_token}/")
    assert gone.status_code == 410 and "This link was replaced" in gone.content.decode()
