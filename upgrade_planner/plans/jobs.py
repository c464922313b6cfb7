"""Verification jobs: a transactional outbox, a relay to the broker, and the job runner.

A job row is written in the same transaction as the action that asks for it. After commit the
relay hands due jobs to Celery; if the broker is down they stay `pending` and the periodic relay
sends them later, so no user action waits on Redis or is lost with it. Running a job is
idempotent: a conditional UPDATE claims it, so a redelivered message finds it taken or done.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError, models, transaction
from django.utils import timezone

from upgrade_planner.domain import evidence, planner
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.installations import api_keys
from upgrade_planner.plans import services, verification
from upgrade_planner.plans.models import Job, JobState, Plan, Step

logger = logging.getLogger(__name__)

VERIFIER = "verification"
EVIDENCE_KEPT = 20
PORT_PROBES_PER_JOB = 500
# A message not started this long after it was sent was probably lost with the broker.
LOST_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Verdict:
    step_id: uuid.UUID
    ok: bool | None  # None: informative only
    detail: str
    complete: bool = False


@dataclass
class Outcome:
    verdicts: list[Verdict] = field(default_factory=list)
    summary: str = ""


# --- Asking for checks ---------------------------------------------------------------------


def verification_request(*, plan: Plan, actor: str = "") -> list[Job]:
    """Create a job for every check that applies to the plan now (reusing any still open) and
    send them once this transaction commits."""
    wanted = applicable_checks(plan)
    with transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
        open_jobs = {job.kind: job for job in Job.objects.open().filter(plan=plan)}
        jobs = []
        for check, step_id in wanted:
            job = open_jobs.get(check)
            if job is None:
                job = Job.objects.create(
                    plan=plan,
                    step_id=step_id,
                    kind=check,
                    max_attempts=settings.JOB_MAX_ATTEMPTS,
                )
            jobs.append(job)
        ids = [job.pk for job in jobs]
        transaction.on_commit(lambda: jobs_publish(job_ids=ids))
    logger.info("verification requested for plan %s: %s", plan.pk, [j.kind for j in jobs])
    return jobs


STARTED_STEP_CHECKS = {
    "install-server-new-machine": "server-version",
    "install-server-in-place": "server-version",
    "upgrade-tentacle": "new-server-machines",
    "verify-canary": "new-server-machines",
    "verify-new-server-health": "new-server-machines",
    "verify-old-server-cut-off": "old-server-cut-off",
}


def jobs_for_started_step(*, plan: Plan, step: Step) -> None:
    """Inside a transition's transaction: when someone starts a step the planner can check,
    queue that check (once) so it is confirmed without anyone pressing a button."""
    check = STARTED_STEP_CHECKS.get(step.kind)
    if check is None:
        return
    installation = plan.installation
    possible = {
        "server-version": bool(_server_for_install(plan)),
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
    if install and _server_for_install(plan):
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


def _server_for_install(plan: Plan) -> str:
    installation = plan.installation
    if plan.approach == "new-server":
        return installation.new_server_url
    return installation.new_server_url or installation.old_server_url


# --- The relay -----------------------------------------------------------------------------


def jobs_publish(*, job_ids: Iterable[uuid.UUID] | None = None, limit: int = 200) -> int:
    """Hand due jobs to the broker; returns how many were sent. Stops at the first broker
    error and leaves the rest pending for the next run of the relay."""
    from upgrade_planner.plans.tasks import run_job

    _requeue_lost()
    due = Job.objects.due().order_by("available_at")
    if job_ids is not None:
        due = due.filter(pk__in=list(job_ids))
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


def _requeue_lost() -> None:
    now = timezone.now()
    Job.objects.filter(state=JobState.QUEUED, published_at__lt=now - LOST_AFTER).update(
        state=JobState.PENDING, published_at=None
    )
    hard_limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    Job.objects.filter(state=JobState.RUNNING, started_at__lt=now - hard_limit).update(
        state=JobState.PENDING, published_at=None
    )


# --- Running a job -------------------------------------------------------------------------


def job_run(job_id: uuid.UUID | str) -> str:
    """Run one job if it is still to be run; returns its final state (or what it already was)."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state__in=[JobState.PENDING, JobState.QUEUED]).update(
        state=JobState.RUNNING, attempts=models.F("attempts") + 1, started_at=now
    )
    if not claimed:
        # A worker killed mid-job leaves it running; its redelivered message may take it over
        # once the hard time limit has certainly passed.
        hard_limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
        claimed = Job.objects.filter(
            pk=job_id, state=JobState.RUNNING, started_at__lt=now - hard_limit
        ).update(attempts=models.F("attempts") + 1, started_at=now)
    job = Job.objects.select_related("plan__installation").filter(pk=job_id).first()
    if job is None or not claimed:
        return job.state if job else "missing"
    check = CHECKS.get(job.kind)
    try:
        if check is None:
            raise verification.VerificationError(f"Unknown check {job.kind!r}.")
        outcome = check(job)
    except verification.TransientError as error:
        return _retry_or_fail(job, error.message)
    except SoftTimeLimitExceeded:
        return _retry_or_fail(job, "The check took too long and was stopped.")
    except verification.VerificationError as error:
        return _fail(job, error.message)
    try:
        _apply(job, outcome)
    except OperationalError as error:  # a deadlock or a dropped connection: try again later
        return _retry_or_fail(job, f"Recording the result failed ({error}); will retry.")
    return JobState.DONE


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped."""
    return timedelta(seconds=min(settings.JOB_BACKOFF_CAP_SECONDS, 5 * 2 ** max(attempts - 1, 0)))


def _retry_or_fail(job: Job, message: str) -> str:
    if job.attempts >= job.max_attempts:
        return _fail(job, f"{message} (gave up after {job.attempts} attempts)")
    Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.PENDING,
        last_error=message,
        available_at=timezone.now() + backoff(job.attempts),
        published_at=None,
    )
    return JobState.PENDING


def _fail(job: Job, message: str) -> str:
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            state=JobState.FAILED, last_error=message, finished_at=timezone.now()
        )
        if job.step_id:
            _evidence_add(job, [Verdict(step_id=job.step_id, ok=False, detail=message)])
    if job.step_id:
        # A step a person already finished keeps its state; the evidence says why.
        with suppress(services.TransitionRefused, services.StepNotFound):
            services.step_fail(step_id=job.step_id, plan=job.plan, actor=VERIFIER, reason=message)
    return JobState.FAILED


def _apply(job: Job, outcome: Outcome) -> None:
    with transaction.atomic():
        _evidence_add(job, outcome.verdicts)
        Job.objects.filter(pk=job.pk).update(
            state=JobState.DONE,
            finished_at=timezone.now(),
            last_error="",
            result={"summary": outcome.summary, "steps": len(outcome.verdicts)},
        )
    _complete_where_ok(job.plan, outcome.verdicts, actor=VERIFIER)


def _complete_where_ok(plan: Plan, verdicts: list[Verdict], *, actor: str) -> int:
    """Complete the steps the verdicts confirm. Completing one step can unblock another in the
    same batch (the canary, then the rest), so go round until a pass completes nothing more."""
    completed = 0
    remaining = [verdict for verdict in verdicts if verdict.complete]
    while remaining:
        blocked = []
        for verdict in remaining:
            try:
                services.step_complete(step_id=verdict.step_id, plan=plan, actor=actor)
            except services.StepBlocked:
                blocked.append(verdict)
            except (services.TransitionRefused, services.StepNotFound):
                pass  # already finished: the evidence is recorded either way
            else:
                completed += 1
        if len(blocked) == len(remaining):
            break
        remaining = blocked
    return completed


def _evidence_add(job: Job, verdicts: list[Verdict], *, saved: bool = True) -> None:
    """Append evidence to the steps (keeping the latest few) and bump the plan's version.
    `saved` is False for evidence that no job row stands behind (pasted by a person)."""
    if not verdicts:
        return
    # Take the plan's row first, as transitions do, so the two never wait on each other in
    # opposite orders (a deadlock).
    Plan.objects.filter(pk=job.plan_id).update(version=models.F("version") + 1)
    at = timezone.now().isoformat().replace("+00:00", "Z")
    by_step = {verdict.step_id: verdict for verdict in verdicts}
    steps = list(Step.objects.filter(pk__in=list(by_step)).only("id", "evidence"))
    for step in steps:
        verdict = by_step[step.id]
        entry: dict[str, Any] = {
            "check": job.kind,
            "at": at,
            "ok": verdict.ok,
            "detail": verdict.detail,
        }
        if saved:
            entry["job"] = str(job.pk)
        step.evidence = [*step.evidence, entry][-EVIDENCE_KEPT:]
    Step.objects.bulk_update(steps, ["evidence"], batch_size=services.BULK_BATCH)


# --- The checks ----------------------------------------------------------------------------


def _timeout() -> float:
    return settings.VERIFY_HTTP_TIMEOUT


def check_server_version(job: Job) -> Outcome:
    plan = job.plan
    url = _server_for_install(plan)
    reported = verification.server_version(url, timeout=_timeout())
    target = plan.installation.target_version
    try:
        on_target = planner.parse_version(reported) >= planner.parse_version(target)
    except planner.PlanningError:
        raise verification.VerificationError(
            f"{url}/api reports an unreadable version {reported!r}."
        ) from None
    detail = f"{url} reports Octopus {reported}" + (
        "" if on_target else f"; the plan needs {target} or newer"
    )
    if job.step_id is None:
        return Outcome(summary=detail)
    return Outcome([Verdict(job.step_id, on_target, detail, complete=on_target)], detail)


def _machines_by_name(server_url: str, stored_key: str) -> dict[str, verification.MachineStatus]:
    """The server's machines by case-folded name (Octopus names are case-insensitive)."""
    listed = verification.machines(
        server_url, api_key=api_keys.decrypt(stored_key), timeout=_timeout()
    )
    return {machine.name.casefold(): machine for machine in listed}


