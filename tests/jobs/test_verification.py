"""Verification jobs against a local fake Octopus server: evidence, completion, retries."""

import logging

import pytest

from tests.factories import finish_prerequisites, fleet, installation
from tests.fake_octopus import listening
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import jobs, services
from upgrade_planner.plans.models import Job, JobState, Step

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_timeouts(settings):
    settings.VERIFY_HTTP_TIMEOUT = 0.5
    settings.JOB_MAX_ATTEMPTS = 3


def plan_with(octopus, old=None, **fields):
    created = services.plan_create(
        name="Verified",
        installation=installation(
            new_server_url=octopus.url,
            old_server_url=old.url if old else "",
            **fields,
        ),
        new_server_api_key=octopus.api_key,
        old_server_api_key=old.api_key if old else "",
    )
    return created.plan


def step(plan, kind, **filters):
    return Step.objects.filter(plan=plan, kind=kind, **filters).order_by("position").first()


@pytest.fixture
def run_all(django_capture_on_commit_callbacks):
    """Ask for every check; the jobs run after commit (tasks run eagerly in tests)."""

    def run(plan):
        with django_capture_on_commit_callbacks(execute=True):
            asked = services.verification_request(plan=plan)
        for job in asked:
            job.refresh_from_db()
        return {job.kind: job for job in asked}

    return run


def test_the_new_server_version_completes_the_install_step(octopus, run_all):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)

    asked = run_all(plan)

    install.refresh_from_db()
    assert asked["server-version"].state == JobState.DONE
    assert install.state == StepState.DONE
    assert install.evidence[-1]["check"] == "server-version"
    assert install.evidence[-1]["ok"] is True
    assert "reports Octopus 3.17.14" in install.evidence[-1]["detail"]


def test_an_older_server_version_is_recorded_without_completing(octopus, run_all):
    octopus.version = "2.6.5"
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)

    run_all(plan)

    install.refresh_from_db()
    assert install.state == StepState.READY
    assert install.evidence[-1]["ok"] is False
    assert "needs 3.17.14 or newer" in install.evidence[-1]["detail"]


def test_healthy_machines_complete_their_tentacle_steps_across_pages(octopus, run_all):
    plan = plan_with(octopus, tentacles=fleet(5))
    for name in ["web-0001", "web-0002", "web-0003", "web-0004"]:
        octopus.machines.append(listening(name, version="3.17.14"))
    octopus.machines.append(listening("web-0005", version="2.6.5", HealthStatus="Unavailable"))
    canary = step(plan, "upgrade-tentacle", canary=True)
    finish_prerequisites(plan, canary)

    asked = run_all(plan)

    assert asked["new-server-machines"].state == JobState.DONE
    states = {s.tentacle: s for s in Step.objects.filter(plan=plan, kind="upgrade-tentacle")}
    assert {name for name, s in states.items() if s.state == StepState.DONE} == {
        "web-0001", "web-0002", "web-0003", "web-0004"
    }  # fmt: skip
    assert states["web-0005"].state != StepState.DONE
    assert step(plan, "verify-canary").state == StepState.DONE
    assert states["web-0001"].evidence[-1]["detail"] == "web-0001 healthy, Tentacle 3.17.14"
    # It was still waiting for the canary when checked: no alarming mark, and now it is ready.
    assert states["web-0005"].evidence == []
    assert states["web-0005"].state == StepState.READY
    # All three pages were read, and the key went only to this server.
    assert sum(path.startswith("/api/machines") for path, _ in octopus.requests) == 3
    assert {key for path, key in octopus.requests if path.startswith("/api/machines")} == {
        octopus.api_key
    }


def test_a_5xx_is_retried_with_backoff_then_fails_the_step_with_the_reason(
    octopus, django_capture_on_commit_callbacks
):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    services.step_start(step_id=install.id, plan=plan)
    for path in ("/api", "/api/machines"):
        octopus.overrides[path] = lambda query: (500, {"ErrorMessage": "boom"})

    with django_capture_on_commit_callbacks(execute=True):
        job = services.verification_request(plan=plan)[0]
    job.refresh_from_db()
    assert job.state == JobState.PENDING and job.attempts == 1
    assert "HTTP 500" in job.last_error
    assert job.available_at > job.started_at

    for _ in range(2):
        Job.objects.filter(pk=job.pk).update(available_at=job.started_at)
        services.jobs_publish()
    job.refresh_from_db()
    install.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 3
    assert "gave up after 3 attempts" in job.last_error
    assert install.state == StepState.FAILED
    assert "HTTP 500" in install.evidence[-1]["detail"]


