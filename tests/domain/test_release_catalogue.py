"""The release catalogue: which releases exist, what a target needs, what stops working on the
way, and which direct jumps are known to fail — build by build, each entry with its source."""

import datetime
import re

import pytest

from upgrade_planner.domain.catalogue import (
    FLOOR_KINDS,
    Impossible,
    Known,
    Newer,
    all_sources,
    refusal_of,
    release_catalogue,
)
from upgrade_planner.domain.versions import parse_version

CATALOGUE = release_catalogue()
V = parse_version


# --- Which versions exist ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3.18", "3.x ends at 3.17.14; the next line is 4.0."),
        ("3.17.15", "3.x ends at 3.17.14; the next line is 4.0."),
        ("2018.13", "2018.x ends at 2018.12; the next line is 2019.1."),
        ("2019.14", "2019.x ends at 2019.13; the next line is 2020.1."),
        ("2020.7", "2020.x ends at 2020.6; the next line is 2021.1."),
        ("2021.4", "2021.x ends at 2021.3; the next line is 2022.1."),
        ("2022.5.100", "2022.x ends at 2022.4; the next line is 2023.1."),
        ("2.6.6", "2.x ends at 2.6.5; the next line is 3.0."),
        ("1.7", "1.x ends at 1.6; the next line is 2.0."),
        ("2019.0.5", "2019.x starts at 2019.1; before it comes 2018.x."),
        ("5.0", "after 4.x the next line is 2018.1."),
        ("2017.4", "after 4.x the next line is 2018.1."),
        ("0.9", "releases are numbered 1.x to 4.x, then by year from 2018"),
        ("2100.1", "2100 is no year Octopus will ship."),
    ],
)
def test_a_version_no_release_has_is_impossible_and_names_the_real_neighbours(text, why):
    verdict = CATALOGUE.check_target(V(text))

    assert isinstance(verdict, Impossible)
    assert why in verdict.why
    assert verdict.message(text).startswith(f'"{text}" is not an Octopus Deploy version: ')


def test_an_impossible_version_carries_the_lines_around_it():
    verdict = CATALOGUE.check_target(V("2019.14"))

    assert isinstance(verdict, Impossible)
    assert verdict.previous is not None and verdict.previous.name == "2019.x"
    assert verdict.next is not None and verdict.next.name == "2020.x"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("1.6.3.1723", "1.x"),
        ("2.6.5.1581", "2.x"),
        ("3.17.14", "3.x"),
        ("3.0.1", "3.x"),
        ("4.0.11", "4.x"),
        ("2018.10", "2018.x"),
        ("2018.12.1", "2018.x"),
        ("2019.13.7", "2019.x"),
        ("2021.3.12912", "2021.x"),
        ("2023.4.0", "2023.x"),
        ("2025.4.20000", "2025.x"),
        ("2026.1.5", "2026.x"),
    ],
)
def test_a_release_the_catalogue_knows_is_known(text, line):
    verdict = CATALOGUE.check_target(V(text))

    assert isinstance(verdict, Known)
    assert verdict.line.name == line


@pytest.mark.parametrize(
    ("text", "unconfirmed", "fragment"),
    [
        ("2026.2", False, "its catalogue (content version 2026.12-1) ends at 2026.1"),
        ("2027.1", False, "its catalogue (content version 2026.12-1) ends at 2026.1"),
        ("2099.4", False, "ends at 2026.1"),
        ("4.1", True, "it knows 4.x up to 4.0 and cannot say where that line ends"),
        ("2023.5", True, "it knows 2023.x up to 2023.4 and cannot say where that line ends"),
    ],
)
def test_a_version_the_catalogue_cannot_rule_out_is_newer_than_its_knowledge(
    text, unconfirmed, fragment
):
    verdict = CATALOGUE.check_target(V(text))

    assert isinstance(verdict, Newer)
    assert verdict.unconfirmed is unconfirmed
    assert verdict.content_version == CATALOGUE.content_version
    assert fragment in verdict.text(text)
    assert text in verdict.action(text)


@pytest.mark.parametrize(
    ("text", "refused"),
    [("3.18", True), ("2019.14", True), ("3.17.14", False), ("2027.1", False), ("junk", False)],
)
def test_refusal_of_answers_only_for_versions_no_release_has(text, refused):
    assert (refusal_of(text) is not None) is refused


# --- The lines themselves ----------------------------------------------------------------------


def test_lines_are_in_version_order_and_do_not_overlap():
    majors = [line.major for line in CATALOGUE.lines]

    assert majors == sorted(majors)
    assert len(set(majors)) == len(majors)
    for before, after in zip(CATALOGUE.lines, CATALOGUE.lines[1:], strict=False):
        assert before.last is None or before.last < after.first


