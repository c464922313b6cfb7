"""Every write to plans goes through here: one transaction per service."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans import planner
from upgrade_planner.plans.bulk import insert_rows
from upgrade_planner.plans.models import (
    SATISFIED_STATES,
    Activity,
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


def installation_input_of(plan: Plan, *, approach: str | None) -> planner.InstallationInput:
    """The planner's input rebuilt from what was saved for `plan`."""
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
            planner.TentacleInput(
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
            for t in installation.tentacles.all()
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
    Step.objects.bulk_update(updated + retired, fields, batch_size=BULK_BATCH)
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
        PlanLink.objects.filter(plan=plan, kind=kind, replaced_at__isnull=True).update(
            replaced_at=timezone.now()
        )
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
