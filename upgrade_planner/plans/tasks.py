"""Celery tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from upgrade_planner.plans import jobs
from upgrade_planner.plans.models import Plan, StepState


@shared_task(name="upgrade_planner.plans.tasks.run_job", acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: str) -> str:
    return jobs.job_run(job_id)


@shared_task(name="upgrade_planner.plans.tasks.relay_outbox")
def relay_outbox() -> int:
    return jobs.jobs_publish()


@shared_task(name="upgrade_planner.plans.tasks.reverify_in_progress")
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
