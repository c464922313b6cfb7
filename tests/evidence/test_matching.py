"""Matching pasted evidence to the plan's Tentacles: upgraded, on target, still on 2.x."""

import pytest

from upgrade_planner.domain.evidence import match_evidence, parse_evidence

PASTE = """\
name,version,status
web-01,3.17.14,Healthy
WEB-02,3.0.10.2175,Healthy
web-03,2.6.5.1581,Unavailable
app-09,3.17.14,Healthy
web-04,,Healthy
"""


def verdicts(matches):
    return [(m.name, m.in_plan, m.verdict, m.upgraded, m.on_target, m.healthy) for m in matches]


def test_each_tentacle_of_the_plan_gets_a_verdict_then_the_strangers_follow():
    report = parse_evidence(PASTE)

    matches = match_evidence(report, ["db-01", "web-01", "web-02", "web-03", "web-04"], "3.17.14")

    assert verdicts(matches) == [
        ("db-01", True, "no-evidence", None, None, None),
        ("web-01", True, "on-target", True, True, True),
        ("web-02", True, "behind-target", True, False, True),
        ("web-03", True, "still-on-2x", False, None, False),
        # Healthy alone says nothing about the version: healthy from 2.6 means not upgraded.
        ("web-04", True, "health-only", None, None, True),
        ("app-09", False, "not-in-plan", True, True, True),
    ]
    assert matches[2].evidence is report.by_name()["web-02"]
    assert matches[2].version == "3.0.10.2175"
    assert matches[0].evidence is None


def test_names_match_case_insensitively_but_exactly():
    report = parse_evidence("web-01.corp.local: 3.17.14\nWeb-02: 3.17.14\n")

    matches = match_evidence(report, ["web-01", "web-02"], "3.17.14")

    assert verdicts(matches) == [
        ("web-01", True, "no-evidence", None, None, None),
        ("web-02", True, "on-target", True, True, None),
        ("web-01.corp.local", False, "not-in-plan", True, True, None),
    ]


@pytest.mark.parametrize(
    ("version", "target", "on_target"),
    [
        ("3.17.14", "3.17.14", True),
        ("3.17.14.812", "3.17.14", True),  # any build of the target release
        ("3.18.0", "3.17.14", True),
        ("4.0.1", "v3.17.14", True),
        ("3.17.13", "3.17.14", False),
        ("3.0.10", "3.0.10.2175", False),  # a build was asked for and this one is older
        ("3.0.10.2175", "3.0.10.2175", True),
        ("3.0.10.2176", "3.0.10.2175", True),
    ],
)
def test_on_target_means_equal_to_or_newer_than_the_target(version, target, on_target):
    report = parse_evidence(f"web-01: {version}\n")

    (match,) = match_evidence(report, ["web-01"], target)

    assert match.on_target is on_target
    assert match.verdict == ("on-target" if on_target else "behind-target")
    assert match.upgraded is True


@pytest.mark.parametrize("target", ["2018.10 LTS", "2019.1.0", "", "  "])
def test_without_a_tentacle_target_an_upgrade_is_still_recognised(target):
    report = parse_evidence("web-01: 3.17.14\nweb-02: 2.6.5\n")

    matches = match_evidence(report, ["web-01", "web-02"], target)

    assert verdicts(matches) == [
        ("web-01", True, "upgraded", True, None, None),
        ("web-02", True, "still-on-2x", False, None, None),
    ]


def test_a_2x_error_outweighs_a_3x_version_reported_before_it():
    paste = (
        "web-01: 3.17.14\n"
        "Performing health check on web-01\n"
        "Halibut.HalibutClientException: ---> "
        "Halibut.Transport.Protocol.ConnectionInitializationFailedException: closed\n"
    )

    (match,) = match_evidence(parse_evidence(paste), ["web-01"], "3.17.14")

    assert (match.verdict, match.upgraded, match.on_target, match.still_on_2x) == (
        "still-on-2x",
        False,
        None,
        True,
    )


def test_a_target_that_is_not_a_version_is_a_caller_error():
    with pytest.raises(ValueError, match="not a version number"):
        match_evidence(parse_evidence(""), ["web-01"], "latest")


def test_an_empty_paste_leaves_every_tentacle_without_evidence():
    matches = match_evidence(parse_evidence(""), ["web-01", "web-02"], "3.17.14")

    assert [m.verdict for m in matches] == ["no-evidence", "no-evidence"]
