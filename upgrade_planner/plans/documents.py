"""The plan document (product contract §5.2), built with a fixed number of queries."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from upgrade_planner.domain.inventory import COLUMNS
from upgrade_planner.domain.schedule import Task
from upgrade_planner.domain.vocabulary import FindingState, StepState
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans.forecasts import (
    forecast_of,
    iso,
    keep_schedule,
    schedule_document,
    schedule_keys,
    tasks_from_rows,
    usable_schedule,
)
from upgrade_planner.plans.models import Finding, Plan, Step, StepDependency

logger = logging.getLogger(__name__)

# The check that probes Tentacle ports (plans.jobs.CHECKS), and what read-only viewers see of
# its findings.
PORT_PROBE_CHECK = "tentacle-ports"
PORT_PROBE_OUTCOMES = {
    True: "Its Tentacle port accepts connections.",
    False: "Its Tentacle port did not accept a connection.",
}


def evidence_shown(entry: dict[str, Any], *, can_edit: bool) -> dict[str, Any]:
    """An evidence entry as a reader of the plan sees it. Read-only viewers see a port probe's
    outcome, not what it found out about the network (host names, ports, connection errors):
    a read-only link travels further than the people who run the servers."""
    if can_edit or entry.get("check") != PORT_PROBE_CHECK:
        return entry
    ok = entry.get("ok")
    outcome = (
        PORT_PROBE_OUTCOMES[ok] if isinstance(ok, bool) else "Its Tentacle port was not checked."
    )
    return {**entry, "detail": outcome}


def etag_for(plan: Plan) -> str:
    return etag_of(plan.id, plan.version)


def etag_of(plan_id: Any, version: int) -> str:
    return f'"{plan_id.hex[:12]}-{version}"'


def instance_document(
    installation: Installation, tentacles: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "server_version": installation.server_version,
        "target_version": installation.target_version,
        "can_provision_new_server": installation.can_provision_new_server,
        "sql_server_ready": installation.sql_server_ready,
        "uses_builtin_feed": installation.uses_builtin_feed,
        "backup_size_mb": installation.backup_size_mb,
        "document_count": installation.document_count,
        "history_days_to_keep": installation.history_days_to_keep,
        "polling_port": installation.polling_port,
        "old_server_url": installation.old_server_url,
        "new_server_url": installation.new_server_url,
        "ha_nodes": list(installation.ha_nodes),
        "server_os": installation.server_os,
        "dotnet_version": installation.dotnet_version,
        "sql_server_version": installation.sql_server_version,
        "license_maintenance_expires": installation.license_maintenance_expires.isoformat()
        if installation.license_maintenance_expires
        else None,
        "features_in_use": list(installation.features_in_use),
        "tentacles": tentacles,
    }


def finding_document(finding: Finding, guards: list[str]) -> dict[str, Any]:
    accepted = finding.state == FindingState.ACCEPTED
    return {
        "code": finding.code,
        "severity": finding.severity,
        "state": finding.state,
        "text": finding.text,
        "what_to_do": finding.what_to_do,
        "source": finding.source,
        "subjects": list(finding.subjects),
        "guards": guards,
        "accepted_by": finding.accepted_by if accepted else None,
        "accepted_reason": finding.accepted_reason if accepted else None,
        "accepted_at": iso(finding.accepted_at) if accepted else None,
    }


def readiness_document(plan: Plan) -> dict[str, Any]:
    """The readiness report (product.md §5.6) in two queries, whatever the plan's size."""
    findings = list(Finding.objects.of_plan(plan))
    guards: dict[int, list[str]] = {}
    for finding_id, step_id in Finding.guards.through.objects.filter(
        finding__plan=plan
    ).values_list("finding_id", "step_id"):
        guards.setdefault(finding_id, []).append(str(step_id))
    scanned_at = plan.installation.scanned_at
    return {
        "scanned_at": iso(scanned_at),
        "findings": [finding_document(f, guards.get(f.pk, [])) for f in findings],
    }