@pytest.mark.parametrize("line", CATALOGUE.lines, ids=lambda line: line.name)
def test_each_line_starts_and_ends_inside_itself(line):
    assert line.first.major == line.major
    assert line.newest_known.major == line.major
    assert line.first <= line.newest_known
    if line.last is not None:
        assert line.last.major == line.major
        assert line.first <= line.last
        assert not line.is_after_last(line.newest_known)
        assert isinstance(CATALOGUE.check_target(line.last), Known)


def test_only_the_newest_line_is_open_and_the_catalogue_knows_up_to_it():
    assert [line.name for line in CATALOGUE.lines if not line.closed] == ["2026.x"]
    assert CATALOGUE.line_of(CATALOGUE.newest_known) is CATALOGUE.lines[-1]


def test_the_3x_line_ends_at_3_17_14_released_on_12_november_2017():
    (line,) = [line for line in CATALOGUE.lines if line.name == "3.x"]
    release = CATALOGUE.release(V("3.17.14"))

    assert line.last == V("3.17.14")
    assert release is not None and release.released == datetime.date(2017, 11, 12)


@pytest.mark.parametrize(
    ("text", "lts"),
    [
        ("2018.10", True),
        ("2018.10.3", True),
        ("2018.11.0", False),
        ("2019.3.1", True),
        ("2019.6.5", True),
        ("2019.9.0", True),
        ("2019.8.0", False),
        ("3.17.14", False),
    ],
)
def test_lts_releases_are_flagged_with_their_patches(text, lts):
    assert CATALOGUE.is_lts(V(text)) is lts


# --- Sources ------------------------------------------------------------------------------------

# A docs path, a path in another repository, an OctopusDeploy/Issues number, or a site page.
SOURCE = re.compile(
    r"^((src/|docs/)\S+\.mdx?|(OctopusDeploy/Issues)?#\d+|Issues#\d+|OctopusDeploy/Issues#\d+"
    r"|octopus\.com/\S+)$"
)


@pytest.mark.parametrize(("entry", "source"), all_sources(CATALOGUE), ids=lambda v: str(v))
def test_every_entry_has_a_source(entry, source):
    assert SOURCE.match(source), f"{entry} cites {source!r}"


def test_every_entry_kind_is_checked_for_a_source():
    kinds = {entry.split(" ")[0] for entry, _ in all_sources(CATALOGUE)}

    assert kinds >= {"line", "release", "floor", "deprecation", "broken", "change", "tentacle"}


def test_a_line_end_read_from_the_issue_tracker_says_it_is_our_inference():
    # The tracker's fix tables list release streams; no page says "this is the last minor".
    from_tracker = [line for line in CATALOGUE.lines if line.source.startswith("Issues#")]

    assert from_tracker
    for line in from_tracker:
        if line.last is not None:
            assert "our inference" in line.note, line.name
        else:
            assert "no source says" in line.note, line.name


def test_an_uncertain_broken_path_says_so_in_its_own_words():
    uncertain = [rule for rule in CATALOGUE.broken_paths if rule.uncertain]

    assert uncertain
    for rule in uncertain:
        assert re.search(r"our inference|unconfirmed", f"{rule.reason} {rule.advice}"), rule.id


def test_the_catalogue_is_read_once():
    assert release_catalogue() is release_catalogue()


# --- Floors of the target -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "kind", "minimum"),
    [
        ("2.6.5", "host-os", "Windows Server 2003"),
        ("3.0.1", "host-os", "Windows Server 2008 SP2"),
        ("3.17.14", "host-os", "Windows Server 2008 SP2"),
        ("2019.3.9", "host-os", "Windows Server 2008 SP2"),
        ("2019.4.0", "host-os", "Windows Server 2008 R2"),
        ("2019.13.7", "host-os", "Windows Server 2008 R2"),
        ("2020.1.0", "host-os", "Windows Server 2012 R2"),
        ("3.3.27", "dotnet", ".NET Framework 4.5"),
        ("3.4.0", "dotnet", ".NET Framework 4.5.1"),
        ("2018.4.12", "dotnet", ".NET Framework 4.5.1"),
        ("2018.5.0", "dotnet", ".NET Framework 4.5.2"),
        ("2019.6.9", "dotnet", ".NET Framework 4.5.2"),
        ("2019.7.0", "dotnet", ".NET Framework 4.7.2"),
        ("2019.13.7", "dotnet", ".NET Framework 4.7.2"),
        ("2020.1.0", "dotnet", "none"),
        ("3.0.0", "sql-server", "SQL Server 2008"),
        ("2019.13.7", "sql-server", "SQL Server 2008"),
        ("2020.1.5", "sql-server", "SQL Server 2016"),
        ("2020.2.0", "sql-server", "SQL Server 2017"),
        ("2020.2.17", "sql-server", "SQL Server 2017"),
        ("2020.2.18", "sql-server", "SQL Server 2016"),
        ("2020.3.0", "sql-server", "SQL Server 2017"),
        ("2020.3.5", "sql-server", "SQL Server 2017"),
        ("2020.3.6", "sql-server", "SQL Server 2016"),
        ("2026.1.0", "sql-server", "SQL Server 2016"),
    ],
)
def test_each_target_has_its_floor_at_the_boundary_versions(target, kind, minimum):
    floors = {floor.kind: floor for floor in CATALOGUE.floors_for(V(target))}

    assert floors[kind].minimum == minimum


