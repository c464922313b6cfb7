"""The version path: required stops, broken-path detours, and how hops chain."""

import pytest

from tests.plans.builders import ancestors, fleet, kinds, plan, steps_of, tentacle


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (
            "1.2",
            "3.17.14",
            [
                ("1.2.0", "1.6.3.1723", "pre-1.6"),
                ("1.6.3.1723", "2.6.5", "1.6-to-2.6"),
                ("2.6.5", "3.17.14", "2.6-migration"),
            ],
        ),
        (
            "1.6",
            "2018.10",
            [("1.6.0", "2.6.5", "1.6-to-2.6"), ("2.6.5", "2018.10.0", "2.6-migration")],
        ),
        ("1.6.0", "1.6.3.1723", [("1.6.0", "1.6.3.1723", "pre-1.6")]),
        ("1.6", "2.3.0", [("1.6.0", "2.3.0", "1.6-to-2.6")]),
        (
            "2.0.13.1100",
            "3.0.1",
            [("2.0.13.1100", "2.6.5", "2.x-to-2.6"), ("2.6.5", "3.0.1", "2.6-migration")],
        ),
        (
            "2.6.0",
            "3.17.14",
            [("2.6.0", "2.6.5", "2.x-to-2.6"), ("2.6.5", "3.17.14", "2.6-migration")],
        ),
        ("2.6.5.1581", "3.17.14", [("2.6.5.1581", "3.17.14", "2.6-migration")]),
        ("2.6.5", "4.0.11", [("2.6.5", "4.0.11", "2.6-migration")]),
        ("2.6.5", "2018.10.1", [("2.6.5", "2018.10.1", "2.6-migration")]),
        (
            "2.6.5",
            "2019.3.1",
            [("2.6.5", "2018.10 LTS", "2.6-migration"), ("2018.10 LTS", "2019.3.1", "modern")],
        ),
        (
            "1.2",
            "2020.1.0",
            [
                ("1.2.0", "1.6.3.1723", "pre-1.6"),
                ("1.6.3.1723", "2.6.5", "1.6-to-2.6"),
                ("2.6.5", "2018.10 LTS", "2.6-migration"),
                ("2018.10 LTS", "2020.1.0", "modern"),
            ],
        ),
        # Known broken paths (OctopusDeploy/Issues#4979).
        (
            "2.6.5",
            "2018.8.5",
            [("2.6.5", "2018.7.14", "2.6-migration"), ("2018.7.14", "2018.8.5", "modern")],
        ),
        (
            "2.6.5",
            "2018.5.0",
            [
                ("2.6.5", "3.4.15", "2.6-migration"),
                ("3.4.15", "3.17.14", "detour"),
                ("3.17.14", "2018.5.0", "modern"),
            ],
        ),
        (
            "3.2.0",
            "2018.4.2",
            [
                ("3.2.0", "3.4.15", "detour"),
                ("3.4.15", "3.17.14", "detour"),
                ("3.17.14", "2018.4.2", "modern"),
            ],
        ),
        ("3.5.0", "2018.4.2", [("3.5.0", "2018.4.2", "modern")]),
        ("3.2.0", "2018.6.0", [("3.2.0", "2018.6.0", "modern")]),
        ("3.17.14", "2019.1.0", [("3.17.14", "2019.1.0", "modern")]),
        ("2018.10.0", "2018.10.3", [("2018.10.0", "2018.10.3", "modern")]),
    ],
)
def test_the_path_makes_every_required_stop(current, target, expected):
    result = plan(server_version=current, target_version=target)

    assert [(h.from_version, h.to_version, h.kind) for h in result.path] == expected
    assert all(h.reason and h.source for h in result.path)
    assert sum(h.kind == "2.6-migration" for h in result.path) <= 1


def test_hops_chain_and_end_at_the_target():
    result = plan(server_version="1.2", target_version="2019.3.1")

    for before, after in zip(result.path, result.path[1:], strict=False):
        assert after.from_version == before.to_version
    assert result.path[-1].to_version == "2019.3.1"


def test_the_lts_stop_explains_the_newest_rule():
    result = plan(server_version="2.6.5", target_version="2019.3.1")

    assert "2.6.5 → 2018.10 LTS → anything newer" in result.path[0].reason
    assert "2018.10.x" in " ".join(result.assumptions)


def test_a_broken_path_detour_says_why_and_cites_its_source():
    result = plan(server_version="2.6.5", target_version="2018.8.5")

    assert "2018.7.14" in result.path[0].reason
    assert "#4958" in result.path[0].reason


def test_the_2018_7_0_target_is_flagged_as_unconfirmed_advice():
    result = plan(server_version="2018.5.7", target_version="2018.7.0")

    assert "2018.7.1" in result.path[-1].reason
    (use_latest,) = [w for w in result.warnings if w.code == "use-latest"]
    assert "2018.7.1 or newer" in use_latest.action
    assert "unconfirmed" in use_latest.action
    assert use_latest.source == "octopus.com/downloads/compare"


