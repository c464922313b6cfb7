"""Every write to plans goes through here: one transaction per service."""

from __future__ import annotations

import dataclasses
import datetime
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import models, transaction
from django.db.models import TextChoices
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from upgrade_planner.installations import api_keys, inventory, inventory_sync
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans import access, planner
from upgrade_planner.plans.bulk import insert_rows, update_rows
from upgrade_planner.plans.models import (
    SATISFIED_STATES,
    Activity,
    Approach,
    FetchState,
    InventoryFetch,
    LinkKind,
    Plan,
    PlanLink,
    Step,
    StepDependency,
    StepState,
    hash_token,
    view_token_from_seed,
)

BULK_BATCH = 2000


class PlanInputInvalid(Exception):
    """The input cannot be planned; `errors` maps field names to messages for users."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class CreatedPlan:
    plan: Plan
    edit_token: str
    view_token: str


def planner_settings() -> planner.PlannerSettings:
    return planner.PlannerSettings(handful_threshold=settings.PLANNER_HANDFUL_THRESHOLD)


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def plan_create(
    *,
    name: str,
    installation: planner.InstallationInput,
    actor: str = "",
    old_server_api_key: str = "",
    new_server_api_key: str = "",
) -> CreatedPlan:
    """Plan the upgrade for `installation` and save the installation, its Tentacles, the plan,
    its steps and dependencies and its two links, all or nothing."""
    try:
        result = planner.make_plan(installation, planner_settings())
    except planner.PlanningError as error:
        raise PlanInputInvalid({error.field: [error.message]}) from error

    edit_token, view_seed = new_token(), new_token()
    view_token = view_token_from_seed(view_seed)
    with transaction.atomic():
        saved_installation, saved_tentacles = _installation_save(
            name=name,
            installation=installation,
            keys=(old_server_api_key.strip(), new_server_api_key.strip()),
        )
        plan = Plan(installation=saved_installation, name=name)
        _plan_fields_set(plan, result)
        plan.save()
        PlanLink.objects.bulk_create(
            [
                PlanLink(plan=plan, kind=LinkKind.EDIT, token_hash=hash_token(edit_token)),
                PlanLink(
                    plan=plan,
                    kind=LinkKind.VIEW,
                    token_hash=hash_token(view_token),
                    seed=view_seed,
                ),
            ]
        )
        _steps_reconcile(
            plan=plan,
            planned_steps=result.steps,
            tentacles={t.name: t for t in saved_tentacles},
            new=True,
        )
        Activity.objects.create(
            plan=plan,
            actor=actor,
            action="plan-created",
            plan_version=plan.version,
            details={"approach": plan.approach, "steps": len(result.steps)},
        )
    return CreatedPlan(plan=plan, edit_token=edit_token, view_token=view_token)


@dataclass(frozen=True)
class TentacleRef:
    """What step rows need to know of a saved Tentacle."""

    id: uuid.UUID
    name: str
    environments: list[str]
    roles: list[str]
    communication_style: str


TENTACLE_COLUMNS = [
    "id", "installation", "position", "name", "hostname", "port", "version",
    "communication_style", "environments", "roles", "os", "service_account",
    "restricted_permissions", "online",
]  # fmt: skip


def _installation_save(
    *, name: str, installation: planner.InstallationInput, keys: tuple[str, str]
) -> tuple[Installation, list[TentacleRef]]:
    saved = Installation.objects.create(
        name=name,
        server_version=installation.server_version.strip(),
        target_version=installation.target_version.strip(),
        can_provision_new_server=installation.can_provision_new_server,
        sql_server_ready=installation.sql_server_ready,
        uses_builtin_feed=installation.uses_builtin_feed,
        backup_size_mb=installation.backup_size_mb,
        document_count=installation.document_count,
        history_days_to_keep=installation.history_days_to_keep,
        polling_port=installation.polling_port,
        old_server_url=installation.old_server_url,
        new_server_url=installation.new_server_url,
        old_server_api_key=api_keys.encrypt(keys[0]),
        new_server_api_key=api_keys.encrypt(keys[1]),
    )
    tentacles = [
        TentacleRef(
            id=uuid.uuid4(),
            name=tentacle.name,
            environments=list(tentacle.environments),
            roles=list(tentacle.roles),
            communication_style=tentacle.communication_style,
        )
        for tentacle in installation.tentacles
    ]
    insert_rows(
        Tentacle,
        TENTACLE_COLUMNS,
        (
            (
                ref.id,
                saved.pk,
                position,
                t.name,
                t.hostname,
                t.port,
                t.version,
                t.communication_style,
                ref.environments,
                ref.roles,
                t.os,
                t.service_account,
                t.restricted_permissions,
                t.online,
            )
            for position, (ref, t) in enumerate(zip(tentacles, installation.tentacles, strict=True))
        ),
    )
    return saved, tentacles


def step_labels(tentacles: Sequence[TentacleRef | Tentacle]) -> str:
    labels: set[str] = set()
    for tentacle in tentacles:
        labels.update(f"env={env}" for env in tentacle.environments)
        labels.update(f"role={role}" for role in tentacle.roles)
        labels.add(f"style={tentacle.communication_style}")
    return "|" + "|".join(sorted(labels)) + "|" if labels else ""


# --- Step transitions -----------------------------------------------------------------------


class StepNotFound(Exception):
    """No current step with that id in this plan."""


class TransitionRefused(Exception):
    """A step cannot make this move. `code` is the API's error, `message` is for people."""

    code = "refused"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class StepBlocked(TransitionRefused):
    code = "blocked"


class StepNotSkippable(TransitionRefused):
    code = "not-skippable"


