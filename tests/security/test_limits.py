"""Every free text people send has a limit the server enforces, whatever the browser does: a
reason or a name over it is refused with a message naming the field, and nothing is stored.

The limits are in one place (plans/services/text.py): reasons 500 characters, names the width
of the activity log's column (100)."""

import json

import pytest

from tests.factories import create_plan
from tests.sync.helpers import inventory_of
from upgrade_planner.domain.inventory import to_csv
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, IdempotencyRecord, Plan, Step
from upgrade_planner.plans.services.text import ACTOR_MAX, REASON_MAX
from upgrade_planner.plans.services.transitions import ActorInvalid

pytestmark = pytest.mark.django_db

FIVE_MB = 5_000_000
REASON_TOO_LONG = "The reason is too long: at most 500 characters (it has 5,000,000)."


def skippable(plan: Plan) -> Step:
    return Step.objects.filter(plan=plan).exclude(tentacle="").order_by("position").first()


def ready(plan: Plan) -> Step:
    return Step.objects.filter(plan=plan, state=StepState.READY).order_by("position").first()


def assert_nothing_stored(plan: Plan, step: Step) -> None:
    before = step.state
    step.refresh_from_db()
    assert step.state == before
    assert not Activity.objects.filter(step=step).exists()
    assert Plan.objects.get(pk=plan.pk).version == plan.version


def test_the_limits_are_the_activity_logs_column_and_the_forms_reason_length():
    from upgrade_planner.plans import forms

    assert Activity._meta.get_field("actor").max_length == ACTOR_MAX == 100
    assert forms.REASON_MAX == REASON_MAX == 500


# --- The page --------------------------------------------------------------------------------


def test_a_5_mb_reason_on_the_page_is_refused_with_a_message_and_nothing_is_stored(client):
    created = create_plan()
    step = skippable(created.plan)

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/skip", {"reason": "x" * FIVE_MB}, follow=True
    )

    assert response.status_code == 200
    assert "The reason is too long: at most 500 characters" in response.content.decode()
    assert_nothing_stored(created.plan, step)


# --- The API ---------------------------------------------------------------------------------


def post_action(client, token: str, step: Step, action: str, body: dict[str, str]):
    return client.post(
        f"/api/v1/plans/{token}/steps/{step.id}/{action}",
        json.dumps(body),
        content_type="application/json",
    )


def test_a_5_mb_reason_through_the_api_is_refused_naming_the_field(client):
    created = create_plan()
    step = skippable(created.plan)

    response = post_action(client, created.edit_token, step, "skip", {"reason": "x" * FIVE_MB})

    assert response.status_code == 422
    assert response.json() == {"errors": {"reason": [REASON_TOO_LONG]}}
    assert_nothing_stored(created.plan, step)


def test_a_5_mb_reason_with_an_idempotency_key_is_refused_and_no_answer_is_kept(client):
    created = create_plan()
    step = skippable(created.plan)

    response = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/skip",
        json.dumps({"reason": "x" * FIVE_MB}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )

    assert response.status_code == 422
    assert response.json() == {"errors": {"reason": [REASON_TOO_LONG]}}
    assert_nothing_stored(created.plan, step)
    assert not IdempotencyRecord.objects.filter(plan=created.plan).exists()


def test_an_api_actor_over_100_characters_is_refused_naming_the_field(client):
    created = create_plan()
    step = skippable(created.plan)

    response = post_action(
        client, created.edit_token, step, "skip", {"actor": "A" * 101, "reason": "retired"}
    )

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"actor": ["The name is too long: at most 100 characters (it has 101)."]}
    }
    assert_nothing_stored(created.plan, step)


def test_a_reason_and_a_name_at_the_limits_are_accepted_and_stored_whole(client):
    created = create_plan()
    step = skippable(created.plan)

    response = post_action(
        client, created.edit_token, step, "skip", {"actor": "A" * 100, "reason": "r" * 500}
    )

    assert response.status_code == 200
    activity = Activity.objects.get(step=step, action="skip")
    assert (activity.actor, activity.reason) == ("A" * 100, "r" * 500)


