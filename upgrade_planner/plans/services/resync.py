"""Inventory re-sync: previewing and replacing a plan's Tentacles with a new inventory and
re-planning, keeping progress (steps follow their Tentacles when only a key changes) and
asking before the recommended approach changes under a plan that follows it, and before a
replacement removes every Tentacle or any Tentacle whose work has started: an inventory is
never wiped by accident, whichever page or API call sends it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import transaction

from upgrade_planner.bulk import BULK_BATCH
from upgrade_planner.domain import inventory, inventory_diff, planner
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, Approach, StepState
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.installations.services import tentacles_replace
from upgrade_planner.plans.models import Activity, Plan, Step
from upgrade_planner.plans.services.creation import PlanInputInvalid, planner_settings
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.readiness import readiness_evaluate
from upgrade_planner.plans.services.reconcile import plan_fields_set, steps_reconcile
from upgrade_planner.plans.services.replans import installation_input_of
from upgrade_planner.plans.services.text import actor_name

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


class PlanChangedSinceRead(Exception):
    """The plan moved on from the version the caller read (an API client's If-Match)."""

    code = "plan-changed"

    def __init__(self, *, expected: int | None, current: int) -> None:
        self.expected = expected
        self.current = current
        read = f"version {expected}; " if expected is not None else ""
        self.detail = (
            f"The plan has changed since you read it ({read}it is now at version {current}). "
            "Read it again, check that this inventory is still the one you mean, and send it "
            "with the new ETag."
        )
        super().__init__(self.detail)


# A step in one of these states has been worked on: removing its Tentacle needs a person's
# explicit say-so, whatever the step then becomes.
STARTED_STATES: frozenset[StepState] = frozenset(
    {StepState.IN_PROGRESS, StepState.DONE, StepState.SKIPPED, StepState.FAILED}
)


@dataclass(frozen=True)
class Removals:
    """The Tentacles a replacement removes, and whether someone must confirm removing them.

    Removing every Tentacle, or any Tentacle with a step that has started or finished, is what
    an empty, truncated or wrong file does; it is done only when asked for explicitly."""

    removed: list[str]  # every Tentacle the replacement removes, in the saved order
    with_progress: list[str]  # those with a step in progress, done, skipped or failed
    every_tentacle: bool  # none of the saved Tentacles stays

    @property
    def confirmation_needed(self) -> bool:
        return self.every_tentacle or bool(self.with_progress)

    @property
    def to_confirm(self) -> list[str]:
        """The Tentacles to name when asking: all of them when every one goes."""
        if not self.confirmation_needed:
            return []
        return self.removed if self.every_tentacle else self.with_progress


NO_REMOVALS = Removals(removed=[], with_progress=[], every_tentacle=False)


class RemovalsNeedConfirmation(Exception):
    """The new inventory removes every Tentacle, or Tentacles whose steps have started or
    finished; nothing is saved until the caller confirms the removals."""

    code = "removals-need-confirmation"

    def __init__(self, removals: Removals) -> None:
        self.removals = removals
        if removals.every_tentacle:
            count = len(removals.removed)
            self.detail = (
                f"This inventory removes every Tentacle of the plan ({count:,}): all their "
                "steps would be retired. Retired steps are kept, with their history, but the "
                "plan would no longer track any machine."
            )
        else:
            names = removals.with_progress
            self.detail = (
                f"This inventory removes {_names_text(names)}, whose "
                f"{'steps have' if len(names) > 1 else 'step has'} started or finished. "
                "Their steps would be retired; the activity log keeps what was done."
            )
        super().__init__(self.detail)


def _names_text(names: Sequence[str], shown: int = 5) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) > shown:
        return f"{', '.join(names[:shown])} and {len(names) - shown:,} more"
    return f"{', '.join(names[:-1])} and {names[-1]}"


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

    diff: inventory_diff.InventoryDiff
    tentacles: list[planner.TentacleInput]  # the new inventory, as it would be saved
    fingerprint: str  # of the saved inventory the diff was made against
    approach_change: ApproachChange | None
    steps: dict[str, int]  # created / kept / retired, with the approach unchanged
    # Steps with progress that would be retired: (title, state).
    retiring_with_progress: list[tuple[str, str]]
    # Finished steps that would come after new, unfinished work (e.g. a passed fleet gate).
    finished_before_new_work: list[str]
    # What applying needs confirmed; see `inventory_replace`'s confirm_removals.
    removals: Removals = NO_REMOVALS
    # Steps that would be created, as (key, title), and retired, as (key, title, state); with
    # an approach change, as for the approach chosen (kept when none is).
    created_steps: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    retired_steps: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class InventoryReplaced:
    plan: Plan
    diff: inventory_diff.InventoryDiff
    steps: dict[str, int]
    approach_before: str
    approach_after: str


