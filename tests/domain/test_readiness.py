"""The readiness rules (domain/readiness.py), each named after the situation it protects."""

from __future__ import annotations

import datetime

import pytest

from upgrade_planner.domain.readiness import (
    HopRef,
    MachineFacts,
    NodeFacts,
    ReadinessInput,
    ScanFacts,
    all_sources,
    evaluate,
    feature_problems,
    server_os_problem,
    sql_server_problem,
    windows_release,
)

TODAY = datetime.date(2026, 6, 1)


def facts(current: str = "2019.13", target: str = "2024.1", **given: object) -> ReadinessInput:
    hops = given.pop("hops", (HopRef(0, current, target),))
    return ReadinessInput(current, target, hops, TODAY, **given)  # type: ignore[arg-type]


def codes(found) -> dict[str, str]:
    return {finding.code: finding.severity for finding in found}


@pytest.mark.parametrize(
    ("server_os", "target", "inhibited"),
    [
        ("Windows Server 2012", "2020.1", True),
        ("Windows Server 2012 R2", "2020.1", False),
        ("Windows Server 2008 R2", "2019.13", False),
        ("Windows Server 2008 SP2", "2019.4", True),
        ("Microsoft Windows NT 6.2.9200.0", "2024.1", True),
        ("Microsoft Windows NT 10.0.17763.0", "2024.1", False),
    ],
)
def test_a_host_below_the_targets_os_floor_inhibits_the_server_upgrade(
    server_os, target, inhibited
):
    found = evaluate(facts("2019.1", target, server_os=server_os))

    assert ("host-os-below-floor" in codes(found)) is inhibited
    if inhibited:
        finding = next(f for f in found if f.code == "host-os-below-floor")
        assert finding.severity == "inhibitor"
        assert finding.guards[0].hop == 0
        assert "upgrade-server-modern" in finding.guards[0].kinds


@pytest.mark.parametrize(
    ("dotnet", "target", "inhibited"),
    [("4.7.1", "2019.7", True), ("4.7.2", "2019.7", False), ("4.6", "2019.6", False)],
)
def test_dotnet_below_4_7_2_inhibits_2019_7_and_later(dotnet, target, inhibited):
    found = evaluate(facts("2019.1", target, dotnet_version=dotnet))

    assert ("dotnet-below-floor" in codes(found)) is inhibited


def test_dotnet_is_not_checked_from_2020_1_which_bundles_its_runtime():
    assert "dotnet-below-floor" not in codes(evaluate(facts(dotnet_version="4.5")))


@pytest.mark.parametrize(
    ("sql", "target", "inhibited"),
    [
        ("2014", "2020.1", True),
        ("2016", "2020.1", False),
        ("13.0.5026.0", "2020.2.17", True),
        ("14.0.1000.169", "2020.2.17", False),
        ("2016", "2020.2.18", False),
        ("2016", "2020.3.5", True),
        ("2016", "2020.3.6", False),
        ("2008 R2", "2019.13", False),
    ],
)
def test_sql_server_below_the_targets_floor_inhibits_the_server_upgrade(sql, target, inhibited):
    found = evaluate(facts("2019.13", target, sql_server_version=sql))

    assert ("sql-server-below-floor" in codes(found)) is inhibited


def test_the_sql_floor_where_the_docs_disagree_says_which_value_it_applies():
    finding = next(
        f
        for f in evaluate(facts("2019.13", "2020.1", sql_server_version="2014"))
        if f.code == "sql-server-below-floor"
    )

    assert "SQL Server 2014" in finding.text and "We apply 2016" in finding.text


def test_license_maintenance_ending_before_the_targets_release_inhibits_it():
    found = evaluate(
        facts("3.0", "3.17.14", license_maintenance_expires=datetime.date(2017, 11, 11))
    )

    assert codes(found)["license-maintenance-expired"] == "inhibitor"


def test_license_maintenance_covering_the_release_date_is_no_finding():
    found = evaluate(
        facts("3.0", "3.17.14", license_maintenance_expires=datetime.date(2017, 11, 12))
    )

    assert "license-maintenance-expired" not in codes(found)


def test_an_expired_license_and_an_unknown_release_date_is_a_warning_to_check():
    found = evaluate(facts(license_maintenance_expires=datetime.date(2025, 1, 1)))

    assert codes(found)["license-maintenance-check"] == "warning"


def test_no_license_date_is_unknown_and_says_check():
    finding = next(f for f in evaluate(facts()) if f.code == "license-maintenance-unknown")

    assert finding.severity == "info" and finding.text.startswith("Unknown — check")


def test_a_scanned_expiry_date_is_newer_evidence_than_the_one_given():
    scan = ScanFacts(maintenance_expires=datetime.date(2018, 1, 1))
    found = evaluate(
        facts("3.0", "3.17.14", license_maintenance_expires=datetime.date(2017, 1, 1), scan=scan)
    )

    assert "license-maintenance-expired" not in codes(found)


