"""One vocabulary: every layer reads its values and labels from domain.vocabulary."""

from __future__ import annotations

import pytest

from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    ActivityAction,
    Approach,
    CommunicationStyle,
    StepState,
)
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.models import Activity, Plan, Step


def test_a_term_is_its_value_and_carries_its_label() -> None:
    assert Approach("in-place") == "in-place"
    assert Approach("in-place").label == "In-place"
    assert StepState.IN_PROGRESS.label == "In progress"
    assert Approach.choices == [
        ("new-server", "New server"),
        ("in-place", "In-place"),
        ("manual", "Manual"),
    ]


def test_an_unknown_value_is_refused() -> None:
    with pytest.raises(ValueError, match="nightly"):
        Approach("nightly")


def test_done_and_skipped_satisfy_a_prerequisite_and_nothing_else_does() -> None:
    assert {str(state) for state in SATISFIED_STATES} == {"done", "skipped"}


def test_the_models_take_their_choices_from_the_vocabulary() -> None:
    assert Plan._meta.get_field("approach").choices == Approach.choices
    assert Step._meta.get_field("state").choices == StepState.choices
    assert Tentacle._meta.get_field("communication_style").choices == CommunicationStyle.choices
    assert Activity._meta.get_field("action").choices == ActivityAction.choices


@pytest.mark.parametrize("action", list(ActivityAction))
def test_every_activity_reads_as_a_verb_never_as_its_code(action: ActivityAction) -> None:
    verb = Activity(action=action).verb
    assert verb == action.label
    assert "-" not in verb


def test_a_pasted_evidence_entry_says_what_happened() -> None:
    assert Activity(action="evidence-pasted").verb == "pasted evidence"