def inventory_preview(
    *,
    plan: Plan,
    tentacles: Sequence[planner.TentacleInput],
    approach_choice: str | None = None,
) -> InventoryPreview:
    """What `inventory_replace` would do with `tentacles`. Reads only; a fixed number of
    queries whatever the fleet's size.

    With an approach change, the steps are those of `approach_choice` ("keep" when None: a
    plan never switches silently); `approach_change` has the effects of both answers."""
    _approach_choice_check(approach_choice)
    _inventory_check(tentacles)
    saved = list(Tentacle.objects.of_installation(plan.installation_id))
    old = [t.as_input() for t in saved]
    new = inventory_diff.kept_as_before(tentacles, old)
    diff = inventory_diff.inventory_diff(old, new)
    fingerprint = inventory_diff.inventory_fingerprint(old)
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
        if approach_choice != "switch":
            result = kept
    moved = _moved(existing, _key_moves(result.steps, existing))
    wanted = {step.key for step in result.steps}
    current = {step.key for step in moved if not step.retired}
    retired = [step for step in moved if step.key not in wanted and not step.retired]
    return InventoryPreview(
        diff=diff,
        tentacles=new,
        fingerprint=fingerprint,
        approach_change=change,
        steps=_step_effects(result.steps, existing),
        retiring_with_progress=[
            (step.title, step.state)
            for step in retired
            if step.state not in (StepState.BLOCKED, StepState.READY)
        ],
        finished_before_new_work=_finished_before_new_work(result.steps, moved),
        removals=_removals(
            diff,
            saved=len(old),
            started=((step.state, step.tentacles) for step in existing if not step.retired),
        ),
        created_steps=[(step.key, step.title) for step in result.steps if step.key not in current],
        retired_steps=[(step.key, step.title, step.state) for step in retired],
    )


