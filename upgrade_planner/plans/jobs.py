"""The verification job runner: claims a job, runs its check against the real servers
(through `verification.py`), and records what it found through the services.

Jobs are created and sent by `services/outbox.py`; the Celery task calls `job_run`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError

from upgrade_planner.domain import planner
from upgrade_planner.domain.evidence import StepVerdict
from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    FindingSeverity,
    FindingState,
    StepState,
)
from upgrade_planner.plans import services, verification
from upgrade_planner.plans.models import Job, JobState, Step

logger = logging.getLogger(__name__)

PORT_PROBES_PER_JOB = 500

# What the user reads when a check failed in a way the planner did not foresee: the error's own
# text stays in the log, as it may quote the server's answer or an API key.
UNEXPECTED_FAILURE = (
    "The check stopped on something the planner could not handle while reading the server "
    "(the details are in the planner's log). Check that the server URL is the address of the "
    "Octopus web portal, then ask for the checks again."
)


@dataclass
class Outcome:
    verdicts: list[StepVerdict] = field(default_factory=list)
    summary: str = ""


def job_run(job_id: uuid.UUID | str) -> str:
    """Run one job if it is still to be run; returns its final state (or what it already was)."""
    job = services.job_claim(job_id=job_id)
    if job is None:
        current = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
        return current or "missing"
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
        services.job_failure_record(job=job, message=error.message)
        return JobState.FAILED
    except Exception as error:  # anything unforeseen must still end the job, once
        services.unexpected_error_log(logger, f"Job {job.pk} ({job.kind})", error)
        services.job_failure_record(job=job, message=UNEXPECTED_FAILURE)
        return JobState.FAILED
    try:
        services.job_result_record(job=job, verdicts=outcome.verdicts, summary=outcome.summary)
    except OperationalError as error:  # a deadlock or a dropped connection: try again later
        return _retry_or_fail(job, f"Recording the result failed ({error}); will retry.")
    return JobState.DONE


def _retry_or_fail(job: Job, message: str) -> str:
    if services.job_retry(job=job, message=message):
        return JobState.PENDING
    services.job_failure_record(
        job=job, message=f"{message} (gave up after {job.attempts} attempts)"
    )
    return JobState.FAILED


# --- The checks ----------------------------------------------------------------------------


def _timeout() -> float:
    return settings.VERIFY_HTTP_TIMEOUT


def check_server_version(job: Job) -> Outcome:
    plan = job.plan
    url = plan.install_server_url
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
    return Outcome([StepVerdict(job.step_id, on_target, detail, complete=on_target)], detail)


def _machines_by_name(server_url: str, stored_key: str) -> dict[str, verification.MachineStatus]:
    """The server's machines by case-folded name (Octopus names are case-insensitive)."""
    listed = verification.machines(server_url, stored_key=stored_key, timeout=_timeout())
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
        verdicts.append(StepVerdict(step["id"], ok, detail, complete=ok))
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
        verdicts.append(StepVerdict(step["id"], ok, detail, complete=ok))
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
    return Outcome([StepVerdict(job.step_id, ok, detail, complete=ok)], detail)


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
        StepVerdict(step_id, probe.reachable, probe.detail)
        for (step_id, _, _), probe in zip(rows, probes, strict=True)
    ]
    reachable = sum(probe.reachable for probe in probes)
    return Outcome(verdicts, f"{reachable} of {len(probes)} listening Tentacles accept connections")


def check_readiness_scan(job: Job) -> Outcome:
    """Read the live server's facts for the readiness report, then evaluate it again."""
    installation = job.plan.installation
    url = installation.old_server_url
    api_key = verification.stored_api_key(installation.old_server_api_key, url)
    facts = verification.readiness_facts(url, api_key=api_key, timeout=_timeout())
    findings = services.readiness_scan_record(plan=job.plan, facts=facts, actor="readiness scan")
    open_inhibitors = sum(
        f.severity == FindingSeverity.INHIBITOR and f.state == FindingState.OPEN for f in findings
    )
    unknown = f"; unknown: {len(facts['unknown'])}" if facts["unknown"] else ""
    return Outcome(
        summary=f"Read {url}: Octopus {facts['server_version']}; {len(findings)} findings, "
        f"{open_inhibitors} open inhibitors{unknown}"
    )


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
    "readiness-scan": check_readiness_scan,
}
