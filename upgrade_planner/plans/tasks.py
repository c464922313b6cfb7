"""Celery tasks: thin — load by id, call a service or the job runner, nothing else.

No module imports this one: services send tasks by name (`services/outbox.py`), and Celery
loads this module from `settings.CELERY_IMPORTS`.
"""

from __future__ import annotations

import logging
import uuid

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.management import call_command

from upgrade_planner.plans import jobs, services

logger = logging.getLogger(__name__)


# Results are never read (jobs record their outcome in the database); ignoring them keeps a
# publish from waiting on the result backend while Redis is down.
@shared_task(
    name=services.RUN_JOB_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_job(job_id: str) -> str:
    return jobs.job_run(job_id)


@shared_task(name=services.RELAY_OUTBOX_TASK, ignore_result=True)
def relay_outbox() -> int:
    """The one periodic relay of the outbox: verification jobs, then inventory fetches."""
    return services.jobs_publish() + services.fetches_publish()


@shared_task(name=services.REVERIFY_TASK, ignore_result=True)
def reverify_in_progress() -> int:
    """Re-check plans that have steps in progress, so a step finished outside the planner is
    noticed without anyone pressing a button."""
    return services.verification_request_in_progress()


@shared_task(name=services.IDEMPOTENCY_PURGE_TASK, ignore_result=True)
def idempotent_responses_purge() -> int:
    return services.idempotent_responses_purge()


@shared_task(name=services.SESSIONS_PURGE_TASK, ignore_result=True)
def expired_sessions_purge() -> None:
    """Delete expired browser and admin sessions, as `manage.py clearsessions` does."""
    call_command("clearsessions")


@shared_task(
    name=services.INVENTORY_FETCH_TASK,
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def inventory_fetch(self: Task[[str, str], str], fetch_id: str, api_key: str = "") -> str:
    """Read the inventory for an InventoryFetch from its Octopus server; the message carries
    the fetch's id only, and the service reads the API key from the fetch.

    `api_key` is only in messages sent before keys were kept on the fetch: it is kept there
    now, encrypted, and left out of any retry's message.

    Transient failures (timeouts, refused connections, 5xx answers) are retried by a worker
    with exponential backoff, at most OCTOPUS_FETCH_RETRIES times; anything else fails at once.
    """
    if api_key:
        services.inventory_fetch_key_keep(fetch_id=uuid.UUID(fetch_id), api_key=api_key)
    retries = self.request.retries
    # Run in-process (the embedded default, no broker), a retry would hold up the request that
    # started the job: the first failure is final, and its words say to try again.
    in_process = bool(self.app.conf.task_always_eager)
    last_attempt = in_process or retries >= settings.OCTOPUS_FETCH_RETRIES
    try:
        outcome = services.inventory_fetch_run(
            fetch_id=uuid.UUID(fetch_id), last_attempt=last_attempt
        )
    except SoftTimeLimitExceeded:
        services.inventory_fetch_fail(
            fetch_id=uuid.UUID(fetch_id),
            message="Reading the server took longer than four minutes, so it was stopped. "
            "Try again when the server is less busy, or paste the inventory as CSV instead.",
        )
        outcome = services.FetchOutcome.FAILED
    logger.info("Inventory fetch %s: %s (attempt %d)", fetch_id, outcome, retries + 1)
    if outcome == services.FetchOutcome.RETRY:
        countdown = min(settings.OCTOPUS_FETCH_RETRY_DELAY * 2**retries, 300)
        raise self.retry(kwargs={"fetch_id": fetch_id}, countdown=countdown)
    return str(outcome)