class StepHasStartedDependents(TransitionRefused):
    code = "has-started-dependents"


class ReasonRequired(TransitionRefused):
    code = "reason-required"


class InvalidTransition(TransitionRefused):
    code = "invalid-transition"


class ConfirmationRequired(TransitionRefused):
    code = "confirmation-required"


@dataclass(frozen=True)
class Rule:
    """What one action may do (product.md §4)."""

    action: str
    allowed_from: frozenset[StepState]
    to_state: StepState
    needs_reason: bool = False
    check_prerequisites: bool = False
    check_skippable: bool = False
    check_dependents: bool = False


RULES = {
    "start": Rule(
        "start", frozenset({StepState.READY}), StepState.IN_PROGRESS, check_prerequisites=True
    ),
    "complete": Rule(
        "complete",
        frozenset({StepState.READY, StepState.IN_PROGRESS, StepState.FAILED}),
        StepState.DONE,
        check_prerequisites=True,
    ),
    "skip": Rule(
        "skip",
        frozenset({StepState.BLOCKED, StepState.READY, StepState.IN_PROGRESS, StepState.FAILED}),
        StepState.SKIPPED,
        needs_reason=True,
        check_skippable=True,
    ),
    "reopen": Rule(
        "reopen",
        frozenset({StepState.DONE, StepState.SKIPPED, StepState.FAILED}),
        StepState.READY,
        needs_reason=True,
        check_dependents=True,
    ),
    "fail": Rule(
        "fail",
        frozenset({StepState.READY, StepState.IN_PROGRESS, StepState.DONE}),
        StepState.FAILED,
        needs_reason=True,
    ),
}


def step_start(*, step_id: uuid.UUID, plan: Plan, actor: str = "", confirmed: bool = True) -> Step:
    """`confirmed` is False when a person has not yet acknowledged a point of no return."""
    return _transition(RULES["start"], plan=plan, step_id=step_id, actor=actor, confirmed=confirmed)


def step_complete(
    *, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str = "", confirmed: bool = True
) -> Step:
    return _transition(
        RULES["complete"],
        plan=plan,
        step_id=step_id,
        actor=actor,
        reason=reason,
        confirmed=confirmed,
    )