def test_a_refused_api_key_fails_at_once_with_a_clear_message(octopus, run_all):
    plan = plan_with(octopus, tentacles=fleet(2))
    octopus.api_key = "API-ROTATED"

    asked = run_all(plan)

    job = asked["new-server-machines"]
    assert job.state == JobState.FAILED and job.attempts == 1
    assert "refused the API key (HTTP 401)" in job.last_error


def test_a_timeout_is_transient(octopus, run_all):
    plan = plan_with(octopus, tentacles=fleet(2))
    octopus.delay = 1.5

    asked = run_all(plan)

    job = asked["new-server-machines"]
    assert job.state == JobState.PENDING
    assert "did not answer within 0.5 seconds" in job.last_error


def test_an_answer_that_is_not_json_fails_with_a_hint(octopus, run_all):
    plan = plan_with(octopus, tentacles=fleet(2))
    octopus.overrides["/api/machines"] = lambda query: (200, b"<html>not json</html>")

    asked = run_all(plan)

    assert asked["new-server-machines"].state == JobState.FAILED
    assert "is not JSON" in asked["new-server-machines"].last_error


def test_the_old_server_cut_off_is_confirmed_when_no_upgraded_tentacle_answers_it(
    octopus, old_octopus, run_all
):
    plan = plan_with(octopus, old=old_octopus, tentacles=fleet(2))
    for upgrade in Step.objects.filter(plan=plan, kind="upgrade-tentacle").order_by("position"):
        finish_prerequisites(plan, upgrade)
        services.step_complete(step_id=upgrade.id, plan=plan, confirmed=True)
    for name in ("web-0001", "web-0002"):
        old_octopus.machines.append(listening(name, version="2.6.5", HealthStatus="Unavailable"))
    cut_off = step(plan, "verify-old-server-cut-off")

    run_all(plan)

    cut_off.refresh_from_db()
    assert cut_off.state == StepState.DONE
    assert "None of the 2 upgraded Tentacles answers" in cut_off.evidence[-1]["detail"]
    assert {key for _, key in old_octopus.requests if key} == {old_octopus.api_key}


def test_running_a_job_twice_acts_once(octopus, django_capture_on_commit_callbacks):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.verification_request(plan=plan)[0]
    evidence_before = Step.objects.get(pk=install.pk).evidence

    assert jobs.job_run(job.pk) == JobState.DONE  # a redelivered message
    assert Step.objects.get(pk=install.pk).evidence == evidence_before
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_job_left_running_by_a_killed_worker_is_taken_over_once(octopus, settings):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    from datetime import timedelta

    from django.utils import timezone

    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    job = Job.objects.create(
        plan=plan, step=install, kind="server-version", state=JobState.RUNNING,
        attempts=1, started_at=long_ago,
    )  # fmt: skip

    assert jobs.job_run(job.pk) == JobState.DONE
    assert jobs.job_run(job.pk) == JobState.DONE
    job.refresh_from_db()
    assert job.attempts == 2
    assert len(Step.objects.get(pk=install.pk).evidence) == 1


def test_starting_a_checkable_step_queues_its_check_in_the_same_transaction(octopus):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)

    services.step_start(step_id=install.id, plan=plan)

    job = Job.objects.get(plan=plan)
    assert job.kind == "server-version" and job.step_id == install.id


def test_api_keys_are_stored_encrypted_and_never_shown(octopus, client):
    created = services.plan_create(
        name="Keys",
        installation=installation(new_server_url=octopus.url),
        new_server_api_key="API-SECRET-123",
    )
    stored = created.plan.installation.new_server_api_key

    assert stored and "API-SECRET-123" not in stored
    page = client.get(f"/p/{created.edit_token}/").content.decode()
    document = client.get(f"/api/v1/plans/{created.edit_token}").content.decode()
    assert "API-SECRET-123" not in page and stored not in page
    assert "API-SECRET-123" not in document and stored not in document
    assert "stored (hidden)" in page


