"""Each warning appears exactly when it applies, and says so in terms of this input."""

import pytest

from tests.plans.builders import codes, fleet, plan, tentacle, warning
from upgrade_planner.domain.planner import WARNING_CODES, PlannerSettings

# A quiet baseline: new server, three listening Tentacles, SQL ready, small backup.
BASELINE = {"point-of-no-return", "license-not-imported", "use-latest"}


@pytest.mark.parametrize(
    ("fields", "added"),
    [
        ({}, set()),
        ({"uses_builtin_feed": True}, {"package-feed-not-in-backup"}),
        (
            {"tentacles": (*fleet(2), tentacle("s", service_account="CORP\\svc"))},
            {"service-account-reset"},
        ),
        (
            {"tentacles": (*fleet(2), tentacle("r", restricted_permissions=True))},
            {"restricted-permissions"},
        ),
        (
            {"tentacles": (tentacle("a", hostname="h.corp"), tentacle("b", hostname="H.corp"))},
            {"multi-instance-host"},
        ),
        (
            {"tentacles": (*fleet(2), tentacle("p", communication_style="polling"))},
            {"server-mapping", "polling-port"},
        ),
        ({"backup_size_mb": 800}, {"slow-migration"}),
        ({"document_count": 400_000}, {"slow-migration"}),
        ({"tentacles": (*fleet(2), tentacle("o", online=False))}, {"offline-tentacles"}),
        ({"tentacles": (*fleet(2), tentacle("u", version="2.0.9"))}, {"per-user-install"}),
        ({"sql_server_ready": False}, {"sql-server-version"}),
        ({"can_provision_new_server": False}, {"handful-threshold"}),
        ({"approach": "in-place"}, {"wrong-order-strands-tentacles"}),
    ],
)
def test_each_warning_appears_only_when_its_condition_holds(fields, added):
    result = plan(**fields)

    expected = BASELINE | added
    if fields.get("can_provision_new_server") is False:
        expected -= {"point-of-no-return"}  # three Tentacles: manual, no Hydra
    assert codes(result) == expected


def test_every_warning_code_is_in_the_fixed_vocabulary_and_has_words():
    result = plan(
        approach="in-place",
        can_provision_new_server=False,
        sql_server_ready=False,
        uses_builtin_feed=True,
        backup_size_mb=3000,
        target_version="3.0.1",
        tentacles=(
            *fleet(12),
            tentacle("p", communication_style="polling", service_account="C\\s"),
            tentacle("r", restricted_permissions=True),
            tentacle("o", online=False),
            tentacle("u", version="2.0.9"),
            tentacle("m1", hostname="multi.corp"),
            tentacle("m2", hostname="multi.corp"),
        ),
    )

    assert codes(result) == set(WARNING_CODES)
    for found in result.warnings:
        assert found.text and found.action and found.source
    ranks = ["critical", "high", "medium", "info"]
    assert [ranks.index(w.severity) for w in result.warnings] == sorted(
        ranks.index(w.severity) for w in result.warnings
    )


def test_warnings_name_the_first_few_tentacles_affected():
    tentacles = tuple(tentacle(f"web-0{i}", online=False) for i in range(1, 6))
    result = plan(tentacles=tentacles)

    assert (
        "Tentacles the 2.6 server cannot reach: 5. Offline: web-01, web-02 and 3 more."
        in warning(result, "offline-tentacles").text
    )


def test_the_manual_approach_has_no_hydra_warnings():
    tentacles = (*fleet(2), tentacle("p", communication_style="polling", service_account="C\\s"))
    result = plan(approach="manual", tentacles=tentacles)

    assert "point-of-no-return" not in codes(result)
    assert "server-mapping" not in codes(result)
    assert "service-account-reset" not in codes(result)  # no Hydra, no Reinstall
    assert "polling-port" in codes(result)


def test_a_3_0_1_reinstall_resets_custom_accounts_even_by_hand():
    tentacles = (tentacle("s", service_account="CORP\\svc"),)
    result = plan(approach="manual", target_version="3.0.1", tentacles=tentacles)

    assert "Reinstall" in warning(result, "service-account-reset").text


def test_the_server_mapping_warning_gives_the_mapping_to_enter():
    tentacles = (tentacle("p", communication_style="polling"),)
    result = plan(tentacles=tentacles, new_server_url="https://octopus3.corp", polling_port=10934)

    mapping = warning(result, "server-mapping")
    assert mapping.severity == "critical"
    assert "https://octopus3.corp:10934" in mapping.action
    assert "10934" in warning(result, "polling-port").text
    assert "10943" in warning(result, "polling-port").text


def test_the_point_of_no_return_warning_names_the_first_such_step():
    result = plan(tentacles=fleet(3))

    first = next(s for s in result.steps if s.point_of_no_return)
    assert f'"{first.title}"' in warning(result, "point-of-no-return").text
    assert warning(result, "point-of-no-return").severity == "critical"


def test_use_latest_calls_out_a_target_older_than_the_last_3x():
    result = plan(target_version="3.0.1")

    text = warning(result, "use-latest").text
    assert "older than 3.17.14" in text


def test_use_latest_does_not_blame_the_user_for_a_detour_stop():
    result = plan(target_version="2018.5.0")

    assert "older than 3.17.14" not in warning(result, "use-latest").text


def test_modern_upgrades_warn_about_old_3x_targets_and_newer_sql():
    old_target = plan(server_version="3.2.0", target_version="3.5.0")
    sql = plan(server_version="2019.3.1", target_version="2020.3.0")

    assert codes(old_target) == {"use-latest"}
    assert warning(old_target, "use-latest").severity == "info"
    assert codes(sql) == {"sql-server-version"}
    assert "SQL Server 2017" in warning(sql, "sql-server-version").text


def test_a_modern_path_to_a_current_release_has_no_warnings():
    assert plan(server_version="2019.3.1", target_version="2019.8.0").warnings == ()


def test_a_path_that_stops_at_2_6_5_has_no_warnings():
    assert plan(server_version="1.2", target_version="2.6.5").warnings == ()


def test_handful_threshold_appears_when_manual_is_chosen_above_the_threshold():
    result = plan(approach="manual", tentacles=fleet(12))

    text = warning(result, "handful-threshold").text
    assert "(12)" in text and "threshold of 10" in text
    assert "you chose the manual approach" in text


def test_handful_threshold_explains_the_comparison_it_made():
    within = plan(can_provision_new_server=False, tentacles=fleet(4))
    above = plan(PlannerSettings(handful_threshold=2), can_provision_new_server=False)

    assert "within it" in warning(within, "handful-threshold").text
    assert "above it" in warning(above, "handful-threshold").text


def test_slow_migration_says_what_to_do():
    result = plan(backup_size_mb=2048, history_days_to_keep=60)

    slow = warning(result, "slow-migration")
    assert slow.severity == "high"
    assert "Prune history" in slow.action
    assert "--maxage=60 --nologs then --onlylogs" in slow.action
    assert "32 GB" in slow.action
    assert "hours or even days" in slow.text


def test_sql_server_version_for_the_migration_lists_what_is_supported():
    result = plan(sql_server_ready=False, target_version="3.17.14")

    assert "SQL Server 2008" in warning(result, "sql-server-version").text
