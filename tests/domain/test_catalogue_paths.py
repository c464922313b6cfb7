"""The planner's version path through the release catalogue: every broken path of the tracker
(facts §a.2, §k.3) becomes a stop or a warning at the right build, a target no release has is
refused naming its neighbours, and a target newer than the catalogue is planned with a warning."""

import pytest

from tests.plans.builders import plan
from upgrade_planner.domain.planner import PlanningError


def hops(result):
    return [(hop.from_version, hop.to_version, hop.kind) for hop in result.path]


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (
            "2021.1.8017",
            "2023.4.0",
            [("2021.1.8017", "2021.1.8018", "detour"), ("2021.1.8018", "2023.4.0", "modern")],
        ),
        ("2021.1.8018", "2023.4.0", [("2021.1.8018", "2023.4.0", "modern")]),
        ("2021.1.8017", "2023.3.5", [("2021.1.8017", "2023.3.5", "modern")]),
    ],
)
def test_a_server_below_2021_1_8018_stops_there_on_the_way_to_2023_4_or_later(
    current, target, expected
):
    result = plan(server_version=current, target_version=target, tentacles=())

    assert hops(result) == expected


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (
            "2024.3.599",
            "2025.4.10666",
            [("2024.3.599", "2024.3.4894", "detour"), ("2024.3.4894", "2025.4.10666", "modern")],
        ),
        ("2024.3.600", "2025.4.10666", [("2024.3.600", "2025.4.10666", "modern")]),
        ("2024.3.599", "2025.4.10665", [("2024.3.599", "2025.4.10665", "modern")]),
    ],
)
def test_a_server_below_2024_3_600_stops_before_2025_4_10666(current, target, expected):
    result = plan(server_version=current, target_version=target, tentacles=())

    assert hops(result) == expected
    if len(expected) > 1:
        assert "Issues#10126" in result.path[0].reason


def test_a_2_6_server_bound_for_2025_4_takes_every_stop_the_tracker_requires():
    result = plan(server_version="2.6.5", target_version="2025.4.20000")

    assert [hop.to_version for hop in result.path] == [
        "2018.10 LTS",
        "2021.1.8018",
        "2024.3.4894",
        "2025.4.20000",
    ]
    assert "Issues#9141" in result.path[1].reason
    assert "Issues#10126" in result.path[2].reason
    for before, after in zip(result.path, result.path[1:], strict=False):
        assert after.from_version == before.to_version


def test_a_2018_3_server_never_jumps_straight_to_2024_3_or_later():
    result = plan(server_version="2018.3.9", target_version="2024.3.5", tentacles=())

    assert hops(result) == [
        ("2018.3.9", "2021.1.8018", "detour"),
        ("2021.1.8018", "2024.3.5", "modern"),
    ]


@pytest.mark.parametrize(
    ("current", "target", "warned"),
    [
        ("2021.3.12911", "2022.3.5000", False),
        ("2021.3.12912", "2022.3.5000", True),
        ("2021.3.12912", "2022.3.10780", False),
        ("2021.3.12912", "2022.1.2734", False),
        ("2021.3.12912", "2022.1.2735", True),
    ],
)
def test_2021_3_12912_or_later_is_warned_off_a_2022_build_without_the_fix(current, target, warned):
    result = plan(server_version=current, target_version=target, tentacles=())
    use_latest = [w for w in result.warnings if w.code == "use-latest"]

    assert ("Issues#7790" in result.path[-1].reason) is warned
    assert bool(use_latest) is warned
    if warned:
        assert "2022.3.10780" in use_latest[0].action
        assert use_latest[0].source == "Issues#7790"


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("3.18", "3.x ends at 3.17.14; the next line is 4.0."),
        ("2019.14", "2019.x ends at 2019.13; the next line is 2020.1."),
        ("2018.13", "2018.x ends at 2018.12; the next line is 2019.1."),
    ],
)
def test_a_target_no_release_has_is_refused_naming_the_real_neighbours(target, fragment):
    with pytest.raises(PlanningError) as error:
        plan(target_version=target)

    assert error.value.field == "target_version"
    assert fragment in error.value.message


def test_a_current_version_no_release_has_is_refused_too():
    with pytest.raises(PlanningError) as error:
        plan(server_version="3.18", target_version="2019.3.1")

    assert error.value.field == "server_version"
    assert "3.x ends at 3.17.14" in error.value.message


@pytest.mark.parametrize(("current", "target"), [("2025.1.0", "2027.1"), ("2.6.5", "2026.3")])
def test_a_target_newer_than_the_catalogue_is_planned_with_a_warning(current, target):
    result = plan(server_version=current, target_version=target, tentacles=())
    (use_latest,) = [w for w in result.warnings if w.code == "use-latest"]

    assert result.path[-1].to_version.startswith(target)
    assert f"content version {result.content_version}" in use_latest.text
    assert "ends at 2026.1" in use_latest.text
    assert use_latest.severity == "medium"


def test_a_known_modern_target_gets_no_warning_about_the_catalogue():
    result = plan(server_version="2025.1.0", target_version="2026.1.2", tentacles=())

    assert all("content version" not in w.text for w in result.warnings)


def test_the_sql_server_floor_of_2020_1_is_the_stricter_reading():
    result = plan(server_version="2019.13.0", target_version="2020.1.5", tentacles=())
    (sql,) = [w for w in result.warnings if w.code == "sql-server-version"]

    assert "SQL Server 2016" in sql.text