def step_skip(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return _transition(RULES["skip"], plan=plan, step_id=step_id, actor=actor, reason=reason)


def step_reopen(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return _transition(RULES["reopen"], plan=plan, step_id=step_id, actor=actor, reason=reason)


def step_fail(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return _transition(RULES["fail"], plan=plan, step_id=step_id, actor=actor, reason=reason)


STEP_ACTIONS: dict[str, Callable[..., Step]] = {
    "start": step_start,
    "complete": step_complete,
    "skip": step_skip,
    "reopen": step_reopen,
}


@dataclass(frozen=True)
class BulkOutcome:
    changed: int
    refusals: list[str]


def steps_bulk(
    *, plan: Plan, step_ids: list[uuid.UUID], action: str, actor: str = "", reason: str = ""
) -> BulkOutcome:
    """Apply one action to many steps (e.g. exclude 18 retired machines). Each step moves in
    its own transaction under the same rules as a single click; refusals are reported."""
    service = STEP_ACTIONS[action]
    changed, refusals = 0, []
    for step_id in step_ids:
        kwargs: dict[str, object] = {"step_id": step_id, "plan": plan, "actor": actor}
        if action in {"skip", "reopen"}:
            kwargs["reason"] = reason
        try:
            service(**kwargs)
        except TransitionRefused as refused:
            refusals.append(refused.message)
        except StepNotFound:
            refusals.append("A selected step is no longer part of this plan.")
        else:
            changed += 1
    return BulkOutcome(changed=changed, refusals=refusals)


def _transition(
    rule: Rule,
    *,
    plan: Plan,
    step_id: uuid.UUID,
    actor: str,
    reason: str = "",
    confirmed: bool = True,
) -> Step:
    action, to_state = rule.action, rule.to_state
    reason = reason.strip()
    if rule.needs_reason and not reason:
        raise ReasonRequired(f"Say why you {action} this step: a reason is required.")
    with transaction.atomic():
        # Taking the plan's version first locks the plan (row lock on PostgreSQL, the write
        # lock on SQLite), so concurrent transitions of one plan run one after another.
        Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
        plan.refresh_from_db(fields=["version"])
        step = Step.objects.current().filter(plan=plan, pk=step_id).first()
        if step is None:
            raise StepNotFound(f"No step {step_id} in this plan.")
        from_state = StepState(step.state)
        if rule.check_prerequisites:
            waiting = unsatisfied_prerequisites(step)
            if waiting:
                raise StepBlocked(
                    f"“{step.title}” is blocked. {waiting_for_text(waiting)}",
                    blocked_by=[str(s.id) for s in waiting],
                )
        if step.point_of_no_return and not confirmed and from_state != StepState.IN_PROGRESS:
            raise ConfirmationRequired(
                f"“{step.title}” is a point of no return: tick the box to confirm you "
                "understand there is no way back, then try again."
            )
        if from_state not in rule.allowed_from:
            raise InvalidTransition(
                f"“{step.title}” is {from_state.label.lower()}; it cannot {action} from there."
            )
        if rule.check_skippable and not (step.optional or step.tentacle):
            raise StepNotSkippable(
                f"“{step.title}” is required and cannot be skipped. Only optional steps and "
                "per-Tentacle steps (to exclude a machine) can be skipped."
            )
        if rule.check_dependents:
            started = list(
                Step.objects.current()
                .filter(
                    pk__in=StepDependency.objects.filter(prerequisite=step).values("step_id"),
                    state__in=[StepState.IN_PROGRESS, StepState.DONE],
                )
                .only("id", "title", "kind", "tentacle")
            )
            if started:
                raise StepHasStartedDependents(
                    f"“{step.title}” cannot be reopened while steps that depend on it are "
                    f"started or done: {summarise_steps(started)}. Reopen those first.",
                    dependents=[str(s.id) for s in started],
                )
        if to_state == StepState.READY and unsatisfied_prerequisites(step):
            to_state = StepState.BLOCKED
        step.state = to_state
        step.save(update_fields=["state", "updated_at"])
        _dependents_refresh(step)
        if to_state == StepState.IN_PROGRESS:
            from upgrade_planner.plans.jobs import jobs_for_started_step  # jobs uses services

            jobs_for_started_step(plan=plan, step=step)
        delta = (to_state in SATISFIED_STATES) - (from_state in SATISFIED_STATES)
        if delta:
            Plan.objects.filter(pk=plan.pk).update(
                finished_steps=models.F("finished_steps") + delta
            )
        plan.refresh_from_db(fields=["version", "finished_steps"])
        Activity.objects.create(
            plan=plan,
            step=step,
            actor=actor.strip()[:100],
            action=action,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
        )
    return step


def unsatisfied_prerequisites(step: Step) -> list[Step]:
    """The prerequisites of `step` that are neither done nor skipped, in plan order."""
    return list(
        Step.objects.filter(
            pk__in=StepDependency.objects.filter(step=step).values("prerequisite_id")
        )
        .exclude(state__in=SATISFIED_STATES)
        .only("id", "title", "kind", "tentacle", "position")
        .order_by("position")
    )


def summarise_steps(steps: list[Step], limit: int = 3) -> str:
    """“Back up the master key; Upgrade web-01 and 212 more Tentacles”."""
    per_tentacle = [s for s in steps if s.tentacle]
    others = [s for s in steps if not s.tentacle]
    parts = [s.title for s in others[:limit]]
    if len(others) > limit:
        parts.append(f"{len(others) - limit} more steps")
    if per_tentacle:
        first = per_tentacle[0].title
        rest = len(per_tentacle) - 1
        parts.append(first if rest == 0 else f"{first} and {rest} more Tentacle steps")
    return "; ".join(parts)


def waiting_for_text(steps: list[Step]) -> str:
    return f"Waiting for: {summarise_steps(steps)}."


def _dependents_refresh(step: Step) -> None:
    """Re-derive blocked/ready for the steps that wait on `step`."""
    dependent_ids = list(
        StepDependency.objects.filter(prerequisite=step).values_list("step_id", flat=True)
    )
    if not dependent_ids:
        return
    still_waiting = set(
        StepDependency.objects.filter(step_id__in=dependent_ids)
        .exclude(prerequisite__state__in=SATISFIED_STATES)
        .values_list("step_id", flat=True)
        .distinct()
    )
    free = [pk for pk in dependent_ids if pk not in still_waiting]
    Step.objects.filter(pk__in=still_waiting, state=StepState.READY).update(state=StepState.BLOCKED)
    Step.objects.filter(pk__in=free, state=StepState.BLOCKED).update(state=StepState.READY)


# --- Re-planning ----------------------------------------------------------------------------


def tentacle_input_of(t: Tentacle) -> planner.TentacleInput:
    """The planner's input for a saved Tentacle."""
    return planner.TentacleInput(
        name=t.name,
        hostname=t.hostname,
        port=t.port,
        version=t.version,
        communication_style=t.communication_style,  # type: ignore[arg-type]
        environments=tuple(t.environments),
        roles=tuple(t.roles),
        os=t.os,
        service_account=t.service_account,
        restricted_permissions=t.restricted_permissions,
        online=t.online,
    )


def installation_input_of(
    plan: Plan,
    *,
    approach: str | None,
    tentacles: Sequence[planner.TentacleInput] | None = None,
) -> planner.InstallationInput:
    """The planner's input rebuilt from what was saved for `plan`; with `tentacles`, for that
    inventory instead of the saved one."""
    installation = plan.installation
    return planner.InstallationInput(
        server_version=installation.server_version,
        target_version=installation.target_version,
        can_provision_new_server=installation.can_provision_new_server,
        sql_server_ready=installation.sql_server_ready,
        uses_builtin_feed=installation.uses_builtin_feed,
        backup_size_mb=installation.backup_size_mb,
        document_count=installation.document_count,
        history_days_to_keep=installation.history_days_to_keep,
        polling_port=installation.polling_port,
        old_server_url=installation.old_server_url,
        new_server_url=installation.new_server_url,
        approach=approach,  # type: ignore[arg-type]
        tentacles=tuple(
            tentacles
            if tentacles is not None
            else (tentacle_input_of(t) for t in installation.tentacles.all())
        ),
    )


def plan_change_approach(*, plan: Plan, approach: str | None, actor: str = "") -> Plan:
    """Re-plan with another approach (None: the recommendation). Steps that exist in both
    plans keep their progress; steps that no longer apply are retired, not deleted."""
    if approach is not None and approach not in planner.APPROACHES:
        raise PlanInputInvalid({"approach": [f"Unknown approach {approach!r}."]})
    try:
        result = planner.make_plan(
            installation_input_of(plan, approach=approach), planner_settings()
        )
    except planner.PlanningError as error:
        raise PlanInputInvalid({error.field: [error.message]}) from error
    with transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
        plan.refresh_from_db()
        previous = plan.approach
        _plan_fields_set(plan, result)
        plan.save()
        tentacles = {t.name: t for t in plan.installation.tentacles.all()}
        changes = _steps_reconcile(plan=plan, planned_steps=result.steps, tentacles=tentacles)
        Activity.objects.create(
            plan=plan,
            actor=actor.strip()[:100],
            action="approach-changed",
            from_state=previous,
            to_state=plan.approach,
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
            details=changes,
        )
    return plan


def _plan_fields_set(plan: Plan, result: planner.Plan) -> None:
    plan.approach = result.approach or ""
    plan.recommended_approach = result.recommended_approach or ""
    plan.approach_overridden = result.approach_overridden
    plan.reasons = list(result.reasons)
    plan.alternatives = [
        {"approach": alt.approach, "why_not": alt.why_not} for alt in result.alternatives
    ]
    plan.assumptions = list(result.assumptions)
    plan.path = [
        {
            "from": hop.from_version,
            "to": hop.to_version,
            "kind": hop.kind,
            "reason": hop.reason,
            "source": hop.source,
        }
        for hop in result.path
    ]
    plan.warnings = [dataclasses.asdict(warning) for warning in result.warnings]
    plan.migration = dataclasses.asdict(result.migration) if result.migration else None
    plan.canary = list(result.canary)
    plan.content_version = result.content_version


def _steps_reconcile(
    *,
    plan: Plan,
    planned_steps: tuple[planner.PlannedStep, ...],
    tentacles: dict[str, TentacleRef] | dict[str, Tentacle],
    new: bool = False,
) -> dict[str, int]:
    """Make the plan's steps match `planned_steps`, matching by key and keeping progress."""
    existing = {} if new else {step.key: step for step in Step.objects.filter(plan=plan)}
    wanted = {planned.key for planned in planned_steps}
    ids = {key: step.id for key, step in existing.items()}
    created: list[Step] = []
    updated: list[Step] = []
    for position, planned in enumerate(planned_steps):
        step = existing.get(planned.key)
        if step is None:
            step = Step(id=uuid.uuid4(), plan=plan, key=planned.key, state=StepState.BLOCKED)
            ids[planned.key] = step.id
            created.append(step)
        else:
            updated.append(step)
        step.position = position
        step.kind = planned.kind
        step.title = planned.title
        step.detail = planned.detail
        step.phase = planned.phase
        step.hop = planned.hop
        step.source = planned.source
        step.optional = planned.optional
        step.tentacle = planned.tentacle or ""
        step.tentacles = list(planned.tentacles)
        ref = tentacles.get(planned.tentacle or "")
        step.tentacle_ref_id = ref.id if ref else None
        step.labels = step_labels([tentacles[n] for n in planned.tentacles if n in tentacles])
        step.canary = planned.canary
        step.method = planned.method or ""
        step.point_of_no_return = planned.point_of_no_return
        step.fleet_gate = planned.fleet_gate
        step.retired = False
    retired = [step for key, step in existing.items() if key not in wanted and not step.retired]
    for step in retired:
        step.retired = True
    fields = [
        "position", "kind", "title", "detail", "phase", "hop", "source", "optional", "tentacle",
        "tentacles", "tentacle_ref", "labels", "canary", "method", "point_of_no_return",
        "fleet_gate", "retired",
    ]  # fmt: skip
    now = timezone.now()
    insert_rows(
        Step,
        ["id", "plan", "key", "state", "evidence", "updated_at", *fields],
        (
            (
                step.id,
                plan.pk,
                step.key,
                step.state,
                [],
                now,
                *(
                    step.tentacle_ref_id if name == "tentacle_ref" else getattr(step, name)
                    for name in fields
                ),
            )
            for step in created
        ),
    )
    update_rows(
        Step,
        fields,
        (
            [
                *(
                    step.tentacle_ref_id if name == "tentacle_ref" else getattr(step, name)
                    for name in fields
                ),
                step.id,
            ]
            for step in updated + retired
        ),
    )
    if not new:
        StepDependency.objects.filter(plan=plan).delete()
    _dependencies_insert(
        plan=plan,
        pairs=[
            (ids[planned.key], ids[key]) for planned in planned_steps for key in planned.depends_on
        ],
    )
    _states_rederive(plan)
    return {"created": len(created), "kept": len(updated), "retired": len(retired)}


def _dependencies_insert(*, plan: Plan, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    insert_rows(
        StepDependency,
        ["step", "prerequisite", "plan"],
        ((step, prerequisite, plan.pk) for step, prerequisite in pairs),
    )


def _states_rederive(plan: Plan) -> None:
    """Blocked/ready for every current step from its prerequisites; other states are kept."""
    waiting = StepDependency.objects.filter(plan=plan).exclude(
        prerequisite__state__in=SATISFIED_STATES
    )
    current = Step.objects.current().filter(plan=plan)
    current.filter(state=StepState.READY, pk__in=waiting.values("step_id")).update(
        state=StepState.BLOCKED
    )
    current.filter(state=StepState.BLOCKED).exclude(pk__in=waiting.values("step_id")).update(
        state=StepState.READY
    )
    finished = current.filter(state__in=SATISFIED_STATES).count()
    Plan.objects.filter(pk=plan.pk).update(finished_steps=finished)
    plan.finished_steps = finished


# --- Share links ----------------------------------------------------------------------------


def link_rotate(*, plan: Plan, kind: str, actor: str = "") -> str:
    """Replace the plan's edit or read-only link; the old one stops working at once.
    Returns the new token (shown once to the editor who rotated it)."""
    if kind not in LinkKind.values:
        raise PlanInputInvalid({"kind": [f"Unknown link kind {kind!r}."]})
    token = new_token()
    seed = ""
    if kind == LinkKind.VIEW:
        seed = new_token()
        token = view_token_from_seed(seed)
    with transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
        plan.refresh_from_db(fields=["version", "finished_steps"])
        replaced = PlanLink.objects.filter(plan=plan, kind=kind, replaced_at__isnull=True)
        replaced_hashes = list(replaced.values_list("token_hash", flat=True))
        replaced.update(replaced_at=timezone.now())
        transaction.on_commit(lambda: access.forget_polled_versions(replaced_hashes))
        PlanLink.objects.create(plan=plan, kind=kind, token_hash=hash_token(token), seed=seed)
        Activity.objects.create(
            plan=plan,
            actor=actor.strip()[:100],
            action="link-rotated",
            details={"kind": kind},
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
        )
    return token


def activity_log(*, plan: Plan, actor: str, action: str, details: dict[str, object]) -> None:
    """Record a plan-level event (inside the caller's transaction) and bump the version."""
    Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
    plan.refresh_from_db(fields=["version", "finished_steps"])
    Activity.objects.create(
        plan=plan,
        actor=actor.strip()[:100],
        action=action,
        details=details,
        plan_version=plan.version,
        finished_steps=plan.finished_steps,
    )


# --- Inventory re-sync ----------------------------------------------------------------------

APPROACH_CHOICES = ("keep", "switch")


class ApproachChangeRequired(Exception):
    """The new inventory changes the recommended approach; someone must say whether to keep
    the current one or switch. The plan is never switched silently."""

    code = "approach-change"

    def __init__(self, *, current: str, recommended: str) -> None:
        self.current = current
        self.recommended = recommended
        self.detail = (
            f"With this inventory the planner recommends the {_approach_words(recommended)} "
            f"approach instead of {_approach_words(current)}, which this plan follows. Keep "
            f"{_approach_words(current)} (recorded as your team's choice) or switch to "
            f"{_approach_words(recommended)}; steps that exist in both plans keep their progress "
            "either way."
        )
        super().__init__(self.detail)


class InventoryChangedSincePreview(Exception):
    """The saved inventory is no longer the one the person reviewed the changes against."""


def _approach_words(approach: str) -> str:
    return str(Approach(approach).label).lower() if approach in Approach.values else approach


@dataclass(frozen=True)
class ApproachChange:
    current: str
    recommended: str
    # What each answer would do to the steps: {"keep": {"created": 3, ...}, "switch": {...}}.
    effects: dict[str, dict[str, int]]


@dataclass(frozen=True)
class InventoryPreview:
    """What replacing the inventory would do, for a person to confirm."""

    diff: inventory_sync.InventoryDiff
    tentacles: list[planner.TentacleInput]  # the new inventory, as it would be saved
    fingerprint: str  # of the saved inventory the diff was made against
    approach_change: ApproachChange | None
    steps: dict[str, int]  # created / kept / retired, with the approach unchanged
    # Steps with progress that would be retired: (title, state).
    retiring_with_progress: list[tuple[str, str]]
    # Finished steps that would come after new, unfinished work (e.g. a passed fleet gate).
    finished_before_new_work: list[str]


@dataclass(frozen=True)
class InventoryReplaced:
    plan: Plan
    diff: inventory_sync.InventoryDiff
    steps: dict[str, int]
    approach_before: str
    approach_after: str


def inventory_preview(
    *, plan: Plan, tentacles: Sequence[planner.TentacleInput]
) -> InventoryPreview:
    """What `inventory_replace` would do with `tentacles`. Reads only; a fixed number of
    queries whatever the fleet's size."""
    _inventory_check(tentacles)
    saved = _saved_tentacles(plan)
    old = [tentacle_input_of(t) for t in saved]
    new = inventory_sync.kept_as_before(tentacles, old)
    diff = inventory_sync.inventory_diff(old, new)
    fingerprint = inventory_sync.inventory_fingerprint(old)
    if diff.empty:
        return InventoryPreview(diff, new, fingerprint, None, {}, [], [])
    existing = _existing_steps(plan)
    result, recommended = _inventory_replan(plan, new, choice=None)
    change = None
    if recommended is not None:
        kept, _ = _inventory_replan(plan, new, choice="keep")
        change = ApproachChange(
            current=plan.approach,
            recommended=recommended,
            effects={
                "keep": _step_effects(kept.steps, existing),
                "switch": _step_effects(result.steps, existing),
            },
        )
        result = kept
    moved = _moved(existing, _key_moves(result.steps, existing))
    wanted = {step.key for step in result.steps}
    retiring = [
        (step.title, step.state)
        for step in moved
        if step.key not in wanted
        and not step.retired
        and step.state not in (StepState.BLOCKED, StepState.READY)
    ]
    return InventoryPreview(
        diff=diff,
        tentacles=new,
        fingerprint=fingerprint,
        approach_change=change,
        steps=_step_effects(result.steps, existing),
        retiring_with_progress=retiring,
        finished_before_new_work=_finished_before_new_work(result.steps, moved),
    )


def inventory_replace(
    *,
    plan: Plan,
    tentacles: Sequence[planner.TentacleInput],
    actor: str = "",
    approach_choice: str | None = None,
    expected_fingerprint: str | None = None,
) -> InventoryReplaced:
    """Replace the plan's Tentacles with `tentacles` and re-plan, keeping progress.

    Tentacles are matched by name (without regard to case). Steps of unchanged Tentacles keep
    their state and evidence; added Tentacles get new steps; steps of removed ones are retired,
    not deleted, so the activity log keeps their history; changed ones are re-planned (their
    steps keep their progress where they still exist). Gates, warnings and the canary are
    re-planned for the whole fleet.

    If the new inventory changes the recommended approach of a plan that follows the
    recommendation, `approach_choice` says what to do: "keep" stays with the current approach
    (recorded as an override), "switch" takes the new recommendation; None raises
    ApproachChangeRequired. `expected_fingerprint` (from `inventory_preview`) refuses with
    InventoryChangedSincePreview if the inventory changed after it was reviewed. Replacing the
    inventory with an identical one changes nothing, not even the plan's version.
    """
    if approach_choice is not None and approach_choice not in APPROACH_CHOICES:
        raise PlanInputInvalid({"approach_choice": ['Choose "keep" or "switch".']})
    _inventory_check(tentacles)
    changes = {"created": 0, "kept": 0, "retired": 0}
    with transaction.atomic():
        # Taking the version first locks the plan, as every transition does.
        Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
        plan.refresh_from_db()
        previous = plan.approach
        saved = _saved_tentacles(plan)
        old = [tentacle_input_of(t) for t in saved]
        if (
            expected_fingerprint is not None
            and inventory_sync.inventory_fingerprint(old) != expected_fingerprint
        ):
            raise InventoryChangedSincePreview(
                "Someone changed this plan's inventory after you reviewed the changes. "
                "Review them again."
            )
        new = inventory_sync.kept_as_before(tentacles, old)
        diff = inventory_sync.inventory_diff(old, new)
        if diff.empty:
            transaction.set_rollback(True)  # nothing to do: not even the version moves
        else:
            result, recommended = _inventory_replan(plan, new, choice=approach_choice)
            if recommended is not None and approach_choice is None:
                raise ApproachChangeRequired(current=previous, recommended=recommended)
            refs = _tentacles_replace(plan=plan, saved=saved, new=new, diff=diff)
            _plan_fields_set(plan, result)
            plan.save()
            _step_keys_follow_tentacles(plan, result.steps)
            changes = _steps_reconcile(plan=plan, planned_steps=result.steps, tentacles=refs)
            switched = plan.approach != previous
            Activity.objects.create(
                plan=plan,
                actor=actor.strip()[:100],
                action="inventory-replaced",
                from_state=previous if switched else "",
                to_state=plan.approach if switched else "",
                plan_version=plan.version,
                finished_steps=plan.finished_steps,
                details={
                    **diff.counts(),
                    "summary": inventory_change_summary(diff),
                    "names": diff.names(limit=ACTIVITY_NAMES_LIMIT),
                    "steps": changes,
                    "approach_choice": approach_choice if recommended is not None else None,
                },
            )
    if diff.empty:
        plan.refresh_from_db()
    return InventoryReplaced(
        plan=plan,
        diff=diff,
        steps=changes,
        approach_before=previous,
        approach_after=plan.approach,
    )


ACTIVITY_NAMES_LIMIT = 100


def inventory_change_summary(diff: inventory_sync.InventoryDiff, shown: int = 3) -> str:
    """“2 added (web-09, web-10), 1 removed (web-03), 1 changed (db-01: communication style)”."""
    parts: list[str] = []

    def names(items: list[str]) -> str:
        more = f" and {len(items) - shown} more" if len(items) > shown else ""
        return ", ".join(items[:shown]) + more

    if diff.added:
        parts.append(f"{len(diff.added)} added ({names([t.name for t in diff.added])})")
    if diff.removed:
        parts.append(f"{len(diff.removed)} removed ({names([t.name for t in diff.removed])})")
    if diff.changed:
        described = [
            f"{c.name}: {', '.join(change.label for change in c.changes)}" for c in diff.changed
        ]
        parts.append(f"{len(diff.changed)} changed ({names(described)})")
    return "; ".join(parts) or "no changes"


def _inventory_check(tentacles: Sequence[planner.TentacleInput]) -> None:
    """What the parsers guarantee, checked again for callers that build rows themselves."""
    errors: dict[str, list[str]] = {}
    if len(tentacles) > inventory.MAX_ROWS:
        errors["tentacles"] = [
            f"The inventory has {len(tentacles):,} Tentacles; the limit is {inventory.MAX_ROWS:,}."
        ]
    seen: dict[str, int] = {}
    for index, tentacle in enumerate(tentacles):
        key = inventory_sync.name_key(tentacle.name)
        if not tentacle.name.strip():
            errors[f"tentacles[{index}].name"] = ["Name is required."]
        elif key in seen:
            errors[f"tentacles[{index}].name"] = [
                f"Name “{tentacle.name}” is already used by tentacles[{seen[key]}]."
            ]
        else:
            seen[key] = index
    if errors:
        raise PlanInputInvalid(errors)


def _saved_tentacles(plan: Plan) -> list[Tentacle]:
    return list(Tentacle.objects.filter(installation_id=plan.installation_id).order_by("position"))


def _inventory_replan(
    plan: Plan, tentacles: Sequence[planner.TentacleInput], *, choice: str | None
) -> tuple[planner.Plan, str | None]:
    """The plan for `tentacles`, and the newly recommended approach if it differs from the one
    a plan following the recommendation has now (None otherwise).

    An override stays an override. A plan that follows the recommendation follows it still,
    unless the recommendation changes: then "keep" turns the current approach into an override
    and "switch" (or None, to find out) takes the new recommendation."""
    overridden = plan.approach_overridden and bool(plan.approach)
    try:
        result = planner.make_plan(
            installation_input_of(
                plan, approach=plan.approach if overridden else None, tentacles=tentacles
            ),
            planner_settings(),
        )
        recommended = None
        if not overridden and plan.approach and result.approach != plan.approach:
            recommended = result.approach or ""
            if choice == "keep":
                result = planner.make_plan(
                    installation_input_of(plan, approach=plan.approach, tentacles=tentacles),
                    planner_settings(),
                )
    except planner.PlanningError as error:
        raise PlanInputInvalid({error.field: [error.message]}) from error
    return result, recommended


def _step_effects(
    planned: Sequence[planner.PlannedStep], existing: Sequence[_ExistingStep]
) -> dict[str, int]:
    existing = _moved(existing, _key_moves(planned, existing))
    wanted = {step.key for step in planned}
    current = {step.key for step in existing if not step.retired}
    return {
        "created": len(wanted - current),
        "kept": len(wanted & current),
        "retired": len(current - wanted),
    }


def _finished_before_new_work(
    planned: Sequence[planner.PlannedStep], existing: Sequence[_ExistingStep]
) -> list[str]:
    """Titles of finished steps that would depend on work not finished: typically a fleet gate
    passed before a Tentacle was added. Their ticks are kept; people should look again."""
    finished = {
        step.key for step in existing if not step.retired and step.state in SATISFIED_STATES
    }
    titles: list[str] = []
    for step in planned:
        if step.key in finished and any(dep not in finished for dep in step.depends_on):
            titles.append(step.title)
    return titles


def _tentacles_replace(
    *,
    plan: Plan,
    saved: list[Tentacle],
    new: Sequence[planner.TentacleInput],
    diff: inventory_sync.InventoryDiff,
) -> dict[str, TentacleRef]:
    """Make the installation's Tentacle rows match `new`; returns name → ref for the steps."""
    by_key = {inventory_sync.name_key(t.name): t for t in saved}
    removed = [by_key[inventory_sync.name_key(t.name)].pk for t in diff.removed]
    if removed:
        # Their retired steps keep the name and labels; the link to the row goes (SET_NULL).
        Tentacle.objects.filter(pk__in=removed).delete()
    changed = {inventory_sync.name_key(c.name) for c in diff.changed}
    to_update: list[list[Any]] = []
    to_move: list[tuple[int, uuid.UUID]] = []  # only the position changes
    to_insert: list[tuple[int, planner.TentacleInput, uuid.UUID]] = []
    refs: dict[str, TentacleRef] = {}
    for position, tentacle in enumerate(new):
        key = inventory_sync.name_key(tentacle.name)
        row = by_key.get(key)
        if row is None:
            row_id = uuid.uuid4()
            to_insert.append((position, tentacle, row_id))
        else:
            row_id = row.pk
            if key in changed:
                values = [getattr(tentacle, name) for name in TENTACLE_UPDATE_FIELDS]
                to_update.append(
                    [*(list(v) if isinstance(v, tuple) else v for v in values), position, row_id]
                )
            elif row.position != position:
                to_move.append((position, row_id))
        refs[tentacle.name] = TentacleRef(
            id=row_id,
            name=tentacle.name,
            environments=list(tentacle.environments),
            roles=list(tentacle.roles),
            communication_style=tentacle.communication_style,
        )
    update_rows(Tentacle, [*TENTACLE_UPDATE_FIELDS, "position"], to_update)
    update_rows(Tentacle, ["position"], to_move)
    insert_rows(
        Tentacle,
        TENTACLE_COLUMNS,
        (
            (
                row_id,
                plan.installation_id,
                position,
                t.name,
                t.hostname,
                t.port,
                t.version,
                t.communication_style,
                list(t.environments),
                list(t.roles),
                t.os,
                t.service_account,
                t.restricted_permissions,
                t.online,
            )
            for position, t, row_id in to_insert
        ),
    )
    return refs


TENTACLE_UPDATE_FIELDS = [
    "name", "hostname", "port", "version", "communication_style", "environments", "roles", "os",
    "service_account", "restricted_permissions", "online",
]  # fmt: skip


class _ExistingStep(NamedTuple):
    key: str
    state: str
    retired: bool
    title: str
    hop: int
    kind: str
    tentacles: list[str]


def _existing_steps(plan: Plan) -> list[_ExistingStep]:
    return [
        _ExistingStep(*row)
        for row in Step.objects.filter(plan=plan).values_list(
            "key", "state", "retired", "title", "hop", "kind", "tentacles"
        )
    ]


def _key_moves(
    planned: Sequence[planner.PlannedStep], existing: Sequence[_ExistingStep]
) -> dict[str, str]:
    """Old key → new key for per-Tentacle steps whose Tentacles are still planned for but whose
    key changes: the planner names a machine's steps after the Tentacle's name as spelt, or
    after the host name when several instances share a host, so a name's case changing, or a
    second instance arriving on (or the last but one leaving) a host renames the step. The work
    it tracks is the same machine's, so its progress moves along to the new key.

    A planned step takes over a current step of the same hop and kind that is no longer
    planned and covers one of its Tentacles; only when exactly one such step exists."""
    wanted = {step.key for step in planned}
    every_key = {step.key for step in existing}
    orphans: dict[tuple[int, str, str], str] = {}
    for step in existing:
        if step.retired or step.key in wanted or not step.tentacles:
            continue
        for name in step.tentacles:
            orphans[(step.hop, step.kind, inventory_sync.name_key(name))] = step.key
    moves: dict[str, str] = {}
    if not orphans:
        return moves
    for planned_step in planned:
        if not planned_step.tentacles or planned_step.key in every_key:
            continue
        candidates = {
            orphans.get((planned_step.hop, planned_step.kind, inventory_sync.name_key(name)))
            for name in planned_step.tentacles
        }
        candidates.discard(None)
        candidates -= set(moves)
        if len(candidates) == 1:
            moves[str(candidates.pop())] = planned_step.key
    return moves


def _moved(existing: Sequence[_ExistingStep], moves: dict[str, str]) -> list[_ExistingStep]:
    return [step._replace(key=moves.get(step.key, step.key)) for step in existing]


def _step_keys_follow_tentacles(plan: Plan, planned: Sequence[planner.PlannedStep]) -> None:
    """Apply `_key_moves` to the saved steps, so that the reconcile keeps their progress."""
    existing = list(
        Step.objects.filter(plan=plan)
        .exclude(tentacle="")
        .only("id", "key", "state", "retired", "title", "hop", "kind", "tentacles")
    )
    moves = _key_moves(
        planned,
        [
            _ExistingStep(s.key, s.state, s.retired, s.title, s.hop, s.kind, s.tentacles)
            for s in existing
        ],
    )
    moved = [step for step in existing if step.key in moves]
    for step in moved:
        step.key = moves[step.key]
    Step.objects.bulk_update(moved, ["key"], batch_size=BULK_BATCH)


# --- Inventory from an Octopus server -------------------------------------------------------


class FetchOutcome(TextChoices):
    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"  # a transient failure: the job should run again later
    SKIPPED = "skipped"  # another run has it, or it already finished


@sensitive_variables("api_key")
def inventory_fetch_start(
    *, plan: Plan, server_url: str, api_key: str, actor: str = ""
) -> InventoryFetch:
    """Record a reading of the inventory from `server_url` and start the job after commit.

    The API key goes to the job in its message and is not stored anywhere else. Fetches are
    not sent through a stored outbox for that reason: if the queue cannot take the job, the
    fetch fails at once with words saying so, and nothing is lost but the click.
    """
    with transaction.atomic():
        fetch = InventoryFetch.objects.create(
            plan=plan, server_url=server_url, actor=actor.strip()[:100]
        )
        transaction.on_commit(lambda: _fetch_enqueue(fetch, api_key))
    return fetch


@sensitive_variables("api_key")
def _fetch_enqueue(fetch: InventoryFetch, api_key: str) -> None:
    from kombu.exceptions import OperationalError

    from upgrade_planner.plans.tasks import enqueue_inventory_fetch

    try:
        enqueue_inventory_fetch(fetch.id, api_key)
    except OperationalError:
        inventory_fetch_fail(
            fetch_id=fetch.id,
            message="The job queue is not available right now, so the server could not be "
            "read. Try again in a minute, or paste the inventory as CSV instead.",
            from_states=[FetchState.PENDING],
        )


@sensitive_variables("api_key")
def inventory_fetch_run(*, fetch_id: uuid.UUID, api_key: str, last_attempt: bool) -> str:
    """Read the server for a pending fetch and store the rows or the error. Idempotent: a run
    claims the fetch with a conditional update, so a second delivery of the same job does
    nothing (unless the first was abandoned by a worker that died). Returns a FetchOutcome."""
    from upgrade_planner.installations import octopus

    now = timezone.now()
    abandoned = now - datetime.timedelta(seconds=settings.OCTOPUS_FETCH_ABANDONED_AFTER)
    claimed = (
        InventoryFetch.objects.filter(pk=fetch_id)
        .filter(
            models.Q(state=FetchState.PENDING)
            | models.Q(state=FetchState.RUNNING, started_at__lt=abandoned)
        )
        .update(
            state=FetchState.RUNNING,
            started_at=now,
            attempts=models.F("attempts") + 1,
            progress="Connecting",
        )
    )
    if not claimed:
        return FetchOutcome.SKIPPED
    fetch = InventoryFetch.objects.only("server_url").get(pk=fetch_id)
    running = InventoryFetch.objects.filter(pk=fetch_id, state=FetchState.RUNNING)

    def progress(text: str) -> None:
        running.update(progress=text[:200])

    try:
        result = octopus.read_inventory(
            fetch.server_url,
            api_key,
            timeout=settings.OCTOPUS_FETCH_TIMEOUT,
            progress=progress,
        )
    except octopus.OctopusFetchError as error:
        if error.transient and not last_attempt:
            running.update(
                state=FetchState.PENDING,
                error=error.message,
                progress="That attempt failed; trying again shortly.",
            )
            return FetchOutcome.RETRY
        running.update(
            state=FetchState.FAILED, error=error.message, progress="", finished_at=timezone.now()
        )
        return FetchOutcome.FAILED
    running.update(
        state=FetchState.DONE,
        server_version=result.server_version,
        rows=result.rows,
        unrecognised=result.unrecognised,
        error="",
        progress=f"Read {result.machines:,} machines",
        finished_at=timezone.now(),
    )
    return FetchOutcome.DONE


def inventory_fetch_fail(
    *, fetch_id: uuid.UUID, message: str, from_states: Sequence[str] | None = None
) -> bool:
    """Mark a fetch that has not finished as failed with `message`."""
    states = from_states or [FetchState.PENDING, FetchState.RUNNING]
    return bool(
        InventoryFetch.objects.filter(pk=fetch_id, state__in=states).update(
            state=FetchState.FAILED, error=message, progress="", finished_at=timezone.now()
        )
    )


def fetched_tentacles(*, fetch: InventoryFetch) -> list[planner.TentacleInput]:
    """A finished fetch's inventory: its rows, with each field the server does not report
    (service accounts, permissions, OS) kept from the plan's current inventory, validated like
    any inventory. Raises inventory.InventoryInvalid."""
    current = [tentacle_input_of(t) for t in _saved_tentacles(fetch.plan)]
    return inventory.parse_rows(inventory_sync.fill_unreported(fetch.rows, current))
