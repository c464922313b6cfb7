"""The step lifecycle table (product.md §4), asked by services, API and pages alike."""

from __future__ import annotations

import pytest

from upgrade_planner.domain.lifecycle import (
    RULES,
    StepAction,
    allowed_actions,
    needs_confirmation,
    offered_actions,
)
from upgrade_planner.domain.vocabulary import StepState

START, COMPLETE, SKIP, REOPEN = (
    StepAction.START,
    StepAction.COMPLETE,
    StepAction.SKIP,
    StepAction.REOPEN,
)


@pytest.mark.parametrize(
    ("state", "required_step", "optional_step"),
    [
        (StepState.BLOCKED, set(), {SKIP}),
        (StepState.READY, {START, COMPLETE}, {START, COMPLETE, SKIP}),
        (StepState.IN_PROGRESS, {COMPLETE}, {COMPLETE, SKIP}),
        (StepState.DONE, {REOPEN}, {REOPEN}),
        (StepState.SKIPPED, {REOPEN}, {REOPEN}),
        (StepState.FAILED, {COMPLETE, REOPEN}, {COMPLETE, REOPEN, SKIP}),
    ],
)
def test_each_state_allows_the_actions_of_the_contract(
    state: StepState, required_step: set[StepAction], optional_step: set[StepAction]
) -> None:
    assert allowed_actions(state, optional=False, per_tentacle=False) == required_step
    assert allowed_actions(state, optional=True, per_tentacle=False) == optional_step
    # Excluding a machine is a skip of its per-Tentacle step.
    assert allowed_actions(state, optional=False, per_tentacle=True) == optional_step


def test_a_required_step_can_never_be_skipped() -> None:
    for state in StepState:
        assert SKIP not in allowed_actions(state, optional=False, per_tentacle=False)


def test_fail_is_never_offered_to_a_person() -> None:
    for state in StepState:
        assert StepAction.FAIL not in allowed_actions(state, optional=True, per_tentacle=True)


def test_a_point_of_no_return_is_finished_in_one_confirmed_go_not_started() -> None:
    offered = offered_actions(
        StepState.READY, optional=False, per_tentacle=False, point_of_no_return=True
    )
    assert offered == {COMPLETE}


def test_a_point_of_no_return_needs_confirmation_until_someone_has_started_it() -> None:
    complete = RULES[COMPLETE]
    assert needs_confirmation(complete, point_of_no_return=True, state=StepState.READY)
    assert not needs_confirmation(complete, point_of_no_return=True, state=StepState.IN_PROGRESS)
    assert not needs_confirmation(complete, point_of_no_return=False, state=StepState.READY)
    assert not needs_confirmation(RULES[SKIP], point_of_no_return=True, state=StepState.READY)


def test_only_skip_and_reopen_and_fail_need_a_reason() -> None:
    assert {a for a, rule in RULES.items() if rule.needs_reason} == {
        SKIP,
        REOPEN,
        StepAction.FAIL,
    }


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="paused"):
        allowed_actions("paused", optional=False, per_tentacle=False)


def test_reopening_or_failing_a_step_is_refused_while_its_dependents_are_under_way() -> None:
    assert {a for a, rule in RULES.items() if rule.check_dependents} == {
        REOPEN,
        StepAction.FAIL,
    }
