"""GET /api/v1/plans/<token> keeps the encoded document per plan version and kind of link: the
answer is the document as it would be built now, never an older version's, never what the
other kind of link may see, and its forecast moves with the clock."""

import datetime
import json
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import transaction
from django.http import JsonResponse

from tests.factories import create_plan, finish_prerequisites, fleet
from upgrade_planner.domain.evidence import StepVerdict
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.documents import plan_document
from upgrade_planner.plans.models import Plan, Step

pytestmark = pytest.mark.django_db

NOON = datetime.datetime(2026, 5, 2, 12, 0, tzinfo=datetime.UTC)
REFUSED = "web-0001.corp:10933 did not accept a connection ([Errno 111] Connection refused)"


def at(moment):
    """The clock stopped at `moment` for whatever reads it (the forecast's "now")."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def busy_plan():
    """A plan with what the document shows differently per link or per minute: a port probe's
    finding (read-only links see its outcome only), a window and a step under way."""
    created = create_plan(tentacles=fleet(4))
    plan = created.plan
    services.schedule_set(plan=plan, window_start=NOON + datetime.timedelta(hours=8))
    probed = Step.objects.get(plan=plan, kind="upgrade-tentacle", tentacle="web-0001")
    with transaction.atomic():
        services.evidence_record(
            plan=plan,
            check="tentacle-ports",
            verdicts=[StepVerdict(probed.id, False, REFUSED)],
        )
    first = Step.objects.filter(plan=plan, state=StepState.READY).order_by("position").first()
    services.step_start(plan=plan, step_id=first.id)
    return created


def built_now(plan_id, *, can_edit):
    """What the document is, built from the database without the cache."""
    plan = Plan.objects.select_related("installation").get(pk=plan_id)
    return JsonResponse(plan_document(plan, can_edit=can_edit)).content


@pytest.mark.parametrize(("token_kind", "can_edit"), [("edit_token", True), ("view_token", False)])
def test_a_cached_document_is_byte_for_byte_the_one_built_now(client, token_kind, can_edit):
    created = busy_plan()
    path = f"/api/v1/plans/{getattr(created, token_kind)}"
    with at(NOON):
        first = client.get(path)
        cached = client.get(path)
        fresh = built_now(created.plan.pk, can_edit=can_edit)

    assert first.status_code == cached.status_code == 200
    assert first.content == cached.content == fresh
    assert first["ETag"] == cached["ETag"]
    assert first["Content-Type"] == "application/json"


def test_a_read_only_link_never_gets_the_edit_links_document(client):
    created = busy_plan()

    by_edit = client.get(f"/api/v1/plans/{created.edit_token}")
    by_view = client.get(f"/api/v1/plans/{created.view_token}")
    by_view_again = client.get(f"/api/v1/plans/{created.view_token}")

    assert REFUSED in by_edit.content.decode()
    for response in (by_view, by_view_again):
        assert "Errno 111" not in response.content.decode()
        assert "Its Tentacle port did not accept a connection." in response.content.decode()


@pytest.mark.parametrize("token_kind", ["edit_token", "view_token"])
def test_the_read_after_a_transition_shows_the_new_state_and_a_new_etag(client, token_kind):
    created = busy_plan()
    path = f"/api/v1/plans/{getattr(created, token_kind)}"
    before = client.get(path)
    client.get(path)  # now from the cache
    step = Step.objects.filter(plan=created.plan, state=StepState.IN_PROGRESS).get()

    moved = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/complete",
        data=json.dumps({}),
        content_type="application/json",
    )
    after = client.get(path)

    assert moved.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert after.json()["version"] == before.json()["version"] + 1
    read = next(s for s in after.json()["steps"] if s["id"] == str(step.id))
    assert read["state"] == "done"
    assert after.json()["progress"]["done"] == before.json()["progress"]["done"] + 1
    # And a conditional GET with the old ETag is not answered 304.
    assert client.get(path, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 200


def test_every_change_of_the_plan_is_seen_by_the_next_read(client):
    """Not only transitions: any service that moves the version (here the schedule)."""
    created = busy_plan()
    path = f"/api/v1/plans/{created.edit_token}"
    client.get(path)
    client.get(path)

    services.schedule_set(plan=created.plan, people_at_once=5)
    after = client.get(path)

    assert after.json()["schedule"]["people_at_once"] == 5


def test_a_cached_documents_forecast_is_made_at_each_read(client):
    created = busy_plan()
    path = f"/api/v1/plans/{created.edit_token}"
    with at(NOON):
        first = client.get(path).json()["schedule"]
    later = NOON + datetime.timedelta(minutes=90)
    with at(later):
        cached = client.get(path)
        fresh = built_now(created.plan.pk, can_edit=True)

    schedule = cached.json()["schedule"]
    assert schedule["computed_at"] == "2026-05-02T13:30:00Z" != first["computed_at"]
    assert schedule == json.loads(fresh)["schedule"]
    assert cached.content == fresh


def test_with_the_cache_down_the_document_is_built_from_the_database(client):
    created = busy_plan()
    path = f"/api/v1/plans/{created.edit_token}"
    with at(NOON):
        expected = built_now(created.plan.pk, can_edit=True)
        with (
            mock.patch.object(cache, "get", side_effect=ConnectionError("cache down")),
            mock.patch.object(cache, "set", side_effect=ConnectionError("cache down")),
        ):
            response = client.get(path)

    assert response.status_code == 200
    assert response.content == expected


def test_a_plan_deleted_after_its_link_was_looked_up_is_404(client):
    created = create_plan()
    deleted_meanwhile = mock.patch(
        "upgrade_planner.plans.documents.Plan.objects.select_related",
        side_effect=Plan.DoesNotExist,
    )

    with deleted_meanwhile:
        response = client.get(f"/api/v1/plans/{created.edit_token}")

    assert response.status_code == 404
    assert response.json()["error"] == "not-found"


@pytest.mark.parametrize("tentacles", [10, 400])
def test_a_version_read_before_costs_one_query_whatever_the_plan_size(
    client, django_assert_num_queries, tentacles
):
    created = create_plan(tentacles=fleet(tentacles))
    finish_prerequisites(created.plan, Step.objects.filter(plan=created.plan).last())
    client.get(f"/api/v1/plans/{created.view_token}")

    # The link (with the plan's version): the document comes from the cache.
    with django_assert_num_queries(1):
        response = client.get(f"/api/v1/plans/{created.view_token}")

    assert response.status_code == 200
    assert len(response.json()["instance"]["tentacles"]) == tentacles
