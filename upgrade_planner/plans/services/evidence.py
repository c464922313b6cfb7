"""Evidence on steps: what a check or a pasted output showed, and the steps it confirms.

Results of checks arrive as `StepVerdict`s (domain/evidence.py): each is kept on its step (the
latest few), and a verdict that confirms a step completes it under the usual rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from upgrade_planner.bulk import BULK_BATCH
from upgrade_planner.domain import evidence
from upgrade_planner.domain.evidence import StepVerdict
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, ActivityAction
from upgrade_planner.plans.models import Job, Plan, Step
from upgrade_planner.plans.services.links import activity_log
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.outbox import job_fail, job_finish
from upgrade_planner.plans.services.transitions import (
    StepBlocked,
    StepNotFound,
    TransitionRefused,
    step_complete,
    step_fail,
)

EVIDENCE_KEPT = 20
# The actor of what checks do, in the activity log.
VERIFIER = "verification"
PASTED = "pasted-evidence"


def evidence_record(
    *, plan: Plan, check: str, verdicts: Sequence[StepVerdict], job_id: uuid.UUID | None = None
) -> None:
    """Inside the caller's transaction: append evidence to the steps (keeping the latest few)
    and bump the plan's version. `job_id` is None for evidence no job row stands behind
    (pasted by a person)."""
    if not verdicts:
        return
    plan_lock(plan=plan)
    at = timezone.now().isoformat().replace("+00:00", "Z")
    by_step = {verdict.step_id: verdict for verdict in verdicts}
    steps = list(Step.objects.filter(pk__in=list(by_step)).only("id", "evidence"))
    for step in steps:
        verdict = by_step[step.id]
        entry: dict[str, Any] = {
            "check": check,
            "at": at,
            "ok": verdict.ok,
            "detail": verdict.detail,
        }
        if job_id is not None:
            entry["job"] = str(job_id)
        step.evidence = [*step.evidence, entry][-EVIDENCE_KEPT:]
    Step.objects.bulk_update(steps, ["evidence"], batch_size=BULK_BATCH)


def steps_complete_where_ok(*, plan: Plan, verdicts: Sequence[StepVerdict], actor: str) -> int:
    """Complete the steps the verdicts confirm, each in its own transaction; returns how many.
    Completing one step can unblock another in the same batch (the canary, then the rest), so
    go round until a pass completes nothing more."""
    completed = 0
    remaining = [verdict for verdict in verdicts if verdict.complete]
    while remaining:
        blocked = []
        for verdict in remaining:
            try:
                step_complete(step_id=verdict.step_id, plan=plan, actor=actor)
            except StepBlocked:
                blocked.append(verdict)
            except (TransitionRefused, StepNotFound):
                pass  # already finished: the evidence is recorded either way
            else:
                completed += 1
        if len(blocked) == len(remaining):
            break
        remaining = blocked
    return completed


def job_result_record(*, job: Job, verdicts: Sequence[StepVerdict], summary: str) -> None:
    """A check's result: its evidence and the job's end in one transaction, then the steps it
    confirms completed."""
    with transaction.atomic():
        evidence_record(plan=job.plan, check=job.kind, verdicts=verdicts, job_id=job.pk)
        job_finish(job=job, summary=summary, steps=len(verdicts))
    steps_complete_where_ok(plan=job.plan, verdicts=verdicts, actor=VERIFIER)


def job_failure_record(*, job: Job, message: str) -> None:
    """A check that ended without a result: the job fails, and the step it reports on gets the
    message as evidence and is marked failed — unless a person already finished it, in which
    case it keeps its state and the evidence says why."""
    with transaction.atomic():
        job_fail(job=job, message=message)
        if job.step_id:
            failure = StepVerdict(step_id=job.step_id, ok=False, detail=message)
            evidence_record(plan=job.plan, check=job.kind, verdicts=[failure], job_id=job.pk)
    if job.step_id:
        with suppress(TransitionRefused, StepNotFound):
            step_fail(step_id=job.step_id, plan=job.plan, actor=VERIFIER, reason=message)


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
    verdicts: list[StepVerdict] = []
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
            StepVerdict(
                step_id,
                True if all_ok else (False if some_bad else None),
                "; ".join(details),
                complete=all_ok,
            )
        )
    with transaction.atomic():
        evidence_record(plan=plan, check=PASTED, verdicts=verdicts)
        activity_log(
            plan=plan,
            actor=actor,
            action=ActivityAction.EVIDENCE_PASTED,
            details={"recognised": len(report.machines), "unrecognised": len(report.unrecognised)},
        )
    completed = steps_complete_where_ok(
        plan=plan, verdicts=verdicts, actor=actor or "pasted evidence"
    )
    return PasteResult(matches=matches, completed=completed, unrecognised=report.unrecognised)
