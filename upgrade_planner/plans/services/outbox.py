"""Background jobs as a transactional outbox: asking for checks, the relay that hands due jobs to
the broker, and the job's own lifecycle (claimed, retried with backoff, failed, done).

A job row is written in the same transaction as the action that asks for it. After commit the
relay hands due jobs to Celery; if the broker is down they stay `pending` and the periodic relay
sends them later, so no user action waits on Redis or is lost with it. Jobs are claimed with a
conditional UPDATE, so a redelivered message finds its job taken or done.

Inventory fetches use the same outbox (`services/fetches.py`): their rows wait for the same
periodic relay, which sends both.

Messages are sent by task name: the task module calls these services, never the other way
round.
"""

from __future__ import annotations

import functools
import logging
import traceback
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from upgrade_planner.celery import app
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.plans.models import Job, JobState, Plan, Step
from upgrade_planner.plans.services.locking import plan_lock

logger = logging.getLogger(__name__)

# Task names, fixed: messages already queued carry them.
RUN_JOB_TASK = "upgrade_planner.plans.tasks.run_job"
RELAY_OUTBOX_TASK = "upgrade_planner.plans.tasks.relay_outbox"
REVERIFY_TASK = "upgrade_planner.plans.tasks.reverify_in_progress"
INVENTORY_FETCH_TASK = "upgrade_planner.plans.tasks.inventory_fetch"
IDEMPOTENCY_PURGE_TASK = "upgrade_planner.plans.tasks.idempotent_responses_purge"
SESSIONS_PURGE_TASK = "upgrade_planner.plans.tasks.expired_sessions_purge"

# A message not started this long after it was sent was probably lost with the broker.
LOST_AFTER = timedelta(minutes=10)

# The check that confirms a step, asked for as soon as someone starts it.
STARTED_STEP_CHECKS = {
    "install-server-new-machine": "server-version",
    "install-server-in-place": "server-version",
    "upgrade-tentacle": "new-server-machines",
    "verify-canary": "new-server-machines",
    "verify-new-server-health": "new-server-machines",
    "verify-old-server-cut-off": "old-server-cut-off",
}


@functools.cache
def _tasks_registered() -> None:
    # No module of the app imports the task modules; the ones Celery's configuration names
    # (settings.CELERY_IMPORTS) are loaded here, as a worker loads them when it starts.
    for module in app.loader.default_modules:
        app.loader.import_task_module(module)


def task_by_name(name: str) -> Task[Any, Any]:
    """The registered Celery task `name` (run in-process by `apply_async` in the embedded
    default, where tasks are eager; sent to the broker otherwise)."""
    _tasks_registered()
    return app.tasks[name]


def unexpected_error_log(log: logging.Logger, what: str, error: BaseException) -> None:
    """Log an unforeseen error of a job once: its type and where it happened, not its text,
    which may quote an API key or a server's answer."""
    frames = "".join(traceback.TracebackException.from_exception(error).stack.format())
    log.error(
        "%s stopped on an unexpected %s (its message left out); traceback:\n%s",
        what,
        type(error).__name__,
        frames,
    )


# --- Asking for checks ---------------------------------------------------------------------


def verification_request(*, plan: Plan, actor: str = "") -> list[Job]:
    """Create a job for every check that applies to the plan now (reusing any still open) and
    send them once this transaction commits."""
    wanted = applicable_checks(plan)
    with transaction.atomic():
        plan_lock(plan=plan)
        open_jobs = {job.kind: job for job in Job.objects.open().filter(plan=plan)}
        jobs = []
        for check, step_id in wanted:
            job = open_jobs.get(check)
            if job is None:
                job = Job.objects.create(
                    plan=plan, step_id=step_id, kind=check, max_attempts=settings.JOB_MAX_ATTEMPTS
                )
            jobs.append(job)
        ids = [job.pk for job in jobs]
        transaction.on_commit(lambda: jobs_publish(job_ids=ids))
    logger.info("verification requested for plan %s: %s", plan.pk, [j.kind for j in jobs])
    return jobs


