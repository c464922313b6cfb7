"""The readiness report's writes (product.md §5.6): the findings evaluated from the plan's input
and the latest scan, a person accepting an inhibitor with a reason, asking for a scan of the live
server (a job through the outbox), and recording what the scan read."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from upgrade_planner.domain import readiness
from upgrade_planner.domain.readiness import MachineFacts, NodeFacts, ReadinessInput, ScanFacts
from upgrade_planner.domain.vocabulary import ActivityAction, FindingSeverity, FindingState
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans.models import Activity, Finding, Job, Plan, Step
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.outbox import jobs_publish
from upgrade_planner.plans.services.text import (
    ACTOR_MAX,
    NUL_REFUSED,
    REASON_MAX,
    actor_name,
    has_nul,
    too_long,
)

READINESS_SCAN_CHECK = "readiness-scan"


class FindingNotFound(Exception):
    """No finding with that code in this plan."""


class FindingNotAcceptable(Exception):
    """The acceptance cannot be recorded; `message` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ScanNotPossible(Exception):
    """Nothing to scan: no server URL with an API key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- What the domain is told --------------------------------------------------------------------


def scan_facts_of(stored: dict[str, Any] | None) -> ScanFacts | None:
    """The ScanFacts saved (as JSON) on the installation, or None before any scan."""
    if not stored:
        return None
    expires = stored.get("maintenance_expires")
    nodes = stored.get("nodes")
    machines = stored.get("machines")
    return ScanFacts(
        server_version=stored.get("server_version", ""),
        os_version=stored.get("os_version", ""),
        maintenance_expires=datetime.date.fromisoformat(expires) if expires else None,
        nodes=None
        if nodes is None
        else tuple(NodeFacts(node["name"], bool(node["running"])) for node in nodes),
        machines=None
        if machines is None
        else tuple(
            MachineFacts(m["name"], m.get("version", ""), m.get("os", "")) for m in machines
        ),
        unknown=tuple(stored.get("unknown", ())),
    )


def readiness_input_of(plan: Plan) -> ReadinessInput:
    """What the readiness rules are told of `plan`: its saved input, path and latest scan."""
    installation: Installation = plan.installation
    tentacles = Tentacle.objects.of_installation(installation.pk).values_list(
        "name", "version", "os"
    )
    return ReadinessInput(
        server_version=installation.server_version,
        target_version=installation.target_version,
        hops=tuple(
            readiness.HopRef(index, hop["from"], hop["to"]) for index, hop in enumerate(plan.path)
        ),
        today=timezone.now().date(),
        server_os=installation.server_os,
        dotnet_version=installation.dotnet_version,
        sql_server_version=installation.sql_server_version,
        license_maintenance_expires=installation.license_maintenance_expires,
        ha_nodes=tuple(installation.ha_nodes),
        features_in_use=tuple(installation.features_in_use),
        tentacles=tuple(MachineFacts(*row) for row in tentacles),
        scan=scan_facts_of(installation.scan_facts),
    )


# --- Evaluating ---------------------------------------------------------------------------------


def readiness_evaluate(*, plan: Plan) -> list[Finding]:
    """Inside the caller's transaction (which holds `plan_lock`): make the plan's findings match
    what the rules find now. A finding found again keeps its state (an accepted one stays
    accepted; a cleared one opens again); one no longer found is cleared; a new one is open.
    Inhibitors guard the server upgrade steps of their hop."""
    found = readiness.evaluate(readiness_input_of(plan))
    existing = {finding.code: finding for finding in Finding.objects.filter(plan=plan)}
    now = timezone.now()
    kept: list[Finding] = []
    for position, result in enumerate(found):
        finding = existing.pop(result.code, None) or Finding(plan=plan, code=result.code)
        if finding.state == FindingState.CLEARED or finding.pk is None:
            finding.state = FindingState.OPEN
            finding.cleared_at = None
        finding.position = position
        finding.severity = result.severity
        finding.text = result.text
        finding.what_to_do = result.what_to_do
        finding.source = result.source
        finding.subjects = list(result.subjects)
        finding.save()
        guards: list[Step] = []
        for guard in result.guards:
            guards += Step.objects.of_plan(plan).filter(hop=guard.hop, kind__in=guard.kinds)
        finding.guards.set(guards)
        kept.append(finding)
    for position, gone in enumerate(existing.values(), start=len(found)):
        gone.position = position
        if gone.state == FindingState.OPEN:
            gone.state = FindingState.CLEARED
            gone.cleared_at = now
        gone.save(update_fields=["position", "state", "cleared_at", "updated_at"])
        gone.guards.clear()
    return kept


def finding_accept(*, plan: Plan, code: str, reason: str, actor: str = "") -> Finding:
    """A person accepts a finding with a reason: an inhibitor no longer holds back the steps
    it guards. Recorded in the activity log."""
    reason = reason.strip()
    if not reason:
        raise FindingNotAcceptable("Say why you accept this finding: a reason is required.")
    if message := too_long(reason, limit=REASON_MAX, what="The reason"):
        raise FindingNotAcceptable(message)
    if has_nul(reason):
        raise FindingNotAcceptable(f"The reason: {NUL_REFUSED}")
    if message := too_long(actor.strip(), limit=ACTOR_MAX, what="The name"):
        raise FindingNotAcceptable(message)
    with transaction.atomic():
        plan_lock(plan=plan)
        finding = Finding.objects.filter(plan=plan, code=code).first()
        if finding is None:
            raise FindingNotFound(f"No finding {code!r} in this plan.")
        if finding.state == FindingState.CLEARED:
            raise FindingNotAcceptable(
                f"“{finding.code}” is already cleared: there is nothing to accept."
            )
        name = actor_name(actor)
        previous = finding.state
        finding.state = FindingState.ACCEPTED
        finding.accepted_by = name
        finding.accepted_reason = reason
        finding.accepted_at = timezone.now()
        finding.save()
        Activity.objects.create(
            plan=plan,
            actor=name,
            action=ActivityAction.FINDING_ACCEPTED,
            from_state=previous,
            to_state=finding.state,
            reason=reason,
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
            details={"code": finding.code, "severity": finding.severity},
        )
    return finding


def open_inhibitors(step: Step) -> list[Finding]:
    """The open inhibitors holding `step` back, in the report's order."""
    return list(Finding.objects.inhibiting(step.pk).only("code", "text", "what_to_do"))


