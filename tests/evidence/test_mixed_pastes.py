"""Whole pastes as people make them: formats mixed, machines repeated, line endings, junk."""

# Log lines are pasted verbatim, and real ones run long.
# ruff: noqa: E501

import string

from hypothesis import given
from hypothesis import strategies as st

from upgrade_planner.domain.evidence import parse_evidence

MIXED = """\
name,version,status
web-01,2.6.5.1581,Healthy
web-02,2.6.5.1581,Healthy
db-01,2.6.5.1581,Healthy

Checked after Hydra:
                    |   == Failed: Check web-02 health ==
10:01:14   Error    |     Halibut.HalibutClientException: An error occurred when sending a request to 'https://web-02:10933/' ---> Halibut.Transport.Protocol.ConnectionInitializationFailedException: Unable to read data from the transport connection
10:01:14   Error    |     web-02 is unavailable

# web-01
3.17.14+Branch.master.Sha.1f2e
"""


def test_a_mixed_paste_reads_every_part_and_reports_the_prose():
    report = parse_evidence(MIXED)

    assert [(m.name, m.version, m.healthy, m.still_on_2x, m.source) for m in report.machines] == [
        # Later evidence wins field by field; health not mentioned later is kept.
        ("web-01", "3.17.14", True, False, "tentacle-version"),
        # The 2.x error comes after the CSV's version, so it wins; the version stays.
        ("web-02", "2.6.5.1581", False, True, "health-log"),
        ("db-01", "2.6.5.1581", True, True, "csv"),
    ]
    assert report.by_name()["web-01"].lines == (2, 12)
    assert report.by_name()["web-02"].lines == (3, 7, 8, 9)
    assert report.unrecognised == ((6, "Checked after Hydra:"),)


def test_a_later_version_clears_an_earlier_2x_error_and_the_other_way_round():
    error = (
        "Halibut.HalibutClientException: ---> "
        "Halibut.Transport.Protocol.ConnectionInitializationFailedException: closed\n"
    )
    fixed = parse_evidence(f"Performing health check on web-02\n{error}web-02: 3.17.14\n")
    # Tentacle.exe on disk says 3.x, yet the service answered in 2.x afterwards: the service
    # still points at the old binaries (facts §f), so the error is the truth.
    still_old = parse_evidence(f"web-02: 3.17.14\nPerforming health check on web-02\n{error}")

    assert fixed.by_name()["web-02"].still_on_2x is False
    assert fixed.by_name()["web-02"].healthy is False  # no later health result
    assert still_old.by_name()["web-02"].still_on_2x is True
    assert still_old.by_name()["web-02"].version == "3.17.14"


def test_one_machine_written_in_different_cases_is_one_machine_named_as_first_written():
    report = parse_evidence("WEB-01: 2.6.5\nweb-01: 3.17.14\nWeb-01 is healthy\n")

    assert [(m.name, m.version, m.healthy) for m in report.machines] == [
        ("WEB-01", "3.17.14", True)
    ]
    assert report.by_name()["web-01"] is report.machines[0]
    assert report.machines[0].source_line == 3


def test_windows_and_old_mac_line_endings_and_byte_order_marks_are_taken_in_stride():
    unix = "# web-01\n3.17.14\n\nname;version\nweb-02;3.17.14\n"
    windows = "\ufeff" + unix.replace("\n", "\r\n")
    old_mac = unix.replace("\n", "\r")
    # Two files pasted one after the other: the second still has its BOM.
    concatenated = "\ufeff# web-01\r\n3.17.14\r\n\r\n\ufeffname;version\r\nweb-02;3.17.14\r\n"

    expected = parse_evidence(unix)
    assert [(m.name, m.version) for m in expected.machines] == [
        ("web-01", "3.17.14"),
        ("web-02", "3.17.14"),
    ]
    for paste in (windows, old_mac, concatenated):
        assert parse_evidence(paste) == expected


def test_garbage_is_reported_line_by_line_and_nothing_is_made_up():
    paste = "hello\n\nlorem ipsum dolor\n   \nSELECT * FROM machines;\n{not json}\n"
    report = parse_evidence(paste)

    assert report.machines == ()
    assert report.unattributed_versions == ()
    assert report.unrecognised == (
        (1, "hello"),
        (3, "lorem ipsum dolor"),
        (5, "SELECT * FROM machines;"),
        (6, "{not json}"),
    )


def test_an_empty_paste_gives_an_empty_report():
    report = parse_evidence("")

    assert report.machines == ()
    assert report.unrecognised == ()


def test_a_json_object_that_is_not_tentacle_output_is_shown_back():
    report = parse_evidence('# web-01\n{\n  "Name": "web-01",\n  "Roles": ["web"]\n}\n')

    assert report.machines == ()
    assert report.unrecognised == (
        (1, "# web-01"),
        (2, "{"),
        (3, '"Name": "web-01",'),
        (4, '"Roles": ["web"]'),
        (5, "}"),
    )


def test_an_unclosed_json_object_is_shown_back_at_the_end():
    report = parse_evidence('{\n  "MajorMinorPatch": "3.17.14",\n')

    assert report.machines == ()
    assert report.unrecognised == ((1, "{"), (2, '"MajorMinorPatch": "3.17.14",'))


def test_a_huge_unrecognised_line_is_shown_shortened():
    report = parse_evidence("x" * 100_000)

    ((number, text),) = report.unrecognised
    assert number == 1
    assert len(text) == 200 and text.endswith("…")


def test_a_large_fleet_csv_is_read_in_full():
    rows = "\n".join(f"web-{i:05d},3.17.14,Healthy" for i in range(5000))
    report = parse_evidence(f"name,version,status\n{rows}\n")

    assert len(report.machines) == 5000
    assert report.machines[-1].name == "web-04999"
    assert report.machines[-1].source_line == 5001


FRAGMENTS = [
    "\n", "\r\n", "\r", "\ufeff", " ", "web-01", "Web Server 01", "3.17.14", "2.6.5.1581",
    "v", ".", ",", ";", "\t", ":", "# ", "==", " | ", "10:01:14   Error    |", "{", "}", '"',
    "name,version,status\n", "Machine: ", "Check ", " health", " is healthy", " is unavailable",
    "Performing health check on ", "Tentacle version ", "Success: ", "Failed: ",
    "ConnectionInitializationFailedException", "HalibutClientException", "PS C:\\> ",
    "hostname", '"MajorMinorPatch": ', "Pipefish ProtocolViolationException",
]  # fmt: skip


@given(
    st.lists(
        st.sampled_from(FRAGMENTS) | st.text(alphabet=string.printable + "é\u2028", max_size=5),
        max_size=60,
    ).map("".join)
)
def test_any_text_gives_a_report_and_every_line_number_is_real(text):
    report = parse_evidence(text)

    line_count = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    numbers = [n for n, _ in report.unrecognised] + [n for n, _ in report.unattributed_versions]
    numbers += [n for m in report.machines for n in m.lines]
    assert all(1 <= n <= line_count for n in numbers)
    for machine in report.machines:
        assert machine.name.strip()
        assert machine.source_line in machine.lines