@pytest.mark.parametrize("where", ["query", "body"])
def test_an_inventory_replacement_with_a_5_mb_actor_is_refused_naming_the_field(client, where):
    created = create_plan()
    plan = created.plan
    tentacles = [{"name": tentacle.name} for tentacle in inventory_of(plan)[:2]]
    body = {"tentacles": tentacles} | ({"actor": "A" * FIVE_MB} if where == "body" else {})
    query = f"?actor={'A' * FIVE_MB}" if where == "query" else ""

    response = client.put(
        f"/api/v1/plans/{created.edit_token}/tentacles{query}",
        json.dumps(body),
        content_type="application/json",
    )

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"actor": ["The name is too long: at most 100 characters (it has 5,000,000)."]}
    }
    assert plan.installation.tentacles.count() == 3
    assert Plan.objects.get(pk=plan.pk).version == plan.version


def test_the_inventory_csv_replacement_with_a_long_actor_is_refused_too(client):
    created = create_plan()
    plan = created.plan

    response = client.put(
        f"/api/v1/plans/{created.edit_token}/tentacles?actor={'A' * 101}",
        to_csv(inventory_of(plan)[:1]).encode(),
        content_type="text/csv",
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["actor"]
    assert plan.installation.tentacles.count() == 3


def test_the_openapi_document_states_the_limits(client):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]

    assert schemas["ActionIn"]["properties"]["reason"]["maxLength"] == 500
    assert schemas["ActionIn"]["properties"]["actor"]["maxLength"] == 100


# --- The services ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["skip", "reopen", "complete"])
def test_a_5_mb_reason_is_refused_by_the_service_and_nothing_is_stored(action):
    created = create_plan()
    plan = created.plan
    step = skippable(plan) if action != "reopen" else ready(plan)
    if action == "reopen":
        services.step_complete(step_id=step.id, plan=plan, actor="Ana")
        plan.refresh_from_db()
        step.refresh_from_db()
        Activity.objects.filter(step=step).delete()

    with pytest.raises(services.ReasonInvalid) as refused:
        services.step_act(plan=plan, step_id=step.id, action=action, reason="x" * FIVE_MB)

    assert refused.value.message == REASON_TOO_LONG
    assert_nothing_stored(plan, step)


def test_a_5_mb_name_is_refused_by_the_service_and_nothing_is_stored():
    created = create_plan()
    step = skippable(created.plan)

    with pytest.raises(ActorInvalid) as refused:
        services.step_skip(
            step_id=step.id, plan=created.plan, actor="A" * FIVE_MB, reason="retired"
        )

    assert refused.value.message == (
        "The name is too long: at most 100 characters (it has 5,000,000)."
    )
    assert_nothing_stored(created.plan, step)


def test_a_bulk_action_with_a_5_mb_reason_changes_no_step():
    created = create_plan()
    plan = created.plan
    steps = list(Step.objects.filter(plan=plan).exclude(tentacle=""))

    outcome = services.steps_bulk(
        plan=plan, step_ids=[s.id for s in steps], action="skip", reason="x" * FIVE_MB
    )

    assert outcome.changed == 0
    assert set(outcome.refusals) == {REASON_TOO_LONG}
    assert not Step.objects.filter(plan=plan, state=StepState.SKIPPED).exists()
    assert not Activity.objects.filter(action="skip").exists()


def test_a_checks_failure_message_over_the_limit_still_fails_the_step_and_is_stored_cut():
    created = create_plan()
    step = ready(created.plan)
    message = "Could not reach https://octopus.corp/" + "a" * FIVE_MB

    services.step_fail(step_id=step.id, plan=created.plan, actor="verification", reason=message)

    step.refresh_from_db()
    assert step.state == StepState.FAILED
    stored = Activity.objects.get(step=step, action="fail").reason
    assert len(stored) == REASON_MAX
    assert stored == message[: REASON_MAX - 1] + "…"
