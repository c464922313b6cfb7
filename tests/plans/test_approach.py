"""Choosing the approach for the 2.6 migration, and explaining the choice."""

import pytest

from tests.plans.builders import fleet, plan, steps_of, tentacle
from upgrade_planner.domain.planner import PlannerSettings, PlanningError, recommend_approach


@pytest.mark.parametrize(
    ("can_provision", "count", "threshold", "expected"),
    [
        (True, 0, 10, "new-server"),
        (True, 500, 10, "new-server"),
        (False, 0, 10, "manual"),
        (False, 10, 10, "manual"),
        (False, 11, 10, "in-place"),
        (False, 3, 2, "in-place"),
        (False, 25, 30, "manual"),
    ],
)
def test_it_recommends_new_server_then_manual_for_a_handful_then_in_place(
    can_provision, count, threshold, expected
):
    settings = PlannerSettings(handful_threshold=threshold)

    assert recommend_approach(can_provision, count, settings) == expected
    result = plan(
        settings, can_provision_new_server=can_provision, tentacles=fleet(count, prefix="t")
    )
    assert result.recommended_approach == expected
    assert result.approach == expected
    assert result.approach_overridden is False


def test_the_handful_assumption_is_stated_with_the_threshold():
    default = plan()
    custom = plan(PlannerSettings(handful_threshold=3))

    assert default.assumptions[0] == (
        "We treat 10 or fewer Tentacles as a handful you can upgrade by hand; "
        "the docs give no number."
    )
    assert custom.assumptions[0].startswith("We treat 3 or fewer Tentacles")


@pytest.mark.parametrize("override", ["in-place", "manual"])
def test_a_users_override_is_honoured_and_recorded(override):
    result = plan(can_provision_new_server=True, approach=override)

    assert result.approach == override
    assert result.recommended_approach == "new-server"
    assert result.approach_overridden is True
    assert result.reasons[0] == (
        f"You chose {override} instead of the recommended new-server; the plan follows your choice."
    )
    assert result.reasons[1].startswith("We recommended new-server because")
    (recommended,) = [a for a in result.alternatives if a.approach == "new-server"]
    assert recommended.why_not.startswith("This is what we recommend")


def test_an_override_that_matches_the_recommendation_is_not_an_override():
    result = plan(approach="new-server")

    assert result.approach_overridden is False
    assert "instead of" not in result.reasons[0]


def test_the_alternatives_are_the_other_two_with_reasons_for_this_input():
    result = plan(can_provision_new_server=False, tentacles=fleet(40))

    assert result.approach == "in-place"
    alternatives = {a.approach: a.why_not for a in result.alternatives}
    assert set(alternatives) == {"new-server", "manual"}
    assert "You said you cannot provision a new server" in alternatives["new-server"]
    assert "40 Tentacles is more than the handful (10 or fewer)" in alternatives["manual"]


def test_the_reasons_describe_this_fleet():
    tentacles = (
        *fleet(4),
        tentacle("poller", communication_style="polling"),
        tentacle("dark", online=False),
        tentacle("locked", restricted_permissions=True),
    )
    result = plan(tentacles=tentacles, new_server_url="https://octopus3.corp")

    reasons = " ".join(result.reasons)
    assert "Hydra upgrades 5 Tentacles on 5 machines" in reasons
    assert "2 Tentacles on 2 machines (offline; restricted permissions)" in reasons
    assert "Polling Tentacles (1) need the Server Mapping https://octopus3.corp:10943" in reasons


def test_with_no_tentacles_the_plan_still_stands_without_per_tentacle_steps():
    for approach in ("new-server", "in-place", "manual"):
        result = plan(tentacles=(), approach=approach)

        per_tentacle = [s for s in result.steps if s.tentacles]
        assert per_tentacle == []
        assert steps_of(result, "hydra-prepare") == []
        assert steps_of(result, "verify-canary") == []
        assert len(steps_of(result, "verify-new-server-health")) == 1
        assert len(steps_of(result, "migrate-data")) == 1
        assert "lists no Tentacles" in " ".join(result.reasons)
        assert not any(s.point_of_no_return for s in result.steps)
        assert "wrong-order-strands-tentacles" not in {w.code for w in result.warnings}


def test_with_no_tentacles_and_no_new_server_manual_is_recommended():
    result = plan(tentacles=(), can_provision_new_server=False)

    assert result.approach == "manual"
    assert result.reasons[0] == (
        "You cannot provision a new server and the inventory lists no Tentacles, "
        "so the server is simply upgraded in place."
    )
    in_place = next(a for a in result.alternatives if a.approach == "in-place")
    assert "same as upgrading the server in place" in in_place.why_not


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"approach": "sideways"}, "approach"),
        ({"polling_port": 0}, "polling_port"),
        ({"polling_port": 70000}, "polling_port"),
        ({"backup_size_mb": -1}, "backup_size_mb"),
        ({"history_days_to_keep": 0}, "history_days_to_keep"),
        ({"tentacles": (tentacle("a"), tentacle("a"))}, "tentacles[1].name"),
        ({"tentacles": (tentacle("a"), tentacle(" "))}, "tentacles[1].name"),
    ],
)
def test_input_it_cannot_plan_is_refused_naming_the_field(fields, field):
    with pytest.raises(PlanningError) as error:
        plan(**fields)

    assert error.value.field == field
    assert error.value.message
