"""Step transitions (product.md §4): the rules of each action, the single and bulk services
that apply them one step per transaction, and the blocked/ready bookkeeping of the steps that
wait on the one that moved."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from upgrade_planner.bulk import insert_row, insert_rows
from upgrade_planner.domain.lifecycle import (
    PERSON_ACTIONS,
    RULES,
    Rule,
    StepAction,
    is_skippable,
    needs_confirmation,
)
from upgrade_planner.domain.schedule import times_after
from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    FindingSeverity,
    FindingState,
    StepState,
)
from upgrade_planner.plans.access import MovedStep, Transition, transition_noted
from upgrade_planner.plans.models import Activity, Plan, Step, StepDependency, StepQuerySet
from upgrade_planner.plans.services.locking import plan_finished_steps_add, plan_lock
from upgrade_planner.plans.services.outbox import started_step_check_queue
from upgrade_planner.plans.services.readiness import open_inhibitors
from upgrade_planner.plans.services.statements import (
    dependents_refresh,
    step_read,
    step_state_save,
)
from upgrade_planner.plans.services.text import (
    ACTOR_MAX,
    NUL_REFUSED,
    REASON_MAX,
    actor_name,
    has_nul,
    shortened,
    too_long,
)


class StepNotFound(Exception):
    """No current step with that id in this plan."""


class UnknownAction(StepNotFound):
    """Not an action a person can take on a step: answered like an unknown step (404)."""


class TransitionRefused(Exception):
    """A step cannot make this move. `code` is the API's error, `message` is for people."""

    code = "refused"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class StepBlocked(TransitionRefused):
    code = "blocked"


class StepInhibited(TransitionRefused):
    """An open inhibitor of the readiness report guards the step (product.md §5.6)."""

    code = "inhibited"


class StepNotSkippable(TransitionRefused):
    code = "not-skippable"


class StepHasStartedDependents(TransitionRefused):
    code = "has-started-dependents"


class ReasonRequired(TransitionRefused):
    code = "reason-required"


class ReasonInvalid(TransitionRefused):
    code = "reason-invalid"


class ActorInvalid(TransitionRefused):
    """The name given for the activity log cannot be stored; the API's schema refuses it first
    (422 naming `actor`), the page's name form shortens it."""

    code = "actor-invalid"


class InvalidTransition(TransitionRefused):
    code = "invalid-transition"


class ConfirmationRequired(TransitionRefused):
    code = "confirmation-required"


def step_act(
    *,
    plan: Plan,
    step_id: uuid.UUID,
    action: StepAction | str,
    actor: str = "",
    reason: str = "",
    confirmed: bool = True,
) -> Step:
    """Move one step by a person's action (`start`, `complete`, `skip`, `reopen`) under the
    rules of domain/lifecycle.py. `confirmed` is False when a person has not yet acknowledged
    a point of no return. Raises `UnknownAction` for any other action."""
    if action not in PERSON_ACTIONS:
        raise UnknownAction(f"Unknown action {action!r}: use start, complete, skip or reopen.")
    rule = RULES[StepAction(action)]
    return _transition(
        rule, plan=plan, step_id=step_id, actor=actor, reason=reason, confirmed=confirmed
    )


def step_start(*, step_id: uuid.UUID, plan: Plan, actor: str = "", confirmed: bool = True) -> Step:
    return step_act(
        plan=plan, step_id=step_id, action=StepAction.START, actor=actor, confirmed=confirmed
    )


def step_complete(
    *, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str = "", confirmed: bool = True
) -> Step:
    return step_act(
        plan=plan,
        step_id=step_id,
        action=StepAction.COMPLETE,
        actor=actor,
        reason=reason,
        confirmed=confirmed,
    )