@pytest.mark.parametrize(
    ("target", "severity"), [("2023.2.9755", "inhibitor"), ("2023.2.9754", "warning")]
)
def test_a_running_node_the_plan_does_not_know_inhibits_from_2023_2_9755(target, severity):
    scan = ScanFacts(nodes=(NodeFacts("node-1", True), NodeFacts("node-3", True)))
    found = evaluate(facts("2022.1", target, ha_nodes=("node-1", "node-2"), scan=scan))

    finding = next(f for f in found if f.code == "ha-node-not-in-plan")
    assert finding.severity == severity
    assert finding.subjects == ("node-3",)


def test_running_nodes_the_plan_stops_are_only_info():
    scan = ScanFacts(nodes=(NodeFacts("node-1", True), NodeFacts("node-2", False)))
    found = evaluate(facts("2022.1", "2024.1", ha_nodes=("Node-1", "node-2"), scan=scan))

    assert codes(found)["ha-nodes-running"] == "info"
    assert "ha-node-not-in-plan" not in codes(found)


@pytest.mark.parametrize(
    ("start", "end", "broken"),
    [
        ("2021.1.8017", "2023.4", True),
        ("2021.1.8018", "2023.4", False),
        ("2021.3.12912", "2022.2.1", True),
        ("2021.3.12911", "2022.2.1", False),
    ],
)
def test_a_hop_on_a_known_broken_path_inhibits_its_server_upgrade(start, end, broken):
    found = evaluate(facts(start, end))

    assert any(f.code.startswith("broken-path-") for f in found) is broken


def test_windows_2003_targets_are_named_as_stopping_at_2024_1():
    tentacles = (MachineFacts("old-01", "3.0", "Windows Server 2003"), MachineFacts("web-01"))
    finding = next(
        f for f in evaluate(facts(tentacles=tentacles)) if f.code == "windows-2003-targets"
    )

    assert finding.severity == "warning" and finding.subjects == ("old-01",)


def test_tentacles_from_the_2_6_era_are_named_for_sha1_certificates_at_2025_3():
    tentacles = (MachineFacts("web-01", "2.6.5"),)
    found = evaluate(
        facts(
            "2.6.5",
            "2025.3",
            hops=(HopRef(0, "2.6.5", "2018.10"), HopRef(1, "2018.10", "2025.3")),
            tentacles=tentacles,
        )
    )

    assert next(f for f in found if f.code == "sha1-tentacle-certificates").subjects == ("web-01",)


def test_a_feature_in_use_that_stops_is_a_warning_and_one_only_warned_is_info():
    found = codes(evaluate(facts("2023.1", "2024.1", features_in_use=("ssh-targets", "helm-v2"))))

    assert found["mono-ssh-targets"] == "warning"
    assert found["helm-v2"] == "info"


def test_the_service_watchdog_is_a_reminder_on_every_modern_upgrade():
    assert codes(evaluate(facts()))["service-watchdog"] == "info"


def test_a_target_newer_than_the_catalogue_is_a_warning_not_an_inhibitor():
    assert codes(evaluate(facts("2025.1", "2027.1")))["unknown-target"] == "warning"


def test_endpoints_a_scan_could_not_read_are_reported_as_unknown():
    found = evaluate(
        facts(scan=ScanFacts(unknown=("HA nodes (/api/octopusservernodes: not found)",)))
    )

    assert codes(found)["scan-incomplete"] == "info"


def test_inhibitors_come_first_and_only_inhibitors_guard_steps():
    found = evaluate(facts(sql_server_version="2012", server_os="Windows Server 2008 R2"))

    severities = [f.severity for f in found]
    assert severities == sorted(severities, key=["inhibitor", "warning", "info"].index)
    assert all(bool(f.guards) == (f.severity == "inhibitor") for f in found)


@pytest.mark.parametrize(
    ("check", "value", "ok"),
    [
        (server_os_problem, "Windows Server 2012 R2", True),
        (server_os_problem, "Windows 95", False),
        (sql_server_problem, "13.0.5026.0", True),
        (sql_server_problem, "2015", False),
    ],
)
def test_unknown_values_are_refused_with_a_message(check, value, ok):
    assert (check(value) is None) is ok


def test_an_unknown_feature_is_refused_by_its_index():
    assert [index for index, _ in feature_problems(["helm-v2", "cobol"])] == [1]


def test_windows_releases_order_service_packs_below_r2():
    assert windows_release("Windows Server 2008 SP2") < windows_release("Windows Server 2008 R2")


def test_every_rule_has_a_source():
    assert all(source.strip() for _, source in all_sources())
