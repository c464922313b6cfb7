"""The outbox: no user action waits on, or is lost with, the broker."""

import time

import pytest
from kombu import pools

from tests.factories import create_plan, finish_prerequisites, fleet, installation
from tests.fake_octopus import listening
from upgrade_planner.celery import app
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services, tasks
from upgrade_planner.plans.models import FetchState, InventoryFetch, Job, JobState, Step

pytestmark = pytest.mark.django_db


SAVED: dict = {}


def fresh_producer_pool():
    """Drop Celery's cached connections so the next publish uses the current broker_url."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down(eager_tasks):
    """Celery configured for a real broker that refuses connections (nothing listens on
    port 1 of loopback)."""
    keys = ("task_always_eager", "broker_url", "broker_transport_options")
    SAVED.update({key: app.conf.get(key) for key in keys})
    app.conf.update(
        task_always_eager=False,
        broker_url="redis://127.0.0.1:1/0",
        broker_transport_options={"socket_connect_timeout": 0.2, "max_retries": 0},
    )
    fresh_producer_pool()
    yield
    broker_back()


def broker_back():
    app.conf.update(SAVED)
    fresh_producer_pool()


def plans_with_jobs(octopus, count):
    created = []
    for index in range(count):
        plan = services.plan_create(
            name=f"Plan {index}",
            installation=installation(new_server_url=octopus.url, tentacles=fleet(2)),
            new_server_api_key=octopus.api_key,
        ).plan
        install = Step.objects.filter(plan=plan, kind="install-server-new-machine").get()
        finish_prerequisites(plan, install)
        created.append((plan, install))
    return created


def test_transitions_are_accepted_while_the_broker_is_down_and_their_jobs_run_once_later(
    octopus, broker_down, django_capture_on_commit_callbacks
):
    pairs = plans_with_jobs(octopus, 20)
    transitions = 0
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        for plan, install in pairs:
            services.step_start(step_id=install.id, plan=plan, actor="Ana")
            transitions += 1
        while transitions < 200:
            plan, _ = pairs[transitions % len(pairs)]
            cleanup = Step.objects.get(plan=plan, kind="cleanup-home-folder")
            services.step_skip(step_id=cleanup.id, plan=plan, reason="not needed")
            services.step_reopen(step_id=cleanup.id, plan=plan, reason="needed after all")
            transitions += 2
    elapsed = time.monotonic() - started

    assert transitions == 200
    assert (
        Step.objects.filter(kind="install-server-new-machine", state=StepState.IN_PROGRESS).count()
        == 20
    )
    assert Job.objects.filter(state=JobState.PENDING).count() == 20
    assert elapsed < 30  # a generous bound: every publish failed fast instead of hanging

    # The broker is back: the periodic relay sends every pending job, and each runs once.
    broker_back()
    sent = tasks.relay_outbox()
    assert sent == 20
    assert Job.objects.filter(state=JobState.DONE, attempts=1).count() == 20
    assert tasks.relay_outbox() == 0
    assert (
        Step.objects.filter(kind="install-server-new-machine", state=StepState.DONE).count() == 20
    )


def test_a_job_sent_but_never_started_is_sent_again(octopus):
    plan, install = plans_with_jobs(octopus, 1)[0]
    from datetime import timedelta

    from django.utils import timezone

    job = Job.objects.create(
        plan=plan,
        step=install,
        kind="server-version",
        state=JobState.QUEUED,
        published_at=timezone.now() - timedelta(hours=1),
    )

    assert services.jobs_publish() == 1
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 1


def test_a_fetch_started_while_the_broker_is_down_answers_at_once_and_runs_when_it_is_back(
    octopus, broker_down, client, django_capture_on_commit_callbacks
):
    octopus.machines.append(listening("web-01", version="3.17.14"))
    created = create_plan()
    started_at = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            f"/p/{created.edit_token}/inventory/fetch",
            {"server_url": octopus.url, "api_key": octopus.api_key},
        )
    elapsed = time.monotonic() - started_at

    fetch = InventoryFetch.objects.get()
    assert started.status_code == 302
    assert started["Location"] == f"/p/{created.edit_token}/inventory/fetch/{fetch.id}"
    assert elapsed < 5  # one refused connection, not a publish retried for 19 s
    assert fetch.state == FetchState.PENDING and fetch.published_at is None
    assert fetch.attempts == 0 and octopus.requests == []
    assert fetch.encrypted_api_key and octopus.api_key not in fetch.encrypted_api_key
    waiting = client.get(started["Location"])
    assert waiting.status_code == 200 and "Waiting to start" in waiting.content.decode()
    assert tasks.relay_outbox() == 0  # still down: it stays pending
    assert InventoryFetch.objects.get().published_at is None

    # The broker is back: the periodic relay sends the fetch, which runs once.
    broker_back()
    assert tasks.relay_outbox() == 1
    fetch.refresh_from_db()
    assert fetch.state == FetchState.DONE and fetch.attempts == 1
    assert [row["name"] for row in fetch.rows] == ["web-01"]
    assert fetch.encrypted_api_key == ""  # forgotten once it has served
    assert {key for path, key in octopus.requests if path != "/api"} == {octopus.api_key}
    assert tasks.relay_outbox() == 0