# --- Scanning -----------------------------------------------------------------------------------


def readiness_scan_request(*, plan: Plan) -> list[Job]:
    """Queue a read-only scan of the live server (its URL and API key as given), reusing one
    still open, sent once this transaction commits. ScanNotPossible without a URL and key."""
    installation = plan.installation
    if not installation.old_server_url or not installation.old_server_api_key:
        raise ScanNotPossible(
            "Give the server's URL and an API key (of a user who may view the server's "
            "configuration) to scan it; without them the report uses what the plan was told."
        )
    with transaction.atomic():
        plan_lock(plan=plan)
        job = Job.objects.open().filter(plan=plan, kind=READINESS_SCAN_CHECK).first()
        if job is None:
            job = Job.objects.create(
                plan=plan, kind=READINESS_SCAN_CHECK, max_attempts=settings.JOB_MAX_ATTEMPTS
            )
        job_id = job.pk
        transaction.on_commit(lambda: jobs_publish(job_ids=[job_id]))
    return [job]


def readiness_scan_record(*, plan: Plan, facts: dict[str, Any], actor: str = "") -> list[Finding]:
    """What a scan read (ScanFacts as JSON): saved on the installation, the findings evaluated
    again (a finding the new evidence no longer supports is cleared), in one transaction."""
    with transaction.atomic():
        plan_lock(plan=plan)
        now = timezone.now()
        Installation.objects.filter(pk=plan.installation_id).update(
            scan_facts=facts, scanned_at=now
        )
        plan.installation.scan_facts = facts
        plan.installation.scanned_at = now
        before = dict(Finding.objects.filter(plan=plan).values_list("code", "state"))
        findings = readiness_evaluate(plan=plan)
        after = dict(Finding.objects.filter(plan=plan).values_list("code", "state"))
        cleared = sorted(
            code
            for code, state in after.items()
            if state == FindingState.CLEARED and before.get(code) != FindingState.CLEARED
        )
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action=ActivityAction.READINESS_SCANNED,
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
            details={
                "findings": len(findings),
                "inhibitors": sum(f.severity == FindingSeverity.INHIBITOR for f in findings),
                "cleared": cleared,
            },
        )
    return findings