def started_step_check_queue(*, plan: Plan, step: Step) -> None:
    """Inside a transition's transaction: when someone starts a step the planner can check,
    queue that check (once) so it is confirmed without anyone pressing a button."""
    check = STARTED_STEP_CHECKS.get(step.kind)
    if check is None:
        return
    installation = plan.installation
    possible = {
        "server-version": bool(plan.install_server_url),
        "new-server-machines": bool(
            installation.new_server_url and installation.new_server_api_key
        ),
        "old-server-cut-off": bool(installation.old_server_url and installation.old_server_api_key),
    }
    if not possible[check] or Job.objects.open().filter(plan=plan, kind=check).exists():
        return
    job = Job.objects.create(
        plan=plan, step=step, kind=check, max_attempts=settings.JOB_MAX_ATTEMPTS
    )
    transaction.on_commit(lambda: jobs_publish(job_ids=[job.pk]))


def applicable_checks(plan: Plan) -> list[tuple[str, uuid.UUID | None]]:
    """(check, the step it reports on) for every check the plan's connections allow now."""
    installation = plan.installation
    open_steps: dict[str, uuid.UUID] = {}
    for kind, step_id in (
        Step.objects.current()
        .filter(plan=plan)
        .exclude(state__in=SATISFIED_STATES)
        .order_by("-position")
        .values_list("kind", "id")
    ):
        open_steps[kind] = step_id  # the earliest open step of each kind wins
    checks: list[tuple[str, uuid.UUID | None]] = []
    install = open_steps.get("install-server-new-machine") or open_steps.get(
        "install-server-in-place"
    )
    if install and plan.install_server_url:
        checks.append(("server-version", install))
    if installation.new_server_url and installation.new_server_api_key:
        for kind in ("verify-new-server-health", "verify-canary", "upgrade-tentacle"):
            if kind in open_steps:
                checks.append(("new-server-machines", open_steps[kind]))
                break
    if (
        installation.old_server_url
        and installation.old_server_api_key
        and "verify-old-server-cut-off" in open_steps
    ):
        checks.append(("old-server-cut-off", open_steps["verify-old-server-cut-off"]))
    if (
        Step.objects.current()
        .filter(plan=plan, kind="upgrade-tentacle", state=StepState.IN_PROGRESS)
        .filter(labels__contains="|style=listening|")
        .exclude(tentacle_ref__hostname="")
        .exists()
    ):
        checks.append(("tentacle-ports", None))
    return checks


def verification_request_in_progress(*, limit: int = 200) -> int:
    """Ask for the checks of recently changed plans that have steps in progress, so a step
    finished outside the planner is noticed without anyone pressing a button; returns how many
    plans were asked for."""
    recent = timezone.now() - timedelta(days=14)
    plans = Plan.objects.with_steps_in_progress(changed_since=recent)
    asked = 0
    for plan in plans.select_related("installation")[:limit]:
        if applicable_checks(plan):
            verification_request(plan=plan, actor="scheduled check")
            asked += 1
    return asked


# --- The relay -----------------------------------------------------------------------------


def jobs_publish(*, job_ids: Iterable[uuid.UUID] | None = None, limit: int = 200) -> int:
    """Hand due jobs to the broker; returns how many were sent. Stops at the first broker
    error and leaves the rest pending for the next run of the relay."""
    jobs_requeue_lost()
    due = Job.objects.due().order_by("available_at")
    if job_ids is not None:
        due = due.filter(pk__in=list(job_ids))
    run_job = task_by_name(RUN_JOB_TASK)
    sent = 0
    for job_id in list(due.values_list("pk", flat=True)[:limit]):
        claimed = Job.objects.filter(pk=job_id, state=JobState.PENDING).update(
            state=JobState.QUEUED, published_at=timezone.now()
        )
        if not claimed:
            continue
        try:
            run_job.apply_async(args=(str(job_id),), retry=False)
        except Exception as error:  # the broker's many failure types; none may reach the user
            Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
                state=JobState.PENDING, published_at=None
            )
            logger.warning("broker unavailable, job %s stays pending: %s", job_id, error)
            break
        sent += 1
    return sent