def step_skip(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return step_act(plan=plan, step_id=step_id, action=StepAction.SKIP, actor=actor, reason=reason)


def step_reopen(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    return step_act(
        plan=plan, step_id=step_id, action=StepAction.REOPEN, actor=actor, reason=reason
    )


def step_fail(*, step_id: uuid.UUID, plan: Plan, actor: str = "", reason: str) -> Step:
    """Set by verification, or by a person with a reason; not one of the page's actions.

    The reason is usually a check's error message, which may quote a long address or a
    server's answer: one over the limit is cut short rather than refused, since nobody can
    rewrite it and the step must still fail."""
    return _transition(
        RULES[StepAction.FAIL],
        plan=plan,
        step_id=step_id,
        actor=actor,
        reason=shortened(reason.strip(), REASON_MAX),
    )


@dataclass(frozen=True)
class BulkOutcome:
    """What one bulk action did: how many steps moved, how many were refused, and why, one
    sentence per reason with its count (“38 are blocked, waiting for “Prepare Hydra””)."""

    changed: int
    refusals: list[str]
    refused: int = 0
    # What was wrong with the request itself (a reason too long, a name with a NUL): then no
    # step was tried, and this is the one refusal.
    problem: str = ""


# Steps updated per statement: a bound on the parameters of one UPDATE on every database.
BULK_UPDATE_CHUNK = 5000


def steps_bulk(
    *,
    plan: Plan,
    action: str,
    step_ids: Sequence[uuid.UUID] | None = None,
    tentacles_matching: Mapping[str, Any] | None = None,
    actor: str = "",
    reason: str = "",
) -> BulkOutcome:
    """Apply one action to many steps in one transaction, under the rules of a single click:
    the steps with `step_ids`, or every per-Tentacle step matching `tentacles_matching` (the
    filters of `StepQuerySet.matching`, e.g. {"state": "ready", "environment": "Prod"}), read
    by the server when it acts. The selection is judged as it stands when the action starts
    (a step that only a step of the same batch would unblock is refused as blocked); every
    refusal is counted under its reason. A fixed number of queries whatever the number of
    steps, but for the chunks of the UPDATE and of the activity log's INSERT."""
    if action not in PERSON_ACTIONS:
        raise UnknownAction(f"Unknown action {action!r}: use start, complete, skip or reopen.")
    rule = RULES[StepAction(action)]
    reason = reason.strip()
    problem = _input_problem(rule, reason=reason, actor=actor)
    current = Step.objects.of_plan(plan)
    wanted: set[uuid.UUID] = set()
    if tentacles_matching is not None:
        selected = current.exclude(tentacle="").matching(**tentacles_matching)
        # The same steps whatever their state now: whose dependents may need re-deriving
        # once the action has moved them out of a state filter.
        neighbourhood = current.exclude(tentacle="").matching(**{**tentacles_matching, "state": ""})
    else:
        wanted = set(step_ids or [])
        selected = neighbourhood = current.filter(pk__in=wanted)
    with transaction.atomic():
        plan_lock(plan=plan, steps_only=True)
        total = selected.count()
        missing = len(wanted) - total if tentacles_matching is None else 0
        if problem:
            transaction.set_rollback(True)
            return BulkOutcome(
                changed=0, refusals=[problem], refused=total + missing, problem=problem
            )
        refusals: list[tuple[int, str]] = []
        if missing:
            refusals.append((missing, f"{_are(missing)} no longer part of this plan"))
        remaining = selected.order_by()
        if rule.check_prerequisites:
            remaining = _refuse_inhibited(remaining, refusals)
            remaining = _refuse_blocked(remaining, refusals)
        if rule.needs_confirmation:
            unconfirmed = Q(point_of_no_return=True) & ~Q(state=StepState.IN_PROGRESS)
            if n := remaining.filter(unconfirmed).count():
                refusals.append(
                    (n, f"{_are(n)} a point of no return: confirm each on its own step")
                )
            remaining = remaining.exclude(unconfirmed)
        for state, n in (
            remaining.exclude(state__in=rule.allowed_from)
            .values_list("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
            .order_by("state")
        ):
            refusals.append(
                (n, f"{_are(n)} {StepState(state).label.lower()}: {action} does not apply")
            )
        remaining = remaining.filter(state__in=rule.allowed_from)
        if rule.check_skippable:
            required = Q(tentacle="", optional=False)
            if n := remaining.filter(required).count():
                refusals.append(
                    (
                        n,
                        f"{_are(n)} required and cannot be skipped (only optional and "
                        "per-Tentacle steps can)",
                    )
                )
            remaining = remaining.exclude(required)
        if rule.check_dependents:
            started = StepDependency.objects.filter(
                step__retired=False, step__state__in=[StepState.IN_PROGRESS, StepState.DONE]
            ).values("prerequisite_id")
            if n := remaining.filter(pk__in=started).count():
                refusals.append(
                    (n, f"{_are(n)} followed by steps already started or done: reopen those first")
                )
            remaining = remaining.exclude(pk__in=started)
        rows = list(remaining.order_by("position").values_list("id", "state", "kind"))
        refused = sum(n for n, _ in refusals)
        sentences = [f"{n:,} {text}" for n, text in refusals]
        if not rows:
            transaction.set_rollback(True)  # nothing moved: the plan's version stays
            return BulkOutcome(changed=0, refusals=sentences, refused=refused)
        to_state = {step_id: rule.to_state for step_id, _, _ in rows}
        if rule.to_state == StepState.READY:
            for step_id in _waiting(remaining):
                to_state[step_id] = StepState.BLOCKED
        now = timezone.now()
        for state in set(to_state.values()):
            ids = [step_id for step_id, moved_to in to_state.items() if moved_to == state]
            for start in range(0, len(ids), BULK_UPDATE_CHUNK):
                Step.objects.filter(pk__in=ids[start : start + BULK_UPDATE_CHUNK]).update(
                    state=state, updated_at=now
                )
        _dependents_of_refresh(neighbourhood)
        if rule.to_state == StepState.IN_PROGRESS:
            first_started = Step.objects.get(pk=rows[0][0])
            started_step_check_queue(plan=plan, step=first_started)
        delta = sum(
            (to_state[step_id] in SATISFIED_STATES) - (from_state in SATISFIED_STATES)
            for step_id, from_state, _ in rows
        )
        if delta:
            plan_finished_steps_add(plan=plan, delta=delta)
        name = actor_name(actor)
        last = len(rows) - 1
        insert_rows(
            Activity,
            ACTIVITY_FIELDS,
            (
                (
                    plan.pk,
                    step_id,
                    name,
                    str(rule.action),
                    from_state,
                    to_state[step_id],
                    reason,
                    {},
                    plan.version,
                    # The progress chart needs one point for the batch, not one per step.
                    plan.finished_steps if index == last else None,
                    now,
                )
                for index, (step_id, from_state, _) in enumerate(rows)
            ),
        )
    return BulkOutcome(changed=len(rows), refusals=sentences, refused=refused)


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _input_problem(rule: Rule, *, reason: str, actor: str) -> str | None:
    """What is wrong with the reason or the name given, as a single click would say it."""
    if rule.needs_reason and not reason:
        return f"Say why you {rule.action} these steps: a reason is required."
    if message := too_long(reason, limit=REASON_MAX, what="The reason"):
        return message
    if has_nul(reason):
        return f"The reason: {NUL_REFUSED}"
    return too_long(actor.strip(), limit=ACTOR_MAX, what="The name")


def _refuse_inhibited(remaining: StepQuerySet, refusals: list[tuple[int, str]]) -> StepQuerySet:
    """Count the steps of `remaining` an open inhibitor of the readiness report guards, and
    leave them out."""
    inhibited = remaining.filter(
        inhibited_by__severity=FindingSeverity.INHIBITOR, inhibited_by__state=FindingState.OPEN
    ).values("pk")
    if n := remaining.filter(pk__in=inhibited).count():
        refusals.append(
            (n, f"{_are(n)} inhibited by the readiness report: clear or accept its inhibitors")
        )
    return remaining.exclude(pk__in=inhibited)


def _refuse_blocked(remaining: StepQuerySet, refusals: list[tuple[int, str]]) -> StepQuerySet:
    """Count the steps of `remaining` waiting for a prerequisite, naming the first few
    prerequisites they wait for, and leave them out."""
    waiting = StepDependency.objects.filter(step__in=remaining.values("pk")).exclude(
        prerequisite__state__in=SATISFIED_STATES
    )
    blocked = remaining.filter(pk__in=waiting.values("step_id"))
    if n := blocked.count():
        firsts = list(
            waiting.order_by()
            .values("prerequisite__position")
            .annotate(title=Min("prerequisite__title"))
            .order_by("prerequisite__position")
            .values_list("title", flat=True)[:4]
        )
        named = "; ".join(f"“{title}”" for title in firsts[:3])
        more = " and more" if len(firsts) > 3 else ""
        refusals.append((n, f"{_are(n)} blocked, waiting for {named}{more}"))
    return remaining.exclude(pk__in=waiting.values("step_id"))


def _waiting(steps: StepQuerySet) -> list[uuid.UUID]:
    """The ids of `steps` that have a prerequisite neither done nor skipped."""
    return list(
        StepDependency.objects.filter(step__in=steps.values("pk"))
        .exclude(prerequisite__state__in=SATISFIED_STATES)
        .values_list("step_id", flat=True)
        .distinct()
    )


def _dependents_of_refresh(steps: StepQuerySet) -> None:
    """Re-derive blocked/ready for every step waiting on one of `steps`, in two UPDATEs."""
    dependents = StepDependency.objects.filter(prerequisite__in=steps.values("pk")).values(
        "step_id"
    )
    still_waiting = (
        StepDependency.objects.filter(step_id__in=dependents)
        .exclude(prerequisite__state__in=SATISFIED_STATES)
        .values("step_id")
    )
    Step.objects.filter(pk__in=dependents, state=StepState.READY).filter(
        pk__in=still_waiting
    ).update(state=StepState.BLOCKED)
    Step.objects.filter(pk__in=dependents, state=StepState.BLOCKED).exclude(
        pk__in=still_waiting
    ).update(state=StepState.READY)


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
    if message := too_long(reason, limit=REASON_MAX, what="The reason"):
        raise ReasonInvalid(message)
    if has_nul(reason):
        raise ReasonInvalid(f"The reason: {NUL_REFUSED}")
    if message := too_long(actor.strip(), limit=ACTOR_MAX, what="The name"):
        raise ActorInvalid(message)
    with transaction.atomic():
        plan_lock(plan=plan, steps_only=True)
        # The step, its prerequisites' states and the flags its rules ask for, in one
        # statement read under the lock. The queries that name what holds a step back run
        # only when the step is refused.
        found = step_read(plan=plan, step_id=step_id)
        if found is None:
            raise StepNotFound(f"No step {step_id} in this plan.")
        step = found.step
        from_state = StepState(step.state)
        if rule.check_prerequisites and found.inhibited and (inhibitors := open_inhibitors(step)):
            raise StepInhibited(
                f"“{step.title}” is inhibited by the readiness report. "
                f"{inhibited_by_text(inhibitors)}",
                inhibited_by=[finding.code for finding in inhibitors],
            )
        if rule.check_prerequisites and found.waiting_ids:
            waiting = unsatisfied_prerequisites(step)
            raise StepBlocked(
                f"“{step.title}” is blocked. {waiting_for_text(waiting)}",
                blocked_by=[str(s.id) for s in waiting],
            )
        if not confirmed and needs_confirmation(
            rule, point_of_no_return=step.point_of_no_return, state=from_state
        ):
            raise ConfirmationRequired(
                f"“{step.title}” is a point of no return: tick the box to confirm you "
                "understand there is no way back, then try again."
            )
        if from_state not in rule.allowed_from:
            raise InvalidTransition(
                f"“{step.title}” is {from_state.label.lower()}; it cannot {action} from there."
            )
        if rule.check_skippable and not is_skippable(
            optional=step.optional, per_tentacle=bool(step.tentacle)
        ):
            raise StepNotSkippable(
                f"“{step.title}” is required and cannot be skipped. Only optional steps and "
                "per-Tentacle steps (to exclude a machine) can be skipped."
            )
        if rule.check_dependents and found.dependents_started:
            started = list(
                Step.objects.current()
                .filter(
                    pk__in=StepDependency.objects.filter(prerequisite=step).values("step_id"),
                    state__in=[StepState.IN_PROGRESS, StepState.DONE],
                )
                .only("id", "title", "kind", "tentacle")
            )
            moved = "reopened" if action == StepAction.REOPEN else "marked as failed"
            raise StepHasStartedDependents(
                f"“{step.title}” cannot be {moved} while steps that depend on it are "
                f"started or done: {summarise_steps(started)}. Reopen those first.",
                dependents=[str(s.id) for s in started],
            )
        if to_state == StepState.READY and found.waiting_ids:
            to_state = StepState.BLOCKED
        now = timezone.now()
        step.state = to_state
        step.started_at, step.finished_at = times_after(
            action, started_at=step.started_at, finished_at=step.finished_at, now=now
        )
        step_state_save(step, now=now)
        dependents = _dependents_refresh(step) if found.has_dependents else []
        if to_state == StepState.IN_PROGRESS:
            started_step_check_queue(plan=plan, step=step)
        delta = (to_state in SATISFIED_STATES) - (from_state in SATISFIED_STATES)
        if delta:
            plan_finished_steps_add(plan=plan, delta=delta)
        insert_row(
            Activity,
            ACTIVITY_FIELDS,
            (
                plan.pk,
                step.pk,
                actor_name(actor),
                action,
                from_state,
                to_state,
                reason,
                {},
                plan.version,
                plan.finished_steps,
                now,
            ),
        )
        transition_noted(
            plan_id=plan.pk,
            after=plan.version,
            transition=Transition(
                moved=(
                    MovedStep(
                        step_id=step.pk,
                        before=from_state,
                        after=to_state,
                        fleet=(step.hop, step.phase, step.kind, step.canary)
                        if step.tentacle
                        else None,
                    ),
                    *dependents,
                ),
                started_at=step.started_at,
                finished_at=step.finished_at,
                updated_at=now,
                actor=actor_name(actor),
                at=now,
                finished_steps=plan.finished_steps,
            ),
        )
    # What the answer lists as the step's prerequisites: read with it, not asked again.
    step.prerequisite_ids = [str(pk) for pk in found.prerequisite_ids]
    return step


# What a transition writes into the activity log, in the order its rows give the values.
ACTIVITY_FIELDS = (
    "plan",
    "step",
    "actor",
    "action",
    "from_state",
    "to_state",
    "reason",
    "details",
    "plan_version",
    "finished_steps",
    "at",
)


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


def inhibited_by_text(findings: Sequence[Any]) -> str:
    """“Inhibited by sql-server-below-floor: … What to do: …” for each open inhibitor."""
    return " ".join(
        f"Inhibited by {finding.code}: {finding.text} What to do: {finding.what_to_do} "
        "(or accept it with a reason in the readiness report)."
        for finding in findings
    )


def waiting_for_text(steps: list[Step]) -> str:
    return f"Waiting for: {summarise_steps(steps)}."


def _dependents_refresh(step: Step) -> list[MovedStep]:
    """Re-derive blocked/ready for the steps that wait on `step`; the ones moved."""
    return dependents_refresh(step.pk)
