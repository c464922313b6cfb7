"""Inventory re-sync: previewing and replacing a plan's Tentacles with a new inventory and
re-planning, keeping progress (steps follow their Tentacles when only a key changes) and
asking before the recommended approach changes under a plan that follows it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.db import transaction

from upgrade_planner.bulk import BULK_BATCH
from upgrade_planner.domain import inventory, inventory_diff, planner
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, Approach, StepState
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.installations.services import tentacles_replace
from upgrade_planner.plans.models import Activity, Plan, Step
from upgrade_planner.plans.services.creation import PlanInputInvalid, planner_settings
from upgrade_planner.plans.services.locking import plan_lock
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


@dataclass(frozen=True)
class InventoryReplaced:
    plan: Plan
    diff: inventory_diff.InventoryDiff
    steps: dict[str, int]
    approach_before: str
    approach_after: str


def inventory_preview(
    *, plan: Plan, tentacles: Sequence[planner.TentacleInput]
) -> InventoryPreview:
    """What `inventory_replace` would do with `tentacles`. Reads only; a fixed number of
    queries whatever the fleet's size."""
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
        plan_lock(plan=plan, reload_all=True)
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
    if len(tentacles) > inventory.MAX_ROWS:
        errors["tentacles"] = [
            f"The inventory has {len(tentacles):,} Tentacles; the limit is {inventory.MAX_ROWS:,}."
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