def inventory_replace(
    *,
    plan: Plan,
    tentacles: Sequence[planner.TentacleInput],
    actor: str = "",
    approach_choice: str | None = None,
    expected_fingerprint: str | None = None,
    expected_version: int | None = None,
    confirm_removals: bool = False,
) -> InventoryReplaced:
    """Replace the plan's Tentacles with `tentacles` and re-plan, keeping progress.

    Tentacles are matched by name (without regard to case). Steps of unchanged Tentacles keep
    their state and evidence; added Tentacles get new steps; steps of removed ones are retired,
    not deleted, so the activity log keeps their history; changed ones are re-planned (their
    steps keep their progress where they still exist). Gates, warnings and the canary are
    re-planned for the whole fleet.

    Checked in this order, each refusal saving nothing:
    - `expected_version` (the version an API client read) refuses with PlanChangedSinceRead
      if the plan has moved on since;
    - `expected_fingerprint` (from `inventory_preview`) refuses with
      InventoryChangedSincePreview if the inventory changed after it was reviewed;
    - a replacement that removes every Tentacle, or any Tentacle with a step in progress, done,
      skipped or failed, raises RemovalsNeedConfirmation unless `confirm_removals`;
    - if the new inventory changes the recommended approach of a plan that follows the
      recommendation, `approach_choice` says what to do: "keep" stays with the current
      approach (recorded as an override), "switch" takes the new recommendation; None raises
      ApproachChangeRequired.
    Replacing the inventory with an identical one changes nothing, not even the plan's version.
    """
    _approach_choice_check(approach_choice)
    _inventory_check(tentacles)
    changes = {"created": 0, "kept": 0, "retired": 0}
    with transaction.atomic():
        plan_lock(plan=plan, reload_all=True)
        # plan_lock has just moved the version on: the caller read the one before it.
        if expected_version is not None and plan.version - 1 != expected_version:
            raise PlanChangedSinceRead(expected=expected_version, current=plan.version - 1)
        previous = plan.approach
        saved = list(Tentacle.objects.of_installation(plan.installation_id))
        old = [t.as_input() for t in saved]
        if (
            expected_fingerprint is not None
            and inventory_diff.inventory_fingerprint(old) != expected_fingerprint
        ):
            raise InventoryChangedSincePreview(
                "Someone changed this plan's inventory after you reviewed the changes. "
                "Review them again."
            )
        new = inventory_diff.kept_as_before(tentacles, old)
        diff = inventory_diff.inventory_diff(old, new)
        if diff.empty:
            transaction.set_rollback(True)  # nothing to do: not even the version moves
        else:
            if diff.removed and not confirm_removals:
                removals = _removals(diff, saved=len(old), started=_started_steps(plan))
                if removals.confirmation_needed:
                    raise RemovalsNeedConfirmation(removals)
            result, recommended = _inventory_replan(plan, new, choice=approach_choice)
            if recommended is not None and approach_choice is None:
                raise ApproachChangeRequired(current=previous, recommended=recommended)
            refs = tentacles_replace(
                installation_id=plan.installation_id, saved=saved, new=new, diff=diff
            )
            plan_fields_set(plan, result)
            plan.save()
            _step_keys_follow_tentacles(plan, result.steps)
            changes = steps_reconcile(plan=plan, planned_steps=result.steps, tentacles=refs)
            readiness_evaluate(plan=plan)
            switched = plan.approach != previous
            Activity.objects.create(
                plan=plan,
                actor=actor_name(actor),
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


def _approach_choice_check(approach_choice: str | None) -> None:
    if approach_choice is not None and approach_choice not in APPROACH_CHOICES:
        raise PlanInputInvalid({"approach_choice": ['Choose "keep" or "switch".']})


def _removals(
    diff: inventory_diff.InventoryDiff,
    *,
    saved: int,
    started: Iterable[tuple[str, Sequence[str]]],
) -> Removals:
    """What `diff` removes, given the (state, Tentacle names) of the plan's current steps."""
    if not diff.removed:
        return NO_REMOVALS
    removed = [t.name for t in diff.removed]
    gone = {inventory_diff.name_key(name) for name in removed}
    worked_on: set[str] = set()
    for state, names in started:
        if state in STARTED_STATES:
            worked_on.update(
                key for name in names if (key := inventory_diff.name_key(name)) in gone
            )
    return Removals(
        removed=removed,
        with_progress=[name for name in removed if inventory_diff.name_key(name) in worked_on],
        every_tentacle=len(removed) == saved,
    )


def _started_steps(plan: Plan) -> list[tuple[str, list[str]]]:
    """(state, Tentacle names) of the plan's current steps that have started; only
    per-Tentacle steps name Tentacles."""
    return list(
        Step.objects.filter(plan=plan, retired=False, state__in=STARTED_STATES).values_list(
            "state", "tentacles"
        )
    )


ACTIVITY_NAMES_LIMIT = 100


def inventory_change_summary(diff: inventory_diff.InventoryDiff, shown: int = 3) -> str:
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
    if len(tentacles) > settings.PLAN_MAX_TENTACLES:
        errors["tentacles"] = [
            inventory.row_count_message(len(tentacles), settings.PLAN_MAX_TENTACLES)
        ]
    seen: dict[str, int] = {}
    for index, tentacle in enumerate(tentacles):
        key = inventory_diff.name_key(tentacle.name)
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
            orphans[(step.hop, step.kind, inventory_diff.name_key(name))] = step.key
    moves: dict[str, str] = {}
    if not orphans:
        return moves
    for planned_step in planned:
        if not planned_step.tentacles or planned_step.key in every_key:
            continue
        candidates = {
            orphans.get((planned_step.hop, planned_step.kind, inventory_diff.name_key(name)))
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