def dependency_map(plan: Plan) -> dict[Any, list[str]]:
    """Step id → ids of its prerequisites, in one query."""
    prerequisites: dict[Any, list[str]] = defaultdict(list)
    pairs = StepDependency.objects.filter(plan=plan).values_list("step_id", "prerequisite_id")
    for step_id, prerequisite_id in pairs:
        prerequisites[step_id].append(str(prerequisite_id))
    return prerequisites


def dependency_ids(step: Step) -> list[str]:
    """The ids of `step`'s prerequisites: as the transition that moved it read them, else in
    one query."""
    if step.prerequisite_ids is not None:
        return list(step.prerequisite_ids)
    return [
        str(pk)
        for pk in StepDependency.objects.filter(step=step).values_list("prerequisite_id", flat=True)
    ]


def step_document(step: Step, depends_on: list[str]) -> dict[str, Any]:
    return {
        "id": str(step.id),
        "key": step.key,
        "kind": step.kind,
        "title": step.title,
        "hop": step.hop,
        "phase": step.phase,
        "tentacle": step.tentacle or None,
        "tentacles": step.tentacles,
        "optional": step.optional,
        "canary": step.canary,
        "method": step.method or None,
        "point_of_no_return": step.point_of_no_return,
        "fleet_gate": step.fleet_gate,
        "state": step.state,
        "depends_on": depends_on,
        "source": step.source,
        "detail": step.detail,
        "evidence": step.evidence,
        "estimate_minutes": step.estimate_minutes,
        "estimate_basis": step.estimate_basis,
        "assignee": step.assignee or None,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
    }


def progress_of(states: list[str]) -> dict[str, int]:
    return progress_of_counts(Counter(states))


def progress_of_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """The document's `progress` from the number of steps in each state."""
    return {
        "total": sum(counts.values()),
        "done": counts.get(StepState.DONE, 0),
        "skipped": counts.get(StepState.SKIPPED, 0),
        "blocked": counts.get(StepState.BLOCKED, 0),
        "ready": counts.get(StepState.READY, 0),
        "in_progress": counts.get(StepState.IN_PROGRESS, 0),
        "failed": counts.get(StepState.FAILED, 0),
    }


TENTACLE_FIELDS = COLUMNS  # a Tentacle reads back in the shape it was given
STEP_FIELDS = (
    "id",
    "key",
    "kind",
    "title",
    "hop",
    "phase",
    "tentacle",
    "tentacles",
    "optional",
    "canary",
    "method",
    "point_of_no_return",
    "fleet_gate",
    "state",
    "source",
    "detail",
    "evidence",
    "estimate_minutes",
    "estimate_basis",
    "assignee",
    "started_at",
    "finished_at",
)


class PlanRows(NamedTuple):
    """A plan's Tentacle rows (TENTACLE_FIELDS) and current step rows (STEP_FIELDS, `id` a
    UUID) in order, and each step's prerequisites: as `plan_document` reads them, or as a new
    plan has just written them."""

    tentacles: list[dict[str, Any]]
    steps: Iterable[dict[str, Any]]
    prerequisites: dict[Any, list[str]]


def plan_document(
    plan: Plan, *, can_edit: bool = True, rows: PlanRows | None = None
) -> dict[str, Any]:
    """The whole plan in four queries (two with `rows`). `plan.installation` should already be
    loaded. Without `can_edit` (read through a read-only link) as read-only viewers may see
    it: see evidence_shown.

    Reads plain rows rather than model instances: a 5,000-Tentacle plan has ~10,000 rows.
    """
    document, tasks = _document_and_tasks(plan, can_edit=can_edit, rows=rows)
    document["schedule"] = schedule_document(plan, forecast_of(plan, tasks))
    return document


