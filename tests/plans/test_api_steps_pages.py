"""GET /api/v1/plans/<token>?page=N&page_size=M: a very large plan read a page of steps at a
time. The pages, read one after another, hold exactly the whole document's steps; everything
else is the whole document's, but for the Tentacles listed, which are those of the page's steps.
Without `page` or `page_size` the document is the whole one (product.md §5.2)."""

import datetime
import json
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.test.utils import CaptureQueriesContext
from pydantic import TypeAdapter

from tests.factories import create_plan, fleet
from tests.plans.test_api_document_cache import NOON, REFUSED, at, busy_plan
from upgrade_planner.api import schemas
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.documents import (
    STEPS_PAGE_LAST,
    STEPS_PAGE_MAX,
    STEPS_PAGE_SIZE,
    plan_document,
)
from upgrade_planner.plans.forecasts import schedule_keys
from upgrade_planner.plans.models import Plan, Step

pytestmark = pytest.mark.django_db

PAGE_ONLY = {"steps_page", "steps", "instance"}


def whole(plan_id, *, can_edit):
    plan = Plan.objects.select_related("installation").get(pk=plan_id)
    return json.loads(JsonResponse(plan_document(plan, can_edit=can_edit)).content)


def every_page(client, path, size):
    pages = []
    number = 1
    while True:
        response = client.get(path, {"page": number, "page_size": size})
        assert response.status_code == 200, response.content
        pages.append(response.json())
        if number >= response.json()["steps_page"]["pages"]:
            return pages
        number += 1


@pytest.mark.parametrize(("token_kind", "can_edit"), [("edit_token", True), ("view_token", False)])
def test_the_pages_together_are_the_whole_documents_steps_in_order(client, token_kind, can_edit):
    created = busy_plan()
    path = f"/api/v1/plans/{getattr(created, token_kind)}"
    with at(NOON):
        full = whole(created.plan.pk, can_edit=can_edit)
        pages = every_page(client, path, 7)

    assert [step for page in pages for step in page["steps"]] == full["steps"]
    assert len(pages) == -(-len(full["steps"]) // 7) > 1
    for number, page in enumerate(pages, start=1):
        assert page["steps_page"] == {
            "number": number,
            "size": 7,
            "pages": len(pages),
            "steps_total": len(full["steps"]),
        }
        # Everything else is the whole plan's, progress and forecast included.
        assert {k: v for k, v in page.items() if k not in PAGE_ONLY} == {
            k: v for k, v in full.items() if k not in PAGE_ONLY
        }
        names = {step["tentacle"] for step in page["steps"]}
        assert page["instance"]["tentacles"] == [
            row for row in full["instance"]["tentacles"] if row["name"] in names
        ]
        assert {k: v for k, v in page["instance"].items() if k != "tentacles"} == {
            k: v for k, v in full["instance"].items() if k != "tentacles"
        }


def test_a_page_validates_against_the_published_schema(client):
    created = busy_plan()
    response = client.get(f"/api/v1/plans/{created.view_token}", {"page": 2, "page_size": 5})

    document = TypeAdapter(schemas.PlanOut).validate_json(response.content, strict=True)
    assert document.steps_page is not None and document.steps_page.number == 2
    assert len(document.steps) == 5


def test_without_page_or_page_size_the_document_is_the_whole_plan(client):
    created = busy_plan()
    with at(NOON):
        response = client.get(f"/api/v1/plans/{created.edit_token}")
        full = whole(created.plan.pk, can_edit=True)

    assert response.json() == full
    assert "steps_page" not in response.json()


def test_page_alone_takes_the_default_size_and_page_size_alone_the_first_page(client):
    created = create_plan(tentacles=fleet(4))
    path = f"/api/v1/plans/{created.edit_token}"

    by_number = client.get(path, {"page": 1}).json()["steps_page"]
    by_size = client.get(path, {"page_size": 3}).json()["steps_page"]

    assert (by_number["number"], by_number["size"]) == (1, STEPS_PAGE_SIZE)
    assert (by_size["number"], by_size["size"]) == (1, 3)


@pytest.mark.parametrize("page", [99, STEPS_PAGE_LAST])
def test_a_page_past_the_last_is_empty_and_says_how_many_pages_there_are(client, page):
    created = create_plan(tentacles=fleet(4))
    total = Step.objects.of_plan(created.plan).count()

    response = client.get(
        f"/api/v1/plans/{created.edit_token}", {"page": page, "page_size": STEPS_PAGE_MAX}
    )

    assert response.status_code == 200
    assert response.json()["steps"] == []
    assert response.json()["instance"]["tentacles"] == []
    assert response.json()["steps_page"]["pages"] == -(-total // STEPS_PAGE_MAX) == 1
    assert response.json()["progress"]["total"] == total


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"page": "0"}, "page", "Must be at least 1."),
        ({"page": "-3"}, "page", "Must be at least 1."),
        ({"page": "two"}, "page", "Enter a whole number."),
        ({"page": "1.5"}, "page", "Enter a whole number."),
        ({"page": str(STEPS_PAGE_LAST + 1)}, "page", f"Must be at most {STEPS_PAGE_LAST}."),
        ({"page": "1" + "0" * 20}, "page", f"Must be at most {STEPS_PAGE_LAST}."),
        ({"page_size": "0"}, "page_size", "Must be at least 1."),
        ({"page_size": str(STEPS_PAGE_MAX + 1)}, "page_size", f"Must be at most {STEPS_PAGE_MAX}."),
        ({"page_size": "all"}, "page_size", "Enter a whole number."),
    ],
)
def test_a_bad_page_is_refused_naming_the_parameter(client, query, field, message):
    created = create_plan()

    response = client.get(f"/api/v1/plans/{created.edit_token}", query)

    assert response.status_code == 422
    assert response.json() == {"errors": {field: [message]}}