def check_new_server_machines(job: Job) -> Outcome:
    installation = job.plan.installation
    found = _machines_by_name(installation.new_server_url, installation.new_server_api_key)
    steps = list(
        Step.objects.current()
        .filter(
            plan=job.plan,
            kind__in=["upgrade-tentacle", "verify-canary", "verify-new-server-health"],
        )
        .values("id", "kind", "state", "tentacles", "canary")
    )
    upgrades = [s for s in steps if s["kind"] == "upgrade-tentacle"]
    healthy_names: set[str] = set()
    verdicts = []
    for step in upgrades:
        statuses = [found.get(name.casefold()) for name in step["tentacles"]]
        ok = all(
            status is not None and status.healthy and _is_3x(status.tentacle_version)
            for status in statuses
        )
        if ok:
            healthy_names.update(name.casefold() for name in step["tentacles"])
        if step["state"] in SATISFIED_STATES or (step["state"] == StepState.BLOCKED and not ok):
            continue  # a red mark on a step that is still waiting would only alarm
        detail = "; ".join(
            _describe(name, found.get(name.casefold())) for name in step["tentacles"]
        )
        verdicts.append(Verdict(step["id"], ok, detail, complete=ok))
    live = [s for s in upgrades if s["state"] != StepState.SKIPPED]
    for step in steps:
        if step["kind"] == "upgrade-tentacle" or step["state"] in SATISFIED_STATES:
            continue
        cohort = [s for s in live if s["canary"]] if step["kind"] == "verify-canary" else live
        names = [name for s in cohort for name in s["tentacles"]]
        missing = [name for name in names if name.casefold() not in healthy_names]
        ok = bool(names) and not missing
        if step["state"] == StepState.BLOCKED and not ok:
            continue
        detail = (
            f"All {len(names)} Tentacles are healthy on the new server."
            if ok
            else f"{len(missing)} of {len(names)} Tentacles are not healthy on the new server yet: "
            + ", ".join(missing[:5])
            + (" …" if len(missing) > 5 else "")
        )
        verdicts.append(Verdict(step["id"], ok, detail, complete=ok))
    summary = f"{len(healthy_names)} healthy Tentacles of {len(found)} machines on the new server"
    return Outcome(verdicts, summary)