def _document_and_tasks(
    plan: Plan, *, can_edit: bool, rows: PlanRows | None = None
) -> tuple[dict[str, Any], list[Task]]:
    """The plan document with its `schedule` left as None, and the tasks it is forecast from."""
    if rows is None:
        rows = PlanRows(
            tentacles=list(
                Tentacle.objects.filter(installation_id=plan.installation_id)
                .order_by("position")
                .values(*TENTACLE_FIELDS)
            ),
            prerequisites=dependency_map(plan),
            steps=Step.objects.current()
            .filter(plan=plan)
            .order_by("position")
            .values(*STEP_FIELDS),
        )
    tentacles, step_rows, prerequisites = rows
    steps = [_step_row(row, prerequisites, can_edit=can_edit) for row in step_rows]
    # The forecast reads the rows as they are stored, before they are dressed for JSON.
    tasks = tasks_from_rows(steps, {row["id"]: row["depends_on"] for row in steps})
    for row in steps:
        _dress(row)
    document = _document(
        plan, tentacles=tentacles, progress=progress_of([step["state"] for step in steps])
    )
    document["steps"] = steps
    return document, tasks


def _step_row(
    row: dict[str, Any], prerequisites: Mapping[Any, list[str]], *, can_edit: bool
) -> dict[str, Any]:
    """A row of STEP_FIELDS with its id as text and its prerequisites, and its evidence as
    the reader may see it."""
    step_id = row["id"]
    row["id"] = str(step_id)
    row["depends_on"] = prerequisites.get(step_id, [])
    if not can_edit:
        row["evidence"] = [evidence_shown(entry, can_edit=False) for entry in row["evidence"]]
    return row


def _dress(row: dict[str, Any]) -> None:
    """A step row's stored values as the document writes them."""
    row["tentacle"] = row["tentacle"] or None
    row["method"] = row["method"] or None
    row["assignee"] = row["assignee"] or None
    row["started_at"] = iso(row["started_at"])
    row["finished_at"] = iso(row["finished_at"])


def _document(
    plan: Plan, *, tentacles: list[dict[str, Any]], progress: dict[str, int]
) -> dict[str, Any]:
    """The document's keys in order, with its `schedule` and `steps` left as None."""
    return {
        "id": str(plan.id),
        "name": plan.name,
        "version": plan.version,
        "content_version": plan.content_version,
        "created_at": plan.created_at.isoformat().replace("+00:00", "Z"),
        "instance": instance_document(plan.installation, tentacles),
        "approach": plan.approach or None,
        "recommended_approach": plan.recommended_approach or None,
        "approach_overridden": plan.approach_overridden,
        "reasons": plan.reasons,
        "alternatives": plan.alternatives,
        "assumptions": plan.assumptions,
        "path": plan.path,
        "warnings": plan.warnings,
        "migration": plan.migration,
        "canary": plan.canary,
        "progress": progress,
        "estimates": plan.estimates,
        "schedule": None,
        "readiness": readiness_document(plan),
        "rehearsal_of": str(plan.rehearsal_of_id) if plan.rehearsal_of_id else None,
        "latest_rehearsal": str(plan.latest_rehearsal_id) if plan.latest_rehearsal_id else None,
        "steps": None,
    }


# --- The document cached per plan version ------------------------------------------------------
# A plan's document changes only with its version (the ETag), but for its `schedule`, whose
# forecast is made from the clock as well as the steps. So the document is kept per plan,
# version and kind of link (read-only links see less evidence), encoded as JSON around the
# schedule, with the tasks the forecast is made from: every reader of a version after the first
# costs one cache read and a forecast, not four queries and the encoding of every step. Keys hold
# the plan's id, never a token. A cache outage only means building the document again.

DOCUMENT_SECONDS = 300
# Part of every key: a change to the document's shape must not be answered from the cache of
# the code before it.
DOCUMENT_FORMAT = 1


