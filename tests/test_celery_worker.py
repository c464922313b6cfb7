"""A real Celery worker, in-process, against Redis: proves the app's configuration works."""

import pytest

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_live_worker_runs_a_task_sent_through_redis():
    from celery.contrib.testing.worker import start_worker

    from upgrade_planner.celery import app

    assert app.conf.task_always_eager is False
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1

    app.loader.import_task_module("celery.contrib.testing.tasks")
    with start_worker(app, pool="solo", perform_ping_check=True, shutdown_timeout=10):
        result = app.send_task("celery.ping")
        assert result.get(timeout=10) == "pong"