def test_from_2020_1_the_server_needs_no_dotnet_framework():
    floors = CATALOGUE.floors_for(V("2020.1.0"))

    assert floors.dotnet is not None and floors.dotnet.required is False
    assert CATALOGUE.floors_for(V("2019.13.0")).dotnet.required is True


@pytest.mark.parametrize(
    ("target", "kind", "applied", "other"),
    [
        ("2020.1.0", "sql-server", "SQL Server 2016", "SQL Server 2014"),
        ("3.0.0", "host-os", "Windows Server 2008 SP2", "Windows Server 2003"),
        ("3.1.0", "host-os", "Windows Server 2008 SP2", "Windows Server 2008"),
    ],
)
def test_where_the_docs_disagree_both_values_are_kept_with_the_reason_for_the_applied_one(
    target, kind, applied, other
):
    floors = {floor.kind: floor for floor in CATALOGUE.floors_for(V(target))}
    floor = floors[kind]

    assert (floor.minimum, floor.other_minimum) == (applied, other)
    assert floor.source != floor.other_source
    assert "We apply" in floor.applied_because


@pytest.mark.parametrize("kind", FLOOR_KINDS)
def test_floors_of_one_kind_do_not_overlap(kind):
    ranges = [floor.targets for floor in CATALOGUE.floors if floor.kind == kind]

    for index, first in enumerate(ranges):
        assert first.below is None or first.min < first.below
        for second in ranges[index + 1 :]:
            assert not first.overlaps(second), (first, second)


def test_a_target_below_3_0_has_no_sql_server_floor():
    assert CATALOGUE.floors_for(V("2.6.5")).sql_server is None


# --- What stops working on the way ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (
            "2023.4.0",
            "2024.1.0",
            {
                "windows-2003-targets",
                "windows-2008-unpatched-targets",
                "dotnet-462-on-old-windows",
                "mono-ssh-targets",
                "fsharp-script-steps",
                "helm-v2",
                "azure-cloud-services",
                "windows-2008-targets",
            },
        ),
        ("2024.1.0", "2024.2.3", {"bundled-tools"}),
        ("2024.1.0", "2024.1.9", set()),
        ("2024.2.0", "2024.3.0", {"helm-v2", "azurerm-powershell"}),
        ("2025.2.0", "2025.3.1", {"scriptcs", "sha1-tentacle-certificates"}),
        ("2025.3.0", "2026.1.0", {"windows-2008-targets"}),
        ("2.6.5", "2023.4.0", set()),
    ],
)
def test_deprecations_between_two_versions_are_the_stages_crossed(current, target, expected):
    found = CATALOGUE.deprecations_between(V(current), V(target))

    assert {d.id for d in found} == expected


@pytest.mark.parametrize(
    ("deprecation", "drops_in"),
    [
        ("windows-2003-targets", "2024.1"),
        ("mono-ssh-targets", "2024.1"),
        ("helm-v2", "2024.3"),
        ("bundled-tools", "2024.2"),
        ("azurerm-powershell", "2024.3"),
        ("scriptcs", "2025.3"),
        ("sha1-tentacle-certificates", "2025.3"),
        ("windows-2008-targets", "2026.1"),
        ("azure-cloud-services", None),
    ],
)
def test_each_deprecation_says_the_version_that_drops_it(deprecation, drops_in):
    (found,) = [d for d in CATALOGUE.deprecations if d.id == deprecation]

    assert found.drops_in == (V(drops_in) if drops_in else None)


def test_deprecation_features_are_the_features_of_the_contract():
    # product.md §5.6: the values of features_in_use.
    contract = {
        "ssh-targets",
        "helm-v2",
        "scriptcs",
        "azurerm",
        "bundled-tools",
        "fsharp-steps",
        "azure-cloud-services",
    }

    assert {d.feature for d in CATALOGUE.deprecations} - {""} == contract