@dataclass(frozen=True)
class EncodedDocument:
    """The plan document of `version` as JSON, split around its `schedule`, and what the
    schedule is computed from at each read."""

    version: int
    before_schedule: bytes
    after_schedule: bytes
    tasks: tuple[Task, ...]
    window_start: datetime | None
    window_end: datetime | None
    people_at_once: int

    def body(self, *, now: datetime | None = None) -> bytes:
        """The document as JsonResponse(plan_document(...)) would encode it at `now`."""
        schedule = schedule_document(self, forecast_of(self, self.tasks, now=now))
        return self.before_schedule + _json(schedule) + self.after_schedule


def document_key(plan_id: uuid.UUID, version: int, *, can_edit: bool) -> str:
    kind = "edit" if can_edit else "view"
    return f"plan-document:{DOCUMENT_FORMAT}:{plan_id.hex}:{version}:{kind}"


def encoded_plan_document(plan_id: uuid.UUID, version: int, *, can_edit: bool) -> EncodedDocument:
    """The document of plan `plan_id` at `version` from the cache; else read from the database
    (at whatever version the plan is at by then: see `.version`) and kept for the next reader.
    Raises Plan.DoesNotExist for a plan deleted since its link was looked up."""
    key = document_key(plan_id, version, can_edit=can_edit)
    try:
        cached = cache.get(key)
    except Exception as error:
        logger.warning("plan document cache unavailable: %s", error)
        cached = None
    if isinstance(cached, EncodedDocument):
        return cached
    plan = Plan.objects.select_related("installation").get(pk=plan_id)
    encoded = encode_plan_document(plan, can_edit=can_edit)
    try:
        cache.set(document_key(plan_id, plan.version, can_edit=can_edit), encoded, DOCUMENT_SECONDS)
        # Nobody asks for the version before once this one is read (the lookup gives the
        # newest), and a large plan's document runs to megabytes: one version per plan and kind
        # of link stays in the cache, not one for each change of the last few minutes.
        cache.delete(document_key(plan_id, plan.version - 1, can_edit=can_edit))
    except Exception as error:
        logger.warning("plan document cache unavailable: %s", error)
    return encoded


def encode_plan_document(plan: Plan, *, can_edit: bool) -> EncodedDocument:
    """plan_document(plan, can_edit=can_edit), encoded but for its schedule."""
    document, tasks = _document_and_tasks(plan, can_edit=can_edit)
    before_text, after_text = _around_schedule(document)
    return EncodedDocument(
        version=plan.version,
        before_schedule=before_text,
        after_schedule=after_text,
        tasks=tuple(tasks),
        window_start=plan.window_start,
        window_end=plan.window_end,
        people_at_once=plan.people_at_once,
    )


