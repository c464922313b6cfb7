"""Celery tasks: thin — load by id, call a service, nothing else."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import jobs, services
from upgrade_planner.plans.models import Plan

logger = logging.getLogger(__name__)


# Results are never read (jobs record their outcome in the database); ignoring them keeps a
# publish from waiting on the result backend while Redis is down.
@shared_task(
    name="upgrade_planner.plans.tasks.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def run_job(job_id: str) -> str:
    return jobs.job_run(job_id)


@shared_task(name="upgrade_planner.plans.tasks.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    return jobs.jobs_publish()


@shared_task(name="upgrade_planner.plans.tasks.reverify_in_progress", ignore_result=True)
def reverify_in_progress() -> int:
    """Re-check plans that have steps in progress, so a step finished outside the planner is
    noticed without anyone pressing a button."""
    recent = timezone.now() - timedelta(days=14)
    plans = Plan.objects.filter(
        updated_at__gte=recent, steps__state=StepState.IN_PROGRESS, steps__retired=False
    ).distinct()
    asked = 0
    for plan in plans.select_related("installation")[:200]:
        if jobs.applicable_checks(plan):
            jobs.verification_request(plan=plan, actor="scheduled check")
            asked += 1
    return asked


# --- Inventory fetch ------------------------------------------------------------------

# The job's arguments as logs and monitoring tools show them: never the API key.
_HIDDEN_KEY = "'***'"


@sensitive_variables("api_key")
def enqueue_inventory_fetch(fetch_id: uuid.UUID, api_key: str) -> None:
    inventory_fetch.apply_async(  # type: ignore[call-arg]  # celery-types lacks kwargsrepr
        kwargs={"fetch_id": str(fetch_id), "api_key": api_key},
        kwargsrepr=_kwargs_shown(fetch_id),
    )


def _kwargs_shown(fetch_id: uuid.UUID | str) -> str:
    return f"{{'fetch_id': '{fetch_id}', 'api_key': {_HIDDEN_KEY}}}"


@shared_task(bind=True, acks_late=True, soft_time_limit=240, time_limit=300)
def inventory_fetch(self: Task[[str, str], str], fetch_id: str, api_key: str) -> str:
    """Read the inventory for an InventoryFetch from its Octopus server.

    Transient failures (timeouts, refused connections, 5xx answers) are retried by a worker
    with exponential backoff, at most OCTOPUS_FETCH_RETRIES times; anything else fails at once.
    """
    retries = self.request.retries
    # Run in-process (the embedded default, no broker), a retry would hold up the request that
    # started the job: the first failure is final, and its words say to try again.
    in_process = bool(self.app.conf.task_always_eager)
    last_attempt = in_process or retries >= settings.OCTOPUS_FETCH_RETRIES
    try:
        outcome = services.inventory_fetch_run(
            fetch_id=uuid.UUID(fetch_id), api_key=api_key, last_attempt=last_attempt
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
        # Retried with the same arguments; celery-types does not know `kwargsrepr`.
        raise self.retry(countdown=countdown, kwargsrepr=_kwargs_shown(fetch_id))  # type: ignore[call-arg]
    return str(outcome)