def test_a_read_only_link_never_gets_what_only_the_edit_link_may_see(client):
    created = busy_plan()
    probed = Step.objects.get(plan=created.plan, kind="upgrade-tentacle", tentacle="web-0001")
    position = list(
        Step.objects.of_plan(created.plan).order_by("position").values_list("id", flat=True)
    ).index(probed.id)
    query = {"page": position // 5 + 1, "page_size": 5}

    by_edit = client.get(f"/api/v1/plans/{created.edit_token}", query).content.decode()
    by_view = client.get(f"/api/v1/plans/{created.view_token}", query).content.decode()
    by_view_again = client.get(f"/api/v1/plans/{created.view_token}", query).content.decode()

    assert REFUSED in by_edit
    for body in (by_view, by_view_again):
        assert "Errno 111" not in body
        assert "Its Tentacle port did not accept a connection." in body


def test_the_page_read_after_a_transition_shows_the_new_state_and_a_new_etag(client):
    created = busy_plan()
    path = f"/api/v1/plans/{created.view_token}"
    step = Step.objects.filter(plan=created.plan, state=StepState.IN_PROGRESS).get()
    position = list(
        Step.objects.of_plan(created.plan).order_by("position").values_list("id", flat=True)
    ).index(step.id)
    query = {"page": position // 4 + 1, "page_size": 4}
    before = client.get(path, query)
    client.get(path, query)  # now from the cache

    moved = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/complete",
        data=json.dumps({}),
        content_type="application/json",
    )
    after = client.get(path, query)

    assert moved.status_code == 200
    assert after["ETag"] != before["ETag"]
    read = next(s for s in after.json()["steps"] if s["id"] == str(step.id))
    assert read["state"] == "done"
    assert after.json()["progress"]["done"] == before.json()["progress"]["done"] + 1
    assert client.get(path, query, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 200
    assert client.get(path, query, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304


def test_a_pages_forecast_is_the_whole_plans_of_that_minute(client):
    created = busy_plan()
    path = f"/api/v1/plans/{created.edit_token}"
    later = NOON + datetime.timedelta(minutes=90)
    with at(NOON):
        first = client.get(path, {"page": 1}).json()["schedule"]
    with at(later):
        again = client.get(path, {"page": 1}).json()["schedule"]
        full = whole(created.plan.pk, can_edit=True)["schedule"]

    assert first["computed_at"] == "2026-05-02T12:00:00Z"
    assert again == full
    assert again["computed_at"] == "2026-05-02T13:30:00Z"


def test_with_the_cache_down_a_page_is_built_from_the_database(client):
    created = busy_plan()
    path = f"/api/v1/plans/{created.edit_token}"
    with at(NOON):
        expected = client.get(path, {"page": 2, "page_size": 6}).content
        cache.clear()
        with (
            mock.patch.object(cache, "get_many", side_effect=ConnectionError("cache down")),
            mock.patch.object(cache, "get", side_effect=ConnectionError("cache down")),
            mock.patch.object(cache, "set", side_effect=ConnectionError("cache down")),
        ):
            response = client.get(path, {"page": 2, "page_size": 6})

    assert response.status_code == 200
    assert response.content == expected


def page_read_queries(client, tentacles):
    """The statements of a first and a second read of the page holding the first per-Tentacle
    step of a plan of `tentacles` Tentacles."""
    created = create_plan(tentacles=fleet(tentacles))
    ids = list(
        Step.objects.of_plan(created.plan).order_by("position").values_list("id", "tentacle")
    )
    position = next(i for i, (_, tentacle) in enumerate(ids) if tentacle)
    path = f"/api/v1/plans/{created.view_token}"
    query = {"page": position // 8 + 1, "page_size": 8}
    with CaptureQueriesContext(connection) as first_read:
        first = client.get(path, query)
    with CaptureQueriesContext(connection) as second_read:
        again = client.get(path, query)
    assert first.status_code == 200
    assert first.content == again.content
    assert any(step["tentacle"] for step in first.json()["steps"])
    assert first.json()["instance"]["tentacles"]
    return len(first_read), len(second_read)


def test_a_pages_queries_do_not_grow_with_the_plan(client):
    small = page_read_queries(client, 10)
    large = page_read_queries(client, 400)

    assert small == large
    # A page read before: the link, then the page and its forecast from the cache.
    assert large[1] == 1
    # The link; the plan; step counts, the page, its prerequisites, its Tentacles; the
    # findings and their guards; the forecast's steps and dependencies.
    assert large[0] <= 10


def test_while_one_reader_makes_this_minutes_forecast_the_others_get_the_last_minutes(
    client, django_assert_num_queries
):
    """A 20,000-Tentacle plan's forecast takes a worker a good part of a second: its readers
    must not all make it at once when the minute turns."""
    created = busy_plan()
    plan = created.plan
    path = f"/api/v1/plans/{created.edit_token}"
    query = {"page": 1, "page_size": 5}
    with at(NOON):
        client.get(path, query)
    next_minute = NOON + datetime.timedelta(seconds=75)
    current, _ = schedule_keys(plan.pk, plan.version, now=next_minute)
    assert cache.add(f"{current}:making", True)  # another reader is making it

    with at(next_minute), django_assert_num_queries(1):  # the link; nothing for the forecast
        meanwhile = client.get(path, query).json()["schedule"]
    cache.delete(f"{current}:making")
    with at(next_minute + datetime.timedelta(seconds=1)):
        made = client.get(path, query).json()["schedule"]  # made now, then kept
    with at(next_minute + datetime.timedelta(seconds=2)), django_assert_num_queries(1):
        kept = client.get(path, query).json()["schedule"]

    assert meanwhile["computed_at"] == "2026-05-02T12:00:00Z"
    assert made["computed_at"] == kept["computed_at"] == "2026-05-02T12:01:16Z"


def test_a_forecast_two_minutes_old_is_never_served(client):
    created = busy_plan()
    plan = created.plan
    path = f"/api/v1/plans/{created.edit_token}"
    with at(NOON):
        client.get(path, {"page": 1})
    later = NOON + datetime.timedelta(minutes=2)
    current, _ = schedule_keys(plan.pk, plan.version, now=later)
    cache.add(f"{current}:making", True)

    with at(later):
        schedule = client.get(path, {"page": 1}).json()["schedule"]

    assert schedule["computed_at"] == "2026-05-02T12:02:00Z"
