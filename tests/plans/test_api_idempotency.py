"""Idempotency keys of the API (product.md §5.2): the services that store the first response to a
request and replay it, and what a client sees through the step actions."""

import json

import pytest

from tests.factories import create_plan
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, IdempotencyRecord, Step

pytestmark = pytest.mark.django_db


class Respond:
    """A stand-in for the action: counts its calls, answers `answer`."""

    def __init__(self, answer=(200, {"state": "done"})):
        self.answer = answer
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.answer


def test_a_claim_makes_an_empty_record_and_recording_fills_it():
    plan = create_plan().plan

    claimed = services.idempotent_response_claim(plan=plan, key="k1", fingerprint="f1")
    stored = services.idempotent_response_record(
        record=claimed, status_code=409, body={"error": "blocked"}
    )

    assert isinstance(claimed, IdempotencyRecord)
    assert (stored.status_code, stored.body, stored.replayed) == (409, {"error": "blocked"}, False)
    record = IdempotencyRecord.objects.get(plan=plan, key="k1")
    assert (record.fingerprint, record.status_code, record.body) == (
        "f1",
        409,
        {"error": "blocked"},
    )


def test_claiming_a_used_key_again_for_the_same_request_gives_back_its_response():
    plan = create_plan().plan
    first = services.idempotent_response_claim(plan=plan, key="k1", fingerprint="f1")
    services.idempotent_response_record(record=first, status_code=200, body={"id": "s1"})

    again = services.idempotent_response_claim(plan=plan, key="k1", fingerprint="f1")

    assert again == services.IdempotentResponse(200, {"id": "s1"}, replayed=True)
    assert IdempotencyRecord.objects.filter(plan=plan).count() == 1


def test_a_used_key_with_a_different_request_is_refused():
    plan = create_plan().plan
    first = services.idempotent_response_claim(plan=plan, key="k1", fingerprint="f1")
    services.idempotent_response_record(record=first, status_code=200, body={})

    with pytest.raises(services.IdempotencyKeyReused) as refused:
        services.idempotent_response_claim(plan=plan, key="k1", fingerprint="f2")

    assert refused.value.message == "This key was already used for a different request."
    assert list(IdempotencyRecord.objects.values_list("fingerprint", flat=True)) == ["f1"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "Send a key of at least one character."),
        ("a\tb", "Use printable characters only."),
        ("k" * 201, "At most 200 characters."),
    ],
)
def test_a_key_that_cannot_be_stored_is_refused_and_nothing_is_written(key, message):
    plan = create_plan().plan
    respond = Respond()

    with pytest.raises(services.IdempotencyKeyInvalid) as refused:
        services.idempotent_response_run(plan=plan, key=key, request=["x"], respond=respond)

    assert refused.value.message == message
    assert respond.calls == 0
    assert not IdempotencyRecord.objects.exists()


def test_run_acts_once_per_key_and_request_and_replays_after():
    plan = create_plan().plan
    respond = Respond((201, {"made": 1}))

    first = services.idempotent_response_run(plan=plan, key="k", request=["a"], respond=respond)
    second = services.idempotent_response_run(plan=plan, key="k", request=["a"], respond=respond)

    assert respond.calls == 1
    assert first == services.IdempotentResponse(201, {"made": 1}, replayed=False)
    assert second == services.IdempotentResponse(201, {"made": 1}, replayed=True)
    record = IdempotencyRecord.objects.get(plan=plan, key="k")
    assert record.fingerprint == services.request_fingerprint(["a"])
    assert (record.status_code, record.body) == (201, {"made": 1})


def test_when_the_action_fails_nothing_is_kept_and_the_key_is_free_again():
    plan = create_plan().plan

    def fails():
        raise RuntimeError("the action broke")

    with pytest.raises(RuntimeError):
        services.idempotent_response_run(plan=plan, key="k", request=["a"], respond=fails)

    assert not IdempotencyRecord.objects.exists()
    retried = services.idempotent_response_run(plan=plan, key="k", request=["a"], respond=Respond())
    assert retried.replayed is False
    assert IdempotencyRecord.objects.get(plan=plan, key="k").status_code == 200


def test_the_fingerprint_ignores_the_order_of_keys_but_not_their_values():
    assert services.request_fingerprint([{"actor": "a", "reason": "r"}]) == (
        services.request_fingerprint([{"reason": "r", "actor": "a"}])
    )
    assert services.request_fingerprint([{"actor": "a"}]) != services.request_fingerprint(
        [{"actor": "b"}]
    )


def complete(client, created, step, key, actor="ci"):
    return client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/complete",
        data=json.dumps({"actor": actor}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def ready_step(plan):
    return (
        Step.objects.filter(plan=plan, state=StepState.READY, tentacle="", optional=False)
        .order_by("position")
        .first()
    )


def test_a_refusal_is_replayed_too_without_asking_the_step_again(client):
    created = create_plan()
    blocked = (
        Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="")
        .order_by("position")
        .first()
    )

    first = complete(client, created, blocked, "deploy-7")
    Step.objects.filter(pk__in=blocked.depends_on.values("pk")).update(state=StepState.DONE)
    again = complete(client, created, blocked, "deploy-7")

    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    blocked.refresh_from_db()
    assert blocked.state == StepState.BLOCKED
    assert not Activity.objects.filter(step=blocked).exists()


def test_the_same_key_on_another_plan_acts_there(client):
    one, other = create_plan(), create_plan(name="Other")

    first = complete(client, one, ready_step(one.plan), "shared-key")
    second = complete(client, other, ready_step(other.plan), "shared-key")

    assert first.status_code == second.status_code == 200
    assert not second.has_header("Idempotent-Replayed")
    assert Activity.objects.filter(plan=other.plan, action="complete").count() == 1
    assert IdempotencyRecord.objects.filter(key="shared-key").count() == 2


def test_a_key_the_api_cannot_store_is_422_and_the_step_does_not_move(client):
    created = create_plan()
    step = ready_step(created.plan)

    response = complete(client, created, step, "k" * 201)

    assert response.status_code == 422
    assert response.json() == {"errors": {"Idempotency-Key": ["At most 200 characters."]}}
    step.refresh_from_db()
    assert step.state == StepState.READY
    assert not IdempotencyRecord.objects.exists()
