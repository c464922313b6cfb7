"""The planner's estimates (content/estimates.toml): one per fact, each with its assumption and
source, attached to every step. DB-free."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.plans.builders import fleet, plan, steps_of
from upgrade_planner.domain.planner import STEP_KINDS, duration_text
from upgrade_planner.domain.planning.estimates import (
    DEFAULT,
    basis_of,
    estimate_table,
    needs_person,
)
from upgrade_planner.domain.schedule import Task, Window, forecast

NOW = datetime(2026, 5, 2, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", sorted(STEP_KINDS))
def test_every_step_kind_has_its_own_estimate(kind):
    # A Tentacle upgrade always has its method: by Hydra or by hand.
    methods = ["hydra", "manual"] if kind == "upgrade-tentacle" else [None]
    for method in methods:
        assert basis_of(kind, method) != DEFAULT, f"add {kind} to content/estimates.toml"


@pytest.mark.parametrize("basis", sorted(estimate_table()))
def test_every_estimate_says_what_it_assumes_and_where_it_comes_from(basis):
    entry = estimate_table()[basis]

    assert entry["assumption"].strip()
    if entry["source"]:
        assert entry["source"].startswith("docs/")
    else:
        # No doc gives the number: the wording must say it is ours.
        said = entry["assumption"].lower()
        assert "our assumption" in said or "we assume" in said


def test_the_migration_estimate_is_the_upper_end_of_the_sizing_shown_for_the_same_backup():
    result = plan(backup_size_mb=300)
    (migrate,) = steps_of(result, "migrate-data")
    (estimate,) = [e for e in result.estimates if e.basis == "migrate-data"]

    assert result.migration is not None
    assert migrate.estimate_minutes == round(result.migration.duration_high_hours * 60)
    assert duration_text(result.migration) in estimate.assumption
    assert estimate.source.endswith("minimize-migration-time.md")


def test_a_bigger_backup_makes_a_longer_migration_estimate():
    small = steps_of(plan(backup_size_mb=100), "migrate-data")[0]
    large = steps_of(plan(backup_size_mb=4000), "migrate-data")[0]

    assert large.estimate_minutes > small.estimate_minutes


def test_re_indexing_the_built_in_feed_is_planned_at_the_upper_end_of_5_to_20_minutes():
    (feed,) = steps_of(plan(uses_builtin_feed=True), "move-package-feed")

    assert feed.estimate_minutes == 20
    assert "5\u201320" in estimate_table()["move-package-feed"]["assumption"]


def test_a_hydra_rollout_runs_on_every_machine_at_once_but_hand_upgrades_need_a_person():
    assert needs_person("upgrade-tentacle", "hydra") is False
    assert needs_person("upgrade-tentacle", "manual") is True
    assert needs_person("migrate-data", None) is True


def test_every_step_names_an_estimate_listed_once_in_the_plan():
    result = plan(tentacles=fleet(12), can_provision_new_server=False, uses_builtin_feed=True)
    bases = [estimate.basis for estimate in result.estimates]

    assert len(bases) == len(set(bases))
    for step in result.steps:
        assert step.estimate_basis in bases
        (estimate,) = [e for e in result.estimates if e.basis == step.estimate_basis]
        assert step.estimate_minutes == estimate.minutes


def _forecast_minutes(result, people: int = 2) -> float:
    tasks = [
        Task(
            step.key,
            step.estimate_minutes,
            step.depends_on,
            needs_person=needs_person(step.kind, step.method),
        )
        for step in result.steps
    ]
    end = forecast(tasks, now=NOW, people=people, window=Window(NOW)).end
    assert end is not None
    return (end - NOW).total_seconds() / 60


def test_two_hundred_hand_upgrades_take_far_longer_than_a_hydra_rollout_of_the_same_fleet():
    machines = fleet(200)
    hydra = plan(tentacles=machines, can_provision_new_server=False, approach="in-place")
    by_hand = plan(tentacles=machines, can_provision_new_server=False, approach="manual")

    # 200 machines at 20 minutes, two people: 100 turns of 20 minutes for the hand upgrades.
    assert _forecast_minutes(by_hand) - _forecast_minutes(hydra) > 100 * 20 - 200


def test_more_people_shorten_a_plan_of_hand_upgrades():
    result = plan(tentacles=fleet(40), can_provision_new_server=False, approach="manual")

    assert _forecast_minutes(result, people=4) < _forecast_minutes(result, people=1)