def jobs_requeue_lost(*, limit: int = 200) -> None:
    """Send again the jobs whose message was lost with the broker, and those a killed worker
    left running past the hard time limit; a job that has had all its attempts fails instead,
    so a job that kills its worker every time ends."""
    now = timezone.now()
    Job.objects.filter(state=JobState.QUEUED, published_at__lt=now - LOST_AFTER).update(
        state=JobState.PENDING, published_at=None
    )
    abandoned = Job.objects.filter(state=JobState.RUNNING, started_at__lt=now - _hard_limit())
    abandoned.filter(attempts__lt=models.F("max_attempts")).update(
        state=JobState.PENDING, published_at=None
    )
    for job_id in list(abandoned.values_list("pk", flat=True)[:limit]):
        _job_give_up(job_id)


# --- A job's own lifecycle -----------------------------------------------------------------


def _hard_limit() -> timedelta:
    """How long after its start a running job's worker has certainly been killed."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)


def _takeable(now: datetime) -> models.Q:
    """Jobs a run may take: waiting ones, and those a killed worker left running."""
    return models.Q(state__in=[JobState.PENDING, JobState.QUEUED]) | models.Q(
        state=JobState.RUNNING, started_at__lt=now - _hard_limit()
    )


def job_claim(*, job_id: uuid.UUID | str) -> Job | None:
    """Take a job to run it: a pending or queued one, or one a killed worker left running past
    the hard time limit (its redelivered message takes it over). None when another run has it,
    it is finished, or it has had all its attempts (it is failed then)."""
    now = timezone.now()
    claimed = Job.objects.filter(
        _takeable(now), pk=job_id, attempts__lt=models.F("max_attempts")
    ).update(state=JobState.RUNNING, attempts=models.F("attempts") + 1, started_at=now)
    if not claimed:
        _job_give_up(job_id)
        return None
    return Job.objects.select_related("plan__installation").filter(pk=job_id).first()


def _job_give_up(job_id: uuid.UUID | str) -> None:
    """Fail a job that is still to be run but has had all its attempts (each one stopped
    before it could record anything, e.g. a worker killed at the hard time limit). Its step is
    left as it is: a stopped worker is no finding about the step; the plan's list of checks
    shows the job's message."""
    now = timezone.now()
    spent = Job.objects.filter(_takeable(now), pk=job_id, attempts__gte=models.F("max_attempts"))
    attempts = spent.values_list("attempts", flat=True).first()
    if attempts is None:
        return
    message = (
        f"The check was stopped {attempts} times before it could finish, so it was given up. "
        "Check that the server answers quickly, then ask for the checks again."
    )
    # Conditional, like a claim: of two redelivered messages, one records it.
    if spent.update(state=JobState.FAILED, last_error=message, finished_at=now):
        logger.warning("job %s given up after %d attempts", job_id, attempts)


def job_backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped."""
    return timedelta(seconds=min(settings.JOB_BACKOFF_CAP_SECONDS, 5 * 2 ** max(attempts - 1, 0)))


def job_retry(*, job: Job, message: str) -> bool:
    """Put a running job back in the queue after a transient failure, after a backoff.
    False when it has had all its attempts (the caller then fails it)."""
    if job.attempts >= job.max_attempts:
        return False
    Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.PENDING,
        last_error=message,
        available_at=timezone.now() + job_backoff(job.attempts),
        published_at=None,
    )
    return True


def job_fail(*, job: Job, message: str) -> None:
    """Inside the caller's transaction: the job ended without a result."""
    Job.objects.filter(pk=job.pk).update(
        state=JobState.FAILED, last_error=message, finished_at=timezone.now()
    )


def job_finish(*, job: Job, summary: str, steps: int) -> None:
    """Inside the caller's transaction: the job ended with a result."""
    Job.objects.filter(pk=job.pk).update(
        state=JobState.DONE,
        finished_at=timezone.now(),
        last_error="",
        result={"summary": summary, "steps": steps},
    )