def _around_schedule(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """The JSON text of `document` before and after the value of its `schedule`."""
    keys = list(document)
    at = keys.index("schedule")
    before = {key: document[key] for key in keys[:at]}
    after = {key: document[key] for key in keys[at + 1 :]}
    # json.dumps writes an object as "{" + '"key": value' joined by ", " + "}": the halves
    # around the schedule, joined back with it, are byte for byte the whole document's text.
    before_text = _json(before)[:-1] + (b", " if before else b"") + b'"schedule": '
    after_text = (b", " + _json(after)[1:]) if after else b"}"
    return before_text, after_text


# --- A page of the steps -----------------------------------------------------------------------
# The whole document of a 20,000-Tentacle plan runs to tens of megabytes. A reader that asks for
# a page gets the same document with `steps` cut to that page, `instance.tentacles` cut to the
# Tentacles those steps are for, and `steps_page` saying where it is; `progress` and `schedule`
# still cover the whole plan. It costs a fixed number of queries, whatever the plan's size, and
# is kept per plan version, kind of link, page and size; its schedule is made at most once per
# plan version and minute, whichever page is read (`forecasts.usable_schedule`).

STEPS_PAGE_SIZE = 200
STEPS_PAGE_MAX = 1000
# Far past the last page of the largest plan, and an offset the database can still count to.
STEPS_PAGE_LAST = 1_000_000
PAGE_SECONDS = 120


class StepsPage(NamedTuple):
    number: int  # from 1
    size: int


@dataclass(frozen=True)
class EncodedPage:
    """A page of the plan document of `version` as JSON, split around its `schedule`."""

    version: int
    before_schedule: bytes
    after_schedule: bytes

    def body(self, schedule: dict[str, Any]) -> bytes:
        return self.before_schedule + _json(schedule) + self.after_schedule


def page_key(plan_id: uuid.UUID, version: int, *, can_edit: bool, page: StepsPage) -> str:
    kind = "edit" if can_edit else "view"
    return f"plan-page:{DOCUMENT_FORMAT}:{plan_id.hex}:{version}:{kind}:{page.number}:{page.size}"


def paged_plan_document(plan: Plan, *, can_edit: bool, page: StepsPage) -> dict[str, Any]:
    """The plan document with one page of its steps (see above), its `schedule` left as None:
    in six queries whatever the plan's size. `plan.installation` should already be loaded."""
    steps = Step.objects.of_plan(plan)
    counts = dict(
        steps.order_by()
        .values_list("state")
        .annotate(n=models.Count("id"))
        .values_list("state", "n")
    )
    total = sum(counts.values())
    start = (page.number - 1) * page.size
    rows = list(steps.order_by("position").values(*STEP_FIELDS)[start : start + page.size])
    prerequisites: dict[Any, list[str]] = defaultdict(list)
    if rows:
        pairs = StepDependency.objects.filter(
            plan=plan, step_id__in=[row["id"] for row in rows]
        ).values_list("step_id", "prerequisite_id")
        for step_id, prerequisite_id in pairs:
            prerequisites[step_id].append(str(prerequisite_id))
    names = {row["tentacle"] for row in rows if row["tentacle"]}
    tentacles = (
        list(
            Tentacle.objects.filter(installation_id=plan.installation_id, name__in=names)
            .order_by("position")
            .values(*TENTACLE_FIELDS)
        )
        if names
        else []
    )
    document = _document(plan, tentacles=tentacles, progress=progress_of_counts(counts))
    document["steps_page"] = {
        "number": page.number,
        "size": page.size,
        "pages": max(1, -(-total // page.size)),
        "steps_total": total,
    }
    document["steps"] = [_step_row(row, prerequisites, can_edit=can_edit) for row in rows]
    for row in document["steps"]:
        _dress(row)
    return document


def steps_page_body(
    plan_id: uuid.UUID, version: int, *, can_edit: bool, page: StepsPage
) -> tuple[int, bytes]:
    """The version and JSON body of a page of plan `plan_id`'s document at `version`, from the
    cache; else read from the database (at whatever version the plan is at by then) and kept.
    Raises Plan.DoesNotExist for a plan deleted since its link was looked up."""
    wanted = page_key(plan_id, version, can_edit=can_edit, page=page)
    now = timezone.now()
    try:
        found = cache.get_many([wanted, *schedule_keys(plan_id, version, now=now)])
    except Exception as error:
        logger.warning("plan document cache unavailable: %s", error)
        found = {}
    encoded = found.get(wanted)
    schedule = usable_schedule(found, plan_id, version, now=now)
    if isinstance(encoded, EncodedPage) and schedule is not None:
        return encoded.version, encoded.body(schedule)
    plan = Plan.objects.select_related("installation").get(pk=plan_id)
    if not (isinstance(encoded, EncodedPage) and encoded.version == plan.version):
        document = paged_plan_document(plan, can_edit=can_edit, page=page)
        encoded = EncodedPage(plan.version, *_around_schedule(document))
        try:
            cache.set(
                page_key(plan_id, plan.version, can_edit=can_edit, page=page), encoded, PAGE_SECONDS
            )
        except Exception as error:
            logger.warning("plan document cache unavailable: %s", error)
    if schedule is None or plan.version != version:
        schedule = keep_schedule(plan)
    return encoded.version, encoded.body(schedule)


def _json(data: Any) -> bytes:
    """As JsonResponse encodes its data."""
    return json.dumps(data, cls=DjangoJSONEncoder).encode()
