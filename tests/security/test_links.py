"""Links are the keys: read-only is read-only, rotated links stop at once, guessing is slowed."""

import json

import pytest
from django.test import Client

from tests.factories import create_plan
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Activity, PlanLink, Step

pytestmark = pytest.mark.django_db


def snapshot(plan):
    plan.refresh_from_db()
    return (
        plan.version,
        plan.approach,
        sorted(Step.objects.filter(plan=plan).values_list("id", "state", "retired")),
        Activity.objects.filter(plan=plan).count(),
        sorted(PlanLink.objects.filter(plan=plan).values_list("token_hash", "replaced_at")),
    )


def write_requests(token, step_id):
    """Every write endpoint, as (method, path, data, content_type)."""
    return [
        ("post", f"/p/{token}/steps/{step_id}/complete", {}, None),
        ("post", f"/p/{token}/steps/{step_id}/start", {}, None),
        ("post", f"/p/{token}/steps/{step_id}/skip", {"reason": "x"}, None),
        ("post", f"/p/{token}/steps/bulk", {"action": "complete", "step": [str(step_id)]}, None),
        ("post", f"/p/{token}/approach", {"approach": "in-place"}, None),
        ("post", f"/p/{token}/links/edit/rotate", {}, None),
        ("post", f"/p/{token}/links/view/rotate", {}, None),
        (
            "post",
            f"/api/v1/plans/{token}/steps/{step_id}/complete",
            json.dumps({}),
            "application/json",
        ),
    ]


def send(client, method, path, data, content_type):
    if content_type:
        return getattr(client, method)(path, data=data, content_type=content_type)
    return getattr(client, method)(path, data)


def ready(plan):
    return Step.objects.filter(plan=plan, state=StepState.READY, tentacle="").first()


def test_every_write_through_a_read_only_token_is_refused_and_changes_nothing(client):
    created = create_plan()
    step = ready(created.plan)
    before = snapshot(created.plan)

    # Edit pages (/p/) do not know a read-only token; the API names the refusal.
    for request in write_requests(created.view_token, step.id):
        response = send(client, *request)
        expected = 403 if request[1].startswith("/api/") else 404
        assert response.status_code == expected, request[1]

    assert snapshot(created.plan) == before


def test_another_plans_step_is_404_through_every_endpoint(client):
    mine = create_plan()
    other = create_plan(name="Other")
    foreign = ready(other.plan)
    before = snapshot(other.plan)

    requests = write_requests(mine.edit_token, foreign.id)
    for request in [*requests[:3], requests[-1]]:
        assert send(client, *request).status_code == 404, request[1]
    bulk = send(client, *requests[3])
    assert bulk.status_code == 302  # refused per step, reported as a message

    assert snapshot(other.plan) == before


def test_without_the_csrf_token_every_form_post_is_refused():
    created = create_plan()
    step = ready(created.plan)
    strict = Client(enforce_csrf_checks=True)
    before = snapshot(created.plan)

    for request in write_requests(created.edit_token, step.id)[:-1]:
        response = send(strict, *request)
        assert response.status_code == 403, request[1]
        assert "could not be checked" in response.content.decode()

    assert snapshot(created.plan) == before


def test_rotating_the_edit_link_stops_the_old_one_at_once(client):
    created = create_plan()

    response = client.post(f"/p/{created.edit_token}/links/edit/rotate")

    assert response.status_code == 302
    new_url = response["Location"]
    assert new_url.startswith("/p/") and created.edit_token not in new_url
    assert client.get(new_url).status_code == 200
    gone = client.get(f"/p/{created.edit_token}/")
    assert gone.status_code == 410
    assert "This link was replaced" in gone.content.decode()
    assert client.get(f"/api/v1/plans/{created.edit_token}").status_code == 410
    step = ready(created.plan)
    refused = client.post(f"/p/{created.edit_token}/steps/{step.id}/complete")
    assert refused.status_code == 410
    assert Activity.objects.filter(plan=created.plan, action="link-rotated").count() == 1


def test_rotating_the_read_only_link_keeps_the_edit_link(client):
    created = create_plan()

    client.post(f"/p/{created.edit_token}/links/view/rotate")

    page = client.get(f"/p/{created.edit_token}/").content.decode()
    assert "The read-only link was replaced" in page
    assert client.get(f"/v/{created.view_token}/").status_code == 410
    new_view = PlanLink.objects.get(plan=created.plan, kind="view", replaced_at__isnull=True)
    assert f"/v/{new_view.view_token}/" in page
    assert client.get(f"/v/{new_view.view_token}/").status_code == 200


def test_a_read_only_token_in_the_edit_path_renders_no_controls(client):
    created = create_plan()

    response = client.get(f"/p/{created.view_token}/")

    body = response.content.decode()
    assert response.status_code == 404
    assert "Mark “" not in body and "Share this plan" not in body


def test_unknown_token_lookups_are_rate_limited_per_address(client, settings):
    settings.UNKNOWN_TOKEN_LIMIT_PER_MINUTE = 5
    created = create_plan()

    statuses = [client.get(f"/p/guess-{n}/").status_code for n in range(5)]
    blocked = client.get("/p/guess-next/")
    api_blocked = client.get("/api/v1/plans/guess-api")
    # Another address is not affected, and neither are real links for anyone else.
    other = client.get("/p/guess-x/", REMOTE_ADDR="10.9.9.9")

    assert statuses == [404] * 5
    assert blocked.status_code == 429 and blocked["Retry-After"] == "60"
    assert api_blocked.status_code == 429
    assert other.status_code == 404
    assert Client(REMOTE_ADDR="10.1.1.1").get(f"/v/{created.view_token}/").status_code == 200


def test_tokens_are_long_random_and_stored_only_as_hashes():
    created = create_plan()

    assert len(created.edit_token) >= 43 and len(created.view_token) >= 43
    hashes = set(PlanLink.objects.values_list("token_hash", flat=True))
    assert created.edit_token not in hashes and created.view_token not in hashes
    dumped = json.dumps(list(PlanLink.objects.values()), default=str)
    assert created.edit_token not in dumped and created.view_token not in dumped


def test_a_replaced_link_stops_polling_at_once(client, django_capture_on_commit_callbacks):
    created = create_plan()
    version = created.plan.version
    poll = f"/v/{created.view_token}/poll"
    assert client.get(poll, {"v": version}).status_code == 304  # its version is now cached
    assert client.get(poll, {"v": 0}).status_code == 200  # and so are its sections

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/p/{created.edit_token}/links/view/rotate")

    # 286: htmx stops polling, and swaps in the notice saying why.
    for seen in (version, 0):
        stopped = client.get(poll, {"v": seen})
        assert stopped.status_code == 286
        assert "This link was replaced" in stopped.content.decode()
        assert "hx-trigger" not in stopped.content.decode()
