"""Parsing the version strings people actually type."""

import pytest

from tests.plans.builders import plan
from upgrade_planner.domain.planner import PlanningError, Version, parse_version


@pytest.mark.parametrize(
    ("text", "expected", "normalised"),
    [
        ("2.6.5", Version(2, 6, 5), "2.6.5"),
        ("2.6.5.1581", Version(2, 6, 5, 1581), "2.6.5.1581"),
        ("2018.10.1", Version(2018, 10, 1), "2018.10.1"),
        ("v3.17.14", Version(3, 17, 14), "3.17.14"),
        ("V3.17.14", Version(3, 17, 14), "3.17.14"),
        ("  2.6.5  ", Version(2, 6, 5), "2.6.5"),
        ("1.6", Version(1, 6, 0), "1.6.0"),
        ("2018.10", Version(2018, 10, 0), "2018.10.0"),
        ("2018.10 LTS", Version(2018, 10, 0), "2018.10.0"),
        ("2018.10 lts", Version(2018, 10, 0), "2018.10.0"),
        ("2018.10.1 LTS", Version(2018, 10, 1), "2018.10.1"),
        ("2.6.5.0", Version(2, 6, 5), "2.6.5"),
        ("02.06.05", Version(2, 6, 5), "2.6.5"),
    ],
)
def test_it_accepts_real_version_strings(text, expected, normalised):
    version = parse_version(text)

    assert version == expected
    assert str(version) == normalised


@pytest.mark.parametrize(
    "text",
    [
        "2.6.x",
        "2",
        "2.6.5.1.2",
        "abc",
        "2.6-beta",
        "v",
        "2..6",
        "2.6.5 LTS extra",
        "LTS",
        "\u0663.\u0660.\u0661",  # Arabic-Indic digits: digits to Python, not to Octopus
        "1" * 20 + ".0",
    ],
)
def test_it_rejects_anything_else_naming_the_value(text):
    with pytest.raises(PlanningError) as error:
        parse_version(text, field="server_version")

    assert error.value.field == "server_version"
    assert f'"{text.strip()[:40]}' in error.value.message
    assert "use digits like 2.6.5 or 2.6.5.1581" in error.value.message


def test_it_gives_the_exact_message_for_a_wildcard_version():
    with pytest.raises(PlanningError) as error:
        parse_version("2.6.x")

    assert error.value.message == (
        '"2.6.x" is not a version number: use digits like 2.6.5 or 2.6.5.1581'
    )


def test_it_asks_for_a_version_when_blank():
    with pytest.raises(PlanningError) as error:
        parse_version("   ", field="target_version")

    assert error.value.field == "target_version"
    assert "Enter a version number" in error.value.message


def test_versions_compare_numerically_with_a_missing_fourth_part_as_zero():
    ordered = ["1.6", "1.6.3.1723", "2.0.13.1100", "2.6.5", "2.6.5.1581", "2.6.10", "3.0.1"]
    ordered += ["3.17.14", "4.0.0", "2018.7.14", "2018.10 LTS", "2019.13.0", "2020.2.0"]
    parsed = [parse_version(text) for text in ordered]

    assert parsed == sorted(parsed)
    assert parse_version("2.6.5") == parse_version("2.6.5.0")
    assert parse_version("3.10") > parse_version("3.9.99")


def test_a_version_is_frozen():
    version = parse_version("2.6.5")

    with pytest.raises(AttributeError):
        version.major = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"server_version": "2.6.x"}, "server_version", '"2.6.x" is not a version number'),
        ({"target_version": "latest"}, "target_version", '"latest" is not a version number'),
        ({"server_version": ""}, "server_version", "Enter a version number"),
        ({"target_version": "5.0"}, "target_version", '"5.0" is not an Octopus Deploy version'),
        ({"server_version": "0.9"}, "server_version", '"0.9" is not an Octopus Deploy version'),
    ],
)
def test_make_plan_names_the_field_with_a_bad_version(fields, field, fragment):
    with pytest.raises(PlanningError) as error:
        plan(**fields)

    assert error.value.field == field
    assert fragment in error.value.message


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("3.0.0", "2.6.5", "Target 2.6.5 is not newer than the current version 3.0.0"),
        ("2.6.5", "2.6.5", "Target 2.6.5 is not newer than the current version 2.6.5"),
        ("2.6.5.1581", "2.6.5", "Target 2.6.5 is not newer than the current version 2.6.5.1581"),
        (
            "2019.1.0",
            "2018.10 LTS",
            "Target 2018.10.0 is not newer than the current version 2019.1.0",
        ),
    ],
)
def test_a_target_that_is_not_newer_is_refused(current, target, message):
    with pytest.raises(PlanningError) as error:
        plan(server_version=current, target_version=target)

    assert error.value.field == "target_version"
    assert error.value.message == message
