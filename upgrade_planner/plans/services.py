"""Every write to plans goes through here: one transaction per service."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction

from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans import planner
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
    *, name: str, installation: planner.InstallationInput, actor: str = ""
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
        saved_installation = _installation_save(name=name, installation=installation)
        plan = Plan.objects.create(
            installation=saved_installation,
            name=name,
            approach=result.approach or "",
            recommended_approach=result.recommended_approach or "",
            approach_overridden=result.approach_overridden,
            reasons=list(result.reasons),
            alternatives=[
                {"approach": alt.approach, "why_not": alt.why_not} for alt in result.alternatives
            ],
            assumptions=list(result.assumptions),
            path=[
                {
                    "from": hop.from_version,
                    "to": hop.to_version,
                    "kind": hop.kind,
                    "reason": hop.reason,
                    "source": hop.source,
                }
                for hop in result.path
            ],
            warnings=[dataclasses.asdict(warning) for warning in result.warnings],
            migration=dataclasses.asdict(result.migration) if result.migration else None,
            canary=list(result.canary),
            content_version=result.content_version,
        )
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
        _steps_save(
            plan=plan,
            planned_steps=result.steps,
            tentacles={t.name: t for t in saved_installation.tentacles.all()},
        )
        Activity.objects.create(
            plan=plan,
            actor=actor,
            action="plan-created",
            plan_version=plan.version,
            details={"approach": plan.approach, "steps": len(result.steps)},
        )
    return CreatedPlan(plan=plan, edit_token=edit_token, view_token=view_token)


def _installation_save(*, name: str, installation: planner.InstallationInput) -> Installation:
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
    )
    Tentacle.objects.bulk_create(
        [
            Tentacle(
                installation=saved,
                position=position,
                name=tentacle.name,
                hostname=tentacle.hostname,
                port=tentacle.port,
                version=tentacle.version,
                communication_style=tentacle.communication_style,
                environments=list(tentacle.environments),
                roles=list(tentacle.roles),
                os=tentacle.os,
                service_account=tentacle.service_account,
                restricted_permissions=tentacle.restricted_permissions,
                online=tentacle.online,
            )
            for position, tentacle in enumerate(installation.tentacles)
        ],
        batch_size=BULK_BATCH,
    )
    return saved


def step_labels(tentacles: list[Tentacle]) -> str:
    labels = set()
    for tentacle in tentacles:
        labels.update(f"env={env}" for env in tentacle.environments)
        labels.update(f"role={role}" for role in tentacle.roles)
        labels.add(f"style={tentacle.communication_style}")
    return "|" + "|".join(sorted(labels)) + "|" if labels else ""


def _steps_save(
    *,
    plan: Plan,
    planned_steps: tuple[planner.PlannedStep, ...],
    tentacles: dict[str, Tentacle],
) -> None:
    ids = {planned.key: uuid.uuid4() for planned in planned_steps}
    Step.objects.bulk_create(
        [
            Step(
                id=ids[planned.key],
                plan=plan,
                key=planned.key,
                position=position,
                kind=planned.kind,
                title=planned.title,
                detail=planned.detail,
                phase=planned.phase,
                hop=planned.hop,
                source=planned.source,
                optional=planned.optional,
                tentacle=planned.tentacle or "",
                tentacles=list(planned.tentacles),
                tentacle_ref=tentacles.get(planned.tentacle or ""),
                labels=step_labels([tentacles[n] for n in planned.tentacles if n in tentacles]),
                canary=planned.canary,
                method=planned.method or "",
                point_of_no_return=planned.point_of_no_return,
                fleet_gate=planned.fleet_gate,
                state=StepState.BLOCKED if planned.depends_on else StepState.READY,
            )
            for position, planned in enumerate(planned_steps)
        ],
        batch_size=BULK_BATCH,
    )
    StepDependency.objects.bulk_create(
        [
            StepDependency(step_id=ids[planned.key], prerequisite_id=ids[key], plan=plan)
            for planned in planned_steps
            for key in planned.depends_on
        ],
        batch_size=BULK_BATCH,
    )


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


def step_start(*, step_id: uuid.UUID, plan: Plan, actor: str = "") -> Step:
    return _transition(
        plan=plan,
        step_id=step_id,
        actor=actor,
        action="start",
        reason="",
        allowed_from={StepState.READY},
        to_state=StepState.IN_PROGRESS,
        check_prerequisites=True,
    )


def step_complete(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str = "") -> Step:
    return _transition(
        plan=plan,
        step_id=step_id,
        actor=actor,
        action="complete",
        reason=reason,
        allowed_from={StepState.READY, StepState.IN_PROGRESS, StepState.FAILED},
        to_state=StepState.DONE,
        check_prerequisites=True,
    )


def step_skip(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return _transition(
        plan=plan,
        step_id=step_id,
        actor=actor,
        action="skip",
        reason=reason,
        allowed_from={StepState.BLOCKED, StepState.READY, StepState.IN_PROGRESS, StepState.FAILED},
        to_state=StepState.SKIPPED,
        needs_reason=True,
        check_skippable=True,
    )


def step_reopen(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return _transition(
        plan=plan,
        step_id=step_id,
        actor=actor,
        action="reopen",
        reason=reason,
        allowed_from={StepState.DONE, StepState.SKIPPED, StepState.FAILED},
        to_state=StepState.READY,
        needs_reason=True,
        check_dependents=True,
    )


def step_fail(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return _transition(
        plan=plan,
        step_id=step_id,
        actor=actor,
        action="fail",
        reason=reason,
        allowed_from={StepState.READY, StepState.IN_PROGRESS, StepState.DONE},
        to_state=StepState.FAILED,
        needs_reason=True,
    )


STEP_ACTIONS = {
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
            service(**kwargs)  # type: ignore[operator]
        except TransitionRefused as refused:
            refusals.append(refused.message)
        except StepNotFound:
            refusals.append("A selected step is no longer part of this plan.")
        else:
            changed += 1
    return BulkOutcome(changed=changed, refusals=refusals)


def _transition(
    *,
    plan: Plan,
    step_id: uuid.UUID,
    actor: str,
    action: str,
    reason: str,
    allowed_from: set[StepState],
    to_state: StepState,
    needs_reason: bool = False,
    check_prerequisites: bool = False,
    check_skippable: bool = False,
    check_dependents: bool = False,
) -> Step:
    reason = reason.strip()
    if needs_reason and not reason:
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
        if check_prerequisites:
            waiting = unsatisfied_prerequisites(step)
            if waiting:
                raise StepBlocked(
                    f"“{step.title}” is blocked. {waiting_for_text(waiting)}",
                    blocked_by=[str(s.id) for s in waiting],
                )
        if from_state not in allowed_from:
            raise InvalidTransition(
                f"“{step.title}” is {from_state.label.lower()}; it cannot {action} from there."
            )
        if check_skippable and not (step.optional or step.tentacle):
            raise StepNotSkippable(
                f"“{step.title}” is required and cannot be skipped. Only optional steps and "
                "per-Tentacle steps (to exclude a machine) can be skipped."
            )
        if check_dependents:
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
        Activity.objects.create(
            plan=plan,
            step=step,
            actor=actor.strip()[:100],
            action=action,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            plan_version=plan.version,
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
