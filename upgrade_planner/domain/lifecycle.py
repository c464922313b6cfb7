"""The step lifecycle (product.md §4): which action may move a step from which state, and what
each action must check. One table, asked by the services that enforce it, the API and the pages
that offer the actions.

What needs the database (are the prerequisites done, has a dependent started) is checked by the
services; this module says which of those checks an action needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from upgrade_planner.domain.vocabulary import StepState


class StepAction(StrEnum):
    START = "start"
    COMPLETE = "complete"
    SKIP = "skip"
    REOPEN = "reopen"
    FAIL = "fail"


@dataclass(frozen=True)
class Rule:
    """What one action may do."""

    action: StepAction
    allowed_from: frozenset[StepState]
    to_state: StepState
    needs_reason: bool = False
    # Refused while a prerequisite is neither done nor skipped.
    check_prerequisites: bool = False
    # Only optional and per-Tentacle steps may be skipped.
    check_skippable: bool = False
    # Refused while a step that depends on this one is in progress or done.
    check_dependents: bool = False
    # A point of no return is acted on only once a person has confirmed it.
    needs_confirmation: bool = False


RULES: dict[StepAction, Rule] = {
    StepAction.START: Rule(
        StepAction.START,
        frozenset({StepState.READY}),
        StepState.IN_PROGRESS,
        check_prerequisites=True,
        needs_confirmation=True,
    ),
    StepAction.COMPLETE: Rule(
        StepAction.COMPLETE,
        frozenset({StepState.READY, StepState.IN_PROGRESS, StepState.FAILED}),
        StepState.DONE,
        check_prerequisites=True,
        needs_confirmation=True,
    ),
    StepAction.SKIP: Rule(
        StepAction.SKIP,
        frozenset({StepState.BLOCKED, StepState.READY, StepState.IN_PROGRESS, StepState.FAILED}),
        StepState.SKIPPED,
        needs_reason=True,
        check_skippable=True,
    ),
    StepAction.REOPEN: Rule(
        StepAction.REOPEN,
        frozenset({StepState.DONE, StepState.SKIPPED, StepState.FAILED}),
        StepState.READY,
        needs_reason=True,
        check_dependents=True,
    ),
    # A failure that arrives once work built on the step has started (a late check result)
    # must not pull the step out from under it: product.md §4 keeps a step's dependents from
    # running ahead of it. The failure is then kept as evidence on the step instead.
    StepAction.FAIL: Rule(
        StepAction.FAIL,
        frozenset({StepState.READY, StepState.IN_PROGRESS, StepState.DONE}),
        StepState.FAILED,
        needs_reason=True,
        check_dependents=True,
    ),
}

# What a person may ask for through the page or the API; `fail` is set by verification.
PERSON_ACTIONS: tuple[StepAction, ...] = (
    StepAction.START,
    StepAction.COMPLETE,
    StepAction.SKIP,
    StepAction.REOPEN,
)


def is_skippable(*, optional: bool, per_tentacle: bool) -> bool:
    """Optional steps may be skipped, and per-Tentacle steps excluded; no other step may."""
    return optional or per_tentacle


def needs_confirmation(rule: Rule, *, point_of_no_return: bool, state: StepState) -> bool:
    """Acting on a point of no return needs a confirmation, unless the step is already under
    way (whoever started it confirmed then)."""
    return rule.needs_confirmation and point_of_no_return and state != StepState.IN_PROGRESS


def allowed_actions(
    state: StepState | str, *, optional: bool, per_tentacle: bool
) -> frozenset[StepAction]:
    """The actions a person may try on a step in `state`. Prerequisites and dependents are
    checked when acting, so a listed action can still be refused with the reason."""
    state = StepState(state)
    skippable = is_skippable(optional=optional, per_tentacle=per_tentacle)
    return frozenset(
        action
        for action in PERSON_ACTIONS
        if state in RULES[action].allowed_from and (skippable or not RULES[action].check_skippable)
    )


def offered_actions(
    state: StepState | str, *, optional: bool, per_tentacle: bool, point_of_no_return: bool
) -> frozenset[StepAction]:
    """What a page offers: the allowed actions, less starting a point of no return — it is
    confirmed and done in one go, with the confirmation the Done control carries."""
    actions = allowed_actions(state, optional=optional, per_tentacle=per_tentacle)
    if point_of_no_return:
        actions -= {StepAction.START}
    return actions
