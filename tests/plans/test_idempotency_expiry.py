"""Idempotency records expire: an hourly beat task deletes those older than
IDEMPOTENCY_KEEP_HOURS, and a retry after that acts again."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tests.factories import create_plan
from upgrade_planner.celery import app
from upgrade_planner.plans import services
from upgrade_planner.plans.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def record(plan, key: str, *, hours_old: float) -> IdempotencyRecord:
    claimed = services.idempotent_response_claim(plan=plan, key=key, fingerprint=key)
    assert isinstance(claimed, IdempotencyRecord)
    services.idempotent_response_record(record=claimed, status_code=200, body={"key": key})
    # created_at is set on insert (auto_now_add): age the row afterwards.
    IdempotencyRecord.objects.filter(pk=claimed.pk).update(
        created_at=timezone.now() - timedelta(hours=hours_old)
    )
    return claimed


def test_records_older_than_the_kept_hours_are_purged_and_younger_ones_kept(settings):
    settings.IDEMPOTENCY_KEEP_HOURS = 24
    plan = create_plan().plan
    other_plan = create_plan(name="Other").plan
    record(plan, "old", hours_old=24.1)
    record(other_plan, "older", hours_old=24 * 30)
    record(plan, "recent", hours_old=23.9)
    record(other_plan, "new", hours_old=0)

    purged = services.idempotent_responses_purge()

    assert purged == 2
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new", "recent"]


def test_the_kept_hours_are_a_setting(settings):
    plan = create_plan().plan
    record(plan, "two-hours", hours_old=2)
    settings.IDEMPOTENCY_KEEP_HOURS = 3
    assert services.idempotent_responses_purge() == 0

    settings.IDEMPOTENCY_KEEP_HOURS = 1

    assert services.idempotent_responses_purge() == 1
    assert not IdempotencyRecord.objects.exists()


def test_a_retry_after_the_purge_acts_again_and_one_before_it_is_replayed(settings):
    settings.IDEMPOTENCY_KEEP_HOURS = 24
    plan = create_plan().plan
    calls: list[int] = []

    def respond() -> tuple[int, dict[str, int]]:
        calls.append(1)
        return 201, {"call": len(calls)}

    def send():
        return services.idempotent_response_run(
            plan=plan, key="retry-me", request={"op": "x"}, respond=respond
        )

    first = send()
    replayed = send()
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    services.idempotent_responses_purge()
    after_purge = send()

    assert (first.body, first.replayed) == ({"call": 1}, False)
    assert (replayed.body, replayed.replayed) == ({"call": 1}, True)
    assert (after_purge.body, after_purge.replayed) == ({"call": 2}, False)
    assert len(calls) == 2
    assert IdempotencyRecord.objects.get(plan=plan, key="retry-me").body == {"call": 2}


def test_the_beat_schedule_purges_idempotency_records_through_a_registered_task():
    schedule = django_settings.CELERY_BEAT_SCHEDULE

    app.loader.import_default_modules()  # what a worker and beat load: CELERY_IMPORTS

    names = {entry["task"] for entry in schedule.values()}
    assert services.IDEMPOTENCY_PURGE_TASK in names
    assert names <= set(app.tasks), names - set(app.tasks)


def test_the_purge_task_runs_the_service(eager_tasks, settings):
    settings.IDEMPOTENCY_KEEP_HOURS = 24
    plan = create_plan().plan
    record(plan, "old", hours_old=48)
    record(plan, "recent", hours_old=1)

    result = services.task_by_name(services.IDEMPOTENCY_PURGE_TASK).apply_async()

    assert result.get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