def check_old_server_cut_off(job: Job) -> Outcome:
    installation = job.plan.installation
    found = _machines_by_name(installation.old_server_url, installation.old_server_api_key)
    upgrades = list(
        Step.objects.current()
        .filter(plan=job.plan, kind="upgrade-tentacle")
        .values_list("state", "tentacles")
    )
    upgraded = [name for state, names in upgrades if state == StepState.DONE for name in names]
    all_finished = all(state in SATISFIED_STATES for state, _ in upgrades)
    still_answering = [
        name for name in upgraded if (status := found.get(name.casefold())) and status.healthy
    ]
    ok = all_finished and not still_answering
    if still_answering:
        detail = (
            f"{len(still_answering)} upgraded Tentacles still answer the 2.6 server: "
            + ", ".join(still_answering[:5])
        )
    elif not all_finished:
        detail = "Some Tentacle upgrades are not finished yet; the 2.6 server still reaches them."
    else:
        detail = (
            f"None of the {len(upgraded)} upgraded Tentacles answers the 2.6 server any more, "
            "as expected."
        )
    if job.step_id is None:
        return Outcome(summary=detail)
    return Outcome([Verdict(job.step_id, ok, detail, complete=ok)], detail)


def check_tentacle_ports(job: Job) -> Outcome:
    rows = list(
        Step.objects.current()
        .filter(plan=job.plan, kind="upgrade-tentacle", state=StepState.IN_PROGRESS)
        .filter(labels__contains="|style=listening|")
        .exclude(tentacle_ref__hostname="")
        .values_list("id", "tentacle_ref__hostname", "tentacle_ref__port")[:PORT_PROBES_PER_JOB]
    )
    probes = verification.probe_ports(
        [(host, port or 10933) for _, host, port in rows], timeout=settings.VERIFY_TCP_TIMEOUT
    )
    verdicts = [
        Verdict(step_id, probe.reachable, probe.detail)
        for (step_id, _, _), probe in zip(rows, probes, strict=True)
    ]
    reachable = sum(probe.reachable for probe in probes)
    return Outcome(verdicts, f"{reachable} of {len(probes)} listening Tentacles accept connections")