def test_a_newer_starting_point_is_not_flagged_for_the_2018_7_0_bug():
    result = plan(server_version="2018.6.0", target_version="2018.7.0")

    assert "2018.5.7 or earlier" not in result.path[-1].reason
    # Still a poor target for another reason: account ids of the form Accounts-x (Issues#4742).
    assert "Issues#4742" in result.path[-1].reason
    (use_latest,) = [w for w in result.warnings if w.code == "use-latest"]
    assert use_latest.source == "Issues#4742"


def test_a_modern_path_has_no_approach():
    result = plan(server_version="3.17.14", target_version="2018.10.2", approach="manual")

    assert result.approach is None
    assert result.recommended_approach is None
    assert result.approach_overridden is False
    assert result.alternatives == ()
    assert result.migration is None
    assert "only applies when leaving 2.6" in " ".join(result.reasons)


@pytest.mark.parametrize(
    ("current", "target", "rehearsal", "optional"),
    [
        ("3.17.14", "2018.10.2", True, False),  # 3 → 2018: major
        ("2018.10.0", "2019.1.0", True, False),  # 2018 → 2019: major
        ("2019.1.0", "2019.3.1", False, None),  # minor
    ],
)
def test_a_major_modern_upgrade_is_rehearsed_on_a_test_instance(
    current, target, rehearsal, optional
):
    result = plan(server_version=current, target_version=target)

    rehearsals = steps_of(result, "rehearse-on-test-instance")
    assert bool(rehearsals) is rehearsal
    if rehearsal:
        assert rehearsals[0].optional is optional
        assert rehearsals[0].depends_on == ()


def test_a_large_estate_gets_an_optional_rehearsal_even_for_a_minor_upgrade():
    result = plan(server_version="2019.1.0", target_version="2019.3.1", tentacles=fleet(101))

    (rehearsal,) = steps_of(result, "rehearse-on-test-instance")
    assert rehearsal.optional is True
    assert "101 deployment targets" in rehearsal.detail


def test_a_modern_hop_follows_the_standard_upgrade_order():
    result = plan(server_version="2019.1.0", target_version="2019.3.1")

    assert kinds(result) == [
        "backup-license-key",
        "backup-master-key",
        "maintenance-mode-on",
        "backup-database",
        "backup-server-folders",
        "upgrade-server-modern",
        "verify-server-upgrade",
        "upgrade-tentacles-modern",
        "maintenance-mode-off",
    ]
    upgrade = steps_of(result, "upgrade-server-modern")[0]
    assert "Octopus.Server.exe service --stop" in upgrade.detail
    assert "--drain" not in upgrade.detail  # draining one node while others run is the HA trap
    assert "msiexec /i Octopus.2019.3.1-x64.msi /quiet" in upgrade.detail
    assert 'WIXUI_DONTVALIDATEPATH="1"' in upgrade.detail


@pytest.mark.parametrize(
    ("current", "target", "hop_kinds"),
    [
        ("1.2", "2.6.5", [["backup-database", "install-server-1.6"], ["check-duplicate-names"]]),
        ("2.3.0", "2.6.5", [["backup-database", "upgrade-server-2.6", "upgrade-tentacles-2.6"]]),
    ],
)
def test_pre_2_6_hops_start_with_their_backup(current, target, hop_kinds):
    result = plan(server_version=current, target_version=target)

    for index, expected_start in enumerate(hop_kinds):
        assert kinds(result, hop=index)[: len(expected_start)] == expected_start
        assert "backup-database" in kinds(result, hop=index)


def test_the_1_6_hop_imports_data_and_replaces_the_tentacles():
    result = plan(server_version="1.6", target_version="2.6.5")

    assert kinds(result) == [
        "check-duplicate-names",
        "backup-database",
        "install-server-2.x",
        "import-1.6-data",
        "recreate-permissions",  # with the data it makes up for, before the Tentacles
        "upgrade-tentacles-1.6",
        "verify-server-upgrade",
        "retire-1.6-server",
    ]
    tentacles = steps_of(result, "upgrade-tentacles-1.6")[0]
    assert "import-certificate --from-registry" in tentacles.detail
    assert "10934" in tentacles.detail


def test_every_hop_has_a_backup_database_step_and_keys_carry_the_hop():
    result = plan(server_version="1.2", target_version="2019.3.1", tentacles=fleet(2))

    for index in range(len(result.path)):
        assert any(s.kind == "backup-database" and s.hop == index for s in result.steps)
    assert all(step.key.startswith(f"{step.hop}:") for step in result.steps)
    assert len({step.key for step in result.steps}) == len(result.steps)


def test_each_hop_waits_for_every_required_step_of_the_previous_hop():
    tentacles = (*fleet(2), tentacle("svc", service_account="CORP\\svc"))
    result = plan(server_version="1.2", target_version="2019.3.1", tentacles=tentacles)

    for step in result.steps:
        if step.hop == 0:
            continue
        before = ancestors(result, step.key)
        required = {s.key for s in result.steps if s.hop == step.hop - 1 and not s.optional}
        assert required <= before, (step.key, required - before)
    # The reconfigure and decommission steps of the 2.6 hop are required: they come first.
    assert "2:decommission-old-server" in ancestors(result, "3:backup-license-key")
    assert "2:reconfigure-service-account:svc" in ancestors(result, "3:backup-license-key")