def test_a_late_failure_never_fails_a_step_whose_dependents_have_started(
    octopus, django_capture_on_commit_callbacks
):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    services.step_start(step_id=install.id, plan=plan)
    octopus.overrides["/api"] = lambda query: (500, {"ErrorMessage": "boom"})
    with django_capture_on_commit_callbacks(execute=True):
        job = services.verification_request(plan=plan)[0]
    # Meanwhile the team finished the install by hand and went on to the next step.
    services.step_complete(step_id=install.id, plan=plan, actor="Ana")
    dependent = (
        Step.objects.filter(plan=plan, state=StepState.READY, position__gt=install.position)
        .order_by("position")
        .first()
    )
    services.step_start(step_id=dependent.id, plan=plan, actor="Ana")

    Job.objects.filter(pk=job.pk).update(attempts=job.max_attempts - 1)
    for _ in range(2):
        Job.objects.filter(pk=job.pk).update(available_at=job.created_at)
        services.jobs_publish()

    job.refresh_from_db()
    install.refresh_from_db()
    dependent.refresh_from_db()
    assert job.state == JobState.FAILED
    assert install.state == StepState.DONE
    assert dependent.state == StepState.IN_PROGRESS
    assert install.evidence[-1]["ok"] is False
    assert "HTTP 500" in install.evidence[-1]["detail"]


# --- Jobs always finish --------------------------------------------------------------------


def test_an_unexpected_error_while_reading_fails_the_job_in_words_logged_once_without_the_key(
    octopus, run_all, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    plan = plan_with(octopus, tentacles=fleet(2))

    def broken(*args, **kwargs):
        raise ValueError(f"Invalid header value b'{octopus.api_key}\\r\\nX-Evil: 1'")

    monkeypatch.setattr(jobs.verification, "machines", broken)

    asked = run_all(plan)

    job = asked["new-server-machines"]
    assert job.state == JobState.FAILED and job.attempts == 1
    assert job.last_error == jobs.UNEXPECTED_FAILURE
    assert job.finished_at is not None
    logged = [r for r in caplog.records if "unexpected ValueError" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert octopus.api_key not in caplog.text


def test_json_nested_200000_deep_fails_the_job_and_its_step_with_a_message(octopus, run_all):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    nested = b"[" * 200_000 + b"]" * 200_000
    octopus.overrides["/api"] = lambda query: (200, nested)

    asked = run_all(plan)

    job = asked["server-version"]
    install.refresh_from_db()
    assert job.state == JobState.FAILED and job.last_error
    assert install.evidence[-1]["ok"] is False
    assert install.evidence[-1]["detail"] == job.last_error


def long_ago(settings):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


@pytest.mark.parametrize(
    ("state", "attempts"),
    [(JobState.RUNNING, 5), (JobState.RUNNING, 6), (JobState.PENDING, 6), (JobState.QUEUED, 5)],
)
def test_a_job_that_has_had_all_its_attempts_is_failed_not_run_again(
    octopus, settings, state, attempts
):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    job = Job.objects.create(
        plan=plan, step=install, kind="server-version", state=state, attempts=attempts,
        max_attempts=5, started_at=long_ago(settings),
    )  # fmt: skip

    assert jobs.job_run(job.pk) == JobState.FAILED
    assert jobs.job_run(job.pk) == JobState.FAILED  # a second delivery changes nothing

    job.refresh_from_db()
    install.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == attempts
    assert f"stopped {attempts} times" in job.last_error
    assert octopus.requests == []
    # A stopped worker is no finding about the step: it keeps its state and evidence.
    assert install.state == StepState.READY and install.evidence == []


def test_the_relay_fails_a_lost_job_out_of_attempts_and_sends_the_others_again(octopus, settings):
    plan = plan_with(octopus)
    install = step(plan, "install-server-new-machine")
    finish_prerequisites(plan, install)
    spent = Job.objects.create(
        plan=plan, step=install, kind="server-version", state=JobState.RUNNING, attempts=5,
        max_attempts=5, started_at=long_ago(settings),
    )  # fmt: skip
    left = Job.objects.create(
        plan=plan, kind="server-version", state=JobState.RUNNING, attempts=4,
        max_attempts=5, started_at=long_ago(settings),
    )  # fmt: skip

    sent = services.jobs_publish()

    spent.refresh_from_db()
    left.refresh_from_db()
    assert sent == 1
    assert spent.state == JobState.FAILED and spent.attempts == 5
    assert "given up" in spent.last_error
    assert left.state == JobState.DONE and left.attempts == 5
    assert services.jobs_publish() == 0