@pytest.mark.parametrize(("target", "aborts"), [("2023.2.9754", False), ("2023.2.9755", True)])
def test_from_2023_2_9755_an_ha_upgrade_aborts_while_a_node_runs(target, aborts):
    ids = {change.id for change in CATALOGUE.changes_for(V(target))}

    assert ("ha-upgrade-aborts-with-running-nodes" in ids) is aborts


# --- Broken paths, build by build ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "rule"),
    [
        # OctopusDeploy/Issues#7790: from 2021.3.12912 on, to unfixed 2022.x/2023.1 builds.
        ("2021.3.12911", "2022.3.5000", None),
        ("2021.3.12912", "2022.3.5000", "2021.3.12912-to-2022"),
        ("2021.3.12912", "2022.1.2734", None),
        ("2021.3.12912", "2022.1.2735", "2021.3.12912-to-2022"),
        ("2021.3.12912", "2022.1.3276", "2021.3.12912-to-2022"),
        ("2021.3.12912", "2022.1.3277", None),
        ("2021.3.12912", "2022.2.8551", "2021.3.12912-to-2022"),
        ("2021.3.12912", "2022.2.8552", None),
        ("2021.3.12912", "2022.3.10779", "2021.3.12912-to-2022"),
        ("2021.3.12912", "2022.3.10780", None),
        ("2021.3.12912", "2023.2.0", None),
        # OctopusDeploy/Issues#9141: from before 2021.1.8018 to 2023.4 or later.
        ("2021.1.8017", "2023.4.0", "below-2021.1.8018-to-2023.4"),
        ("2021.1.8018", "2023.4.0", None),
        ("2021.1.8017", "2023.3.9999", None),
        ("2018.10.0", "2025.1.0", "below-2021.1.8018-to-2023.4"),
        # OctopusDeploy/Issues#10126: from before 2024.3.600 to 2025.4.10666 or later.
        ("2024.3.599", "2025.4.10666", "below-2024.3.600-to-2025.4.10666"),
        ("2024.3.600", "2025.4.10666", None),
        ("2024.3.599", "2025.4.10665", None),
        # OctopusDeploy/Issues#4979 (#4509): below 3.4 to 2018.4.0 through 2018.5.4.
        ("3.3.99", "2018.4.0", "below-3.4-to-2018.4"),
        ("3.3.99", "2018.5.4", "below-3.4-to-2018.4"),
        ("3.3.99", "2018.5.5", None),
        ("3.4.0", "2018.5.4", None),
        # OctopusDeploy/Issues#4979 (#4958): 2.6 to 2018.8.0 through 2018.8.11.
        ("2.6.5", "2018.8.11", "2.6-to-2018.8"),
        ("2.6.5", "2018.8.12", None),
        ("2.5.9", "2018.8.0", None),
        # Issues#4739 and Issues#4742: 2018.7.0 and 2018.7.1 as targets.
        ("2018.5.7", "2018.7.0", "to-2018.7.0"),
        ("2018.5.8", "2018.7.0", "accounts-to-2018.7.0-2018.7.1"),
        ("2018.6.0", "2018.7.1", "accounts-to-2018.7.0-2018.7.1"),
        ("2018.6.0", "2018.7.2", None),
    ],
)
def test_broken_paths_fall_on_the_right_side_of_each_boundary_build(current, target, rule):
    found = CATALOGUE.broken_path(V(current), V(target))

    assert (found.id if found else None) == rule


@pytest.mark.parametrize(
    ("current", "target", "hits_9145"),
    [
        ("2018.3.9", "2024.3.0", True),
        ("2018.4.0", "2024.3.0", False),
        ("2018.3.9", "2024.2.9", False),
    ],
)
def test_2018_3_or_older_to_2024_3_or_later_is_a_broken_path(current, target, hits_9145):
    found = {rule.id for rule in CATALOGUE.broken_paths_for(V(current), V(target))}

    assert ("2018.3-to-2024.3" in found) is hits_9145


@pytest.mark.parametrize("rule", CATALOGUE.broken_paths, ids=lambda rule: rule.id)
def test_each_detour_leaves_the_broken_range_and_does_not_hit_its_own_rule_again(rule):
    assert rule.tracked_in and rule.source and rule.reason
    if not rule.via:
        assert rule.advice, "a rule with no way round must say which target to choose"
        return
    assert list(rule.via) == sorted(rule.via)
    for targets in rule.targets:
        assert rule.via[-1] < targets.min
        assert not rule.applies(rule.via[-1], targets.min)
    assert rule.via[0] not in rule.start
