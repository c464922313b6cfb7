"""The job path through a real broker and an in-process worker (not eager mode)."""

import threading

import pytest
from celery.signals import task_postrun

from tests.factories import finish_prerequisites, installation
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import JobState, Step

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_verification_job_runs_on_a_live_worker_and_completes_the_step(octopus):
    from celery.contrib.testing.worker import start_worker

    from upgrade_planner.celery import app

    assert app.conf.task_always_eager is False
    plan = services.plan_create(
        name="Live",
        installation=installation(new_server_url=octopus.url),
        new_server_api_key=octopus.api_key,
    ).plan
    install = Step.objects.get(plan=plan, kind="install-server-new-machine")
    finish_prerequisites(plan, install)

    finished = threading.Event()

    def on_postrun(sender=None, **kwargs):
        if sender is not None and sender.name == "upgrade_planner.plans.tasks.run_job":
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            job = services.verification_request(plan=plan)[0]  # published after commit
            assert finished.wait(timeout=20), "the worker never ran the job"
    finally:
        task_postrun.disconnect(on_postrun)

    job.refresh_from_db()
    install.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 1
    assert install.state == StepState.DONE
    assert install.evidence[-1]["ok"] is True
