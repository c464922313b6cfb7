"""Pasted `Tentacle.exe version` output, with the machine named in the ways people do."""

import pytest

from upgrade_planner.domain.evidence import MachineEvidence, evidence_version, parse_evidence
from upgrade_planner.domain.planner import Version

# Run on each machine by hand, prompts and all. The command prints the informational version
# (with GitVersion build metadata) and no newline of its own.
POWERSHELL_SESSION = """\
PS C:\\Users\\ops> hostname
web-01
PS C:\\Users\\ops> & "C:\\Program Files\\Octopus Deploy\\Tentacle\\Tentacle.exe" version
3.17.14+Branch.master.Sha.1f2e3d4c5b6a79880f1e2d3c4b5a69788f1e2d3c
PS C:\\Users\\ops> hostname
web-02
PS C:\\Users\\ops> & "C:\\Program Files\\Octopus Deploy\\Tentacle\\Tentacle.exe" version
2.6.5.1581
"""


def test_it_reads_a_powershell_session_naming_each_machine_by_hostname():
    report = parse_evidence(POWERSHELL_SESSION)

    assert report.machines == (
        MachineEvidence(
            name="web-01",
            version="3.17.14",
            healthy=None,
            still_on_2x=False,
            source_line=4,
            source="tentacle-version",
            lines=(4,),
        ),
        MachineEvidence(
            name="web-02",
            version="2.6.5.1581",
            healthy=None,
            still_on_2x=True,
            source_line=8,
            source="tentacle-version",
            lines=(8,),
        ),
    )
    assert report.unrecognised == ()
    assert report.unattributed_versions == ()


@pytest.mark.parametrize(
    ("paste", "name", "version"),
    [
        ("# web-01\n3.17.14\n", "web-01", "3.17.14"),
        ("## app-03.corp.local\nv3.17.14\n", "app-03.corp.local", "3.17.14"),
        ("web-01:\n3.0.10.2175\n", "web-01", "3.0.10.2175"),
        ("Machine: web-01\nVersion: 3.0.10.2175\n", "web-01", "3.0.10.2175"),
        ("Machine name = Web Server 01\n3.17.14\n", "Web Server 01", "3.17.14"),
        ("PSComputerName : WEB-01\n3.17.14\n", "WEB-01", "3.17.14"),
        ("web-01: 3.17.14\n", "web-01", "3.17.14"),
        ("web-01 = 3.17.14-beta.2+Branch.x\n", "web-01", "3.17.14"),
        (
            "# web-01\nOctopus Deploy: Tentacle version 3.17.14 "
            "(3.17.14+Branch.master.Sha.99aa) instance Tentacle\n",
            "web-01",
            "3.17.14",
        ),
        ("# web-01\nTentacle version: 3.17.14\n", "web-01", "3.17.14"),
    ],
)
def test_it_attributes_a_version_to_the_machine_named_before_it(paste, name, version):
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.source) for m in report.machines] == [
        (name, version, "tentacle-version")
    ]
    assert report.unrecognised == ()
    assert report.unattributed_versions == ()


def test_it_reads_the_json_format():
    paste = """\
# web-07
C:\\Program Files\\Octopus Deploy\\Tentacle>Tentacle.exe version --format=json
{
  "InformationalVersion": "6.3.417+Branch.main.Sha.4f3e2d1c",
  "MajorMinorPatch": "6.3.417",
  "NuGetVersion": "6.3.417",
  "SourceBranchName": "main",
  "IsPrerelease": false
}
"""
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.source_line) for m in report.machines] == [
        ("web-07", "6.3.417", 3)
    ]
    assert report.unrecognised == ()


def test_the_banner_and_the_version_line_for_one_machine_make_one_record():
    paste = (
        "# web-02\n"
        "Octopus Deploy: Tentacle version 3.0.10.2175 (3.0.10.2175+Branch.master.Sha.x)\n"
        "3.0.10.2175+Branch.master.Sha.x\n"
    )
    report = parse_evidence(paste)

    assert len(report.machines) == 1
    assert report.machines[0].version == "3.0.10.2175"
    assert report.machines[0].lines == (2, 3)


def test_a_version_without_a_machine_name_is_recognised_but_unattributed():
    report = parse_evidence("3.17.14+Branch.master.Sha.1f2e\n")

    assert report.machines == ()
    assert report.unattributed_versions == ((1, "3.17.14"),)
    assert report.unrecognised == ()


def test_a_second_different_version_under_one_name_is_not_given_to_that_machine():
    report = parse_evidence("# web-01\n3.17.14\n3.16.0\n")

    assert [(m.name, m.version) for m in report.machines] == [("web-01", "3.17.14")]
    assert report.unattributed_versions == ((3, "3.16.0"),)


def test_a_name_with_no_version_after_it_is_reported_back():
    report = parse_evidence("# web-01\n\n# web-02\n3.17.14\nweb-03:\n")

    assert [m.name for m in report.machines] == ["web-02"]
    assert report.unrecognised == ((1, "# web-01"), (5, "web-03:"))


@pytest.mark.parametrize(
    "line",
    [
        "3.17",  # two parts: could be anything, not a Tentacle build
        "3.17.14.1.2",
        "Version: 3.x",
        "Tentacle version three",
        "web-01: latest",
        "# just a note to self",
        "Exception:",
    ],
)
def test_things_that_only_look_like_versions_are_reported_not_guessed(line):
    report = parse_evidence(f"# web-01\n{line}\n")

    assert report.machines == ()
    assert (2, line) in report.unrecognised


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.17.14", Version(3, 17, 14)),
        ("v3.17.14", Version(3, 17, 14)),
        ("2.6.5.1581", Version(2, 6, 5, 1581)),
        ("6.3.417+Branch.main.Sha.4f3e", Version(6, 3, 417)),
        ("4.0.1-beta0001", Version(4, 0, 1)),
        (' "3.17.14" ', Version(3, 17, 14)),
        ("3.17", None),
        ("3.17.14.1.2", None),
        ("3.17.x", None),
        ("", None),
    ],
)
def test_evidence_versions_are_three_or_four_numeric_parts(text, expected):
    assert evidence_version(text) == expected
