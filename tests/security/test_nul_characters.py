"""A NUL character (\\x00) is text PostgreSQL cannot store: it is refused with a message naming
the field, or dropped where the text is only a filter or a display name, and never reaches
the database (which would answer the request with an error)."""

import json

import pytest

from tests.factories import api_body, create_plan
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Plan, Step

pytestmark = pytest.mark.django_db


def skippable(plan):
    return Step.objects.filter(plan=plan).exclude(tentacle="").order_by("position").first()


def test_a_plan_name_with_a_nul_is_refused_naming_the_field(client):
    response = client.post(
        "/api/v1/plans", api_body(name="Prod\x00Octopus"), content_type="application/json"
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"name": [services.NUL_REFUSED]}}
    assert Plan.objects.count() == 0


@pytest.mark.parametrize("field", ["actor", "reason"])
def test_an_api_step_action_with_a_nul_is_refused_naming_the_field(client, field):
    created = create_plan()
    step = skippable(created.plan)
    body = {"actor": "ana", "reason": "retired"} | {field: "bad\x00text"}

    response = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/skip",
        json.dumps(body),
        content_type="application/json",
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {field: [services.NUL_REFUSED]}}
    step.refresh_from_db()
    assert step.state != StepState.SKIPPED


def test_an_idempotency_key_with_a_control_character_is_refused(client):
    created = create_plan()
    step = skippable(created.plan)

    response = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/skip",
        json.dumps({"reason": "retired"}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key\x00one",
    )

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["errors"]


def test_a_page_reason_with_a_nul_is_refused_with_a_message(client):
    created = create_plan()
    step = skippable(created.plan)

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/skip", {"reason": "gone\x00"}, follow=True
    )

    assert response.status_code == 200
    assert "The reason: Remove the NUL character" in response.content.decode()
    step.refresh_from_db()
    assert step.state != StepState.SKIPPED


def test_a_name_with_control_characters_is_stored_without_them(client):
    created = create_plan()
    step = skippable(created.plan)

    client.post(f"/p/{created.edit_token}/actor", {"actor": "A\x00na\n"})
    client.post(f"/p/{created.edit_token}/steps/{step.id}/skip", {"reason": "retired"})

    assert Activity.objects.get(step=step, action="skip").actor == "Ana"


@pytest.mark.parametrize("field", ["environment", "role", "q"])
def test_a_filter_with_a_nul_is_read_without_it(client, field):
    created = create_plan()

    response = client.get(f"/p/{created.edit_token}/", {field: "Produc\x00tion"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("  Ana  ", "Ana"), ("A\x00na", "Ana"), ("Ana\r\nBob", "AnaBob"), ("x" * 150, "x" * 100)],
)
def test_actor_names(typed, stored):
    assert services.actor_name(typed) == stored
