"""POST /api/v1/plans/<edit_token>/steps/<step_id>/<action> (product.md §5.2)."""

import json
import uuid

import pytest

from tests.factories import create_plan, finish_prerequisites, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Activity, Job, Step

pytestmark = pytest.mark.django_db


def act(client, token, step_id, action, body=None, **headers):
    return client.post(
        f"/api/v1/plans/{token}/steps/{step_id}/{action}",
        data=json.dumps(body or {}),
        content_type="application/json",
        **headers,
    )


def ready_step(plan):
    return Step.objects.filter(
        plan=plan, state=StepState.READY, tentacle="", optional=False
    ).first()


def test_complete_returns_200_with_the_step(client):
    created = create_plan()
    step = ready_step(created.plan)

    response = act(client, created.edit_token, step.id, "complete", {"actor": "pipeline"})

    assert response.status_code == 200
    assert response.json()["id"] == str(step.id)
    assert response.json()["state"] == "done"
    assert Activity.objects.filter(step=step, actor="pipeline").exists()


def test_a_blocked_step_is_409_with_the_ids_it_waits_for(client):
    created = create_plan()
    blocked = Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="").first()
    waits_for = {str(s.id) for s in blocked.depends_on.all()}

    response = act(client, created.edit_token, blocked.id, "complete")

    assert response.status_code == 409
    assert response.json()["error"] == "blocked"
    assert set(response.json()["blocked_by"]) <= waits_for and response.json()["blocked_by"]


def test_a_required_step_is_409_not_skippable(client):
    created = create_plan()
    step = ready_step(created.plan)

    response = act(client, created.edit_token, step.id, "skip", {"reason": "no time"})

    assert response.status_code == 409
    assert response.json()["error"] == "not-skippable"


def test_skip_without_a_reason_is_422_naming_the_reason(client):
    created = create_plan()
    upgrade = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle").first()

    response = act(client, created.edit_token, upgrade.id, "skip", {})

    assert response.status_code == 422
    assert "reason" in response.json()["errors"]


def test_reopen_with_started_dependents_is_409(client):
    created = create_plan()
    dependent = Step.objects.get(plan=created.plan, kind__startswith="install-server")
    finish_prerequisites(created.plan, dependent)
    first = Step.objects.get(plan=created.plan, kind="backup-database")
    act(client, created.edit_token, dependent.id, "start")

    response = act(client, created.edit_token, first.id, "reopen", {"reason": "redo"})

    assert response.status_code == 409
    assert response.json()["error"] == "has-started-dependents"
    assert str(dependent.id) in response.json()["dependents"]


def test_the_view_token_is_403_and_changes_nothing(client):
    created = create_plan()
    step = ready_step(created.plan)

    response = act(client, created.view_token, step.id, "complete")

    assert response.status_code == 403
    step.refresh_from_db()
    assert step.state == StepState.READY


@pytest.mark.parametrize("which", ["unknown-token", "other-plan-step", "random-step", "bad-action"])
def test_unknown_things_are_404(client, which):
    created = create_plan()
    other = create_plan(name="Other")
    step = ready_step(created.plan)
    token, step_id, action = created.edit_token, step.id, "complete"
    if which == "unknown-token":
        token = "x" * 43
    elif which == "other-plan-step":
        step_id = ready_step(other.plan).id
    elif which == "random-step":
        step_id = uuid.uuid4()
    else:
        action = "explode"

    response = act(client, token, step_id, action)

    assert response.status_code == 404
    assert not Step.objects.filter(state=StepState.DONE).exists()


def test_an_idempotency_key_replays_the_first_response_and_acts_once(client):
    created = create_plan()
    step = ready_step(created.plan)
    created.plan.refresh_from_db()
    version = created.plan.version

    first = act(
        client,
        created.edit_token,
        step.id,
        "complete",
        {"actor": "ci"},
        HTTP_IDEMPOTENCY_KEY="deploy-42",
    )
    again = act(
        client,
        created.edit_token,
        step.id,
        "complete",
        {"actor": "ci"},
        HTTP_IDEMPOTENCY_KEY="deploy-42",
    )

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    created.plan.refresh_from_db()
    assert created.plan.version == version + 1
    assert Activity.objects.filter(step=step, action="complete").count() == 1


def test_the_same_key_with_a_different_body_is_422(client):
    created = create_plan()
    step = ready_step(created.plan)
    act(client, created.edit_token, step.id, "start", HTTP_IDEMPOTENCY_KEY="k1")

    response = act(client, created.edit_token, step.id, "complete", HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["errors"]
    step.refresh_from_db()
    assert step.state == StepState.IN_PROGRESS


def test_a_body_that_is_not_an_object_is_refused(client):
    created = create_plan()
    step = ready_step(created.plan)

    response = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/complete",
        data="[1, 2]",
        content_type="application/json",
    )

    assert response.status_code == 422
    step.refresh_from_db()
    assert step.state == StepState.READY


@pytest.mark.parametrize("tentacles", [3, 300])
def test_a_transition_costs_the_same_statements_whatever_the_plan_size(
    client, django_assert_num_queries, tentacles
):
    created = create_plan(tentacles=fleet(tentacles))
    step = ready_step(created.plan)
    assert Step.objects.filter(depends_on=step).exists()  # its dependents are re-derived

    # The link with its plan; the lock, which bumps the version; the step with what its rules
    # ask; its new state; its dependents' blocked/ready; the finished-step count; the activity
    # entry: 7. The test runs in a transaction of its own, so the transition's is a savepoint
    # here (SAVEPOINT and RELEASE: 2 more).
    with django_assert_num_queries(7 + 2):
        response = act(client, created.edit_token, step.id, "complete", {"actor": "pipeline"})

    assert response.status_code == 200
    assert response.json()["state"] == "done"
    assert sorted(response.json()["depends_on"]) == sorted(
        str(pk) for pk in step.depends_on.values_list("pk", flat=True)
    )


def test_the_answer_lists_the_steps_prerequisites_as_the_plan_document_does(client):
    created = create_plan()
    step = Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="").first()
    finish_prerequisites(created.plan, step)

    response = act(client, created.edit_token, step.id, "start")
    document = client.get(f"/api/v1/plans/{created.view_token}").json()

    listed = next(s for s in document["steps"] if s["id"] == str(step.id))["depends_on"]
    assert response.status_code == 200
    assert response.json()["depends_on"] and sorted(response.json()["depends_on"]) == sorted(listed)


def test_starting_a_step_the_planner_can_check_through_the_api_queues_its_check(client):
    created = create_plan(new_server_url="https://octopus-new.example.com")
    install = Step.objects.get(plan=created.plan, kind="install-server-new-machine")
    finish_prerequisites(created.plan, install)

    response = act(client, created.edit_token, install.id, "start", {"actor": "pipeline"})

    assert response.status_code == 200
    job = Job.objects.get(plan=created.plan)
    assert (job.kind, job.step_id, job.state) == ("server-version", install.id, "pending")