def _is_3x(version: str) -> bool:
    try:
        return planner.parse_version(version) >= planner.parse_version("3.0.0")
    except planner.PlanningError:
        return False


def _describe(name: str, status: verification.MachineStatus | None) -> str:
    if status is None:
        return f"{name} is not listed on the new server"
    version = f", Tentacle {status.tentacle_version}" if status.tentacle_version else ""
    return f"{name} {status.status.lower() or 'unknown'}{version}"


CHECKS: dict[str, Callable[[Job], Outcome]] = {
    "server-version": check_server_version,
    "new-server-machines": check_new_server_machines,
    "old-server-cut-off": check_old_server_cut_off,
    "tentacle-ports": check_tentacle_ports,
}


# --- Pasted evidence -----------------------------------------------------------------------


@dataclass(frozen=True)
class PasteResult:
    matches: list[evidence.Match]
    completed: int
    unrecognised: tuple[tuple[int, str], ...]

    @property
    def in_plan(self) -> list[evidence.Match]:
        return [m for m in self.matches if m.in_plan and m.verdict != "no-evidence"]

    @property
    def not_in_plan(self) -> list[str]:
        return [m.name for m in self.matches if not m.in_plan]


PASTE_VERDICTS = {
    "on-target": (True, "{name}: Tentacle {version}, on the target version (pasted evidence)"),
    "upgraded": (True, "{name}: Tentacle {version}, upgraded off 2.x (pasted evidence)"),
    "behind-target": (None, "{name}: Tentacle {version}, older than the target (pasted evidence)"),
    "still-on-2x": (
        False,
        "{name} still runs the 2.x Tentacle: on that machine open Tentacle Manager and click "
        "Reinstall, then re-apply any custom service account (pasted evidence)",
    ),
    "health-only": (None, "{name}: a health result without a version (pasted evidence)"),
}


def evidence_paste(*, plan: Plan, text: str, actor: str = "") -> PasteResult:
    """Mark the Tentacles a pasted `Tentacle.exe version` output, health-check log or CSV
    shows as upgraded; report what was recognised and what was not."""
    report = evidence.parse_evidence(text)
    names = list(plan.installation.tentacles.values_list("name", flat=True))
    matches = evidence.match_evidence(report, names, plan.installation.target_version)
    by_name = {m.name.casefold(): m for m in matches if m.in_plan}
    verdicts: list[Verdict] = []
    for step_id, state, covered in (
        Step.objects.current()
        .filter(plan=plan, kind="upgrade-tentacle")
        .values_list("id", "state", "tentacles")
    ):
        found = [by_name[n.casefold()] for n in covered if n.casefold() in by_name]
        found = [m for m in found if m.verdict in PASTE_VERDICTS]
        if not found or state in SATISFIED_STATES:
            continue
        details, oks = [], []
        for match in found:
            ok, template = PASTE_VERDICTS[match.verdict]
            details.append(template.format(name=match.name, version=match.version or "?"))
            oks.append(ok)
        all_ok = len(found) == len(covered) and all(ok is True for ok in oks)
        some_bad = any(ok is False for ok in oks)
        verdicts.append(
            Verdict(
                step_id,
                True if all_ok else (False if some_bad else None),
                "; ".join(details),
                complete=all_ok,
            )
        )
    pasted = Job(plan=plan, kind="pasted-evidence")  # only names the check in the evidence
    with transaction.atomic():
        _evidence_add(pasted, verdicts, saved=False)
        services.activity_log(
            plan=plan,
            actor=actor,
            action="evidence-pasted",
            details={"recognised": len(report.machines), "unrecognised": len(report.unrecognised)},
        )
    completed = _complete_where_ok(plan, verdicts, actor=actor or "pasted evidence")
    return PasteResult(matches=matches, completed=completed, unrecognised=report.unrecognised)
