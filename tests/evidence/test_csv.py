"""Pasted CSV: a machine name column and a version column, in any of the usual dialects."""

from upgrade_planner.domain.evidence import parse_evidence


def test_it_reads_a_comma_separated_export_with_octopus_health_statuses():
    paste = """\
Name,Version,HealthStatus
web-01,3.17.14,Healthy
web-02,3.17.14,HasWarnings
web-03,2.6.5.1581,Unavailable
db-01,3.17.14,Unknown
"""
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.healthy, m.still_on_2x) for m in report.machines] == [
        ("web-01", "3.17.14", True, False),
        ("web-02", "3.17.14", True, False),
        ("web-03", "2.6.5.1581", False, True),
        ("db-01", "3.17.14", None, False),
    ]
    assert [m.source_line for m in report.machines] == [2, 3, 4, 5]
    assert all(m.source == "csv" for m in report.machines)
    assert report.unrecognised == ()


def test_it_reads_an_excel_semicolon_export_with_a_bom_and_windows_line_endings():
    paste = (
        "\ufeffMachine Name;Tentacle Version;Health Status\r\n"
        "WEB-01;3.17.14;Healthy\r\n"
        "web-02;v3.0.10.2175;Unhealthy\r\n"
    )
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.healthy) for m in report.machines] == [
        ("WEB-01", "3.17.14", True),
        ("web-02", "3.0.10.2175", False),
    ]
    assert report.unrecognised == ()


def test_it_reads_tab_separated_rows_pasted_from_a_spreadsheet():
    report = parse_evidence("machine\ttentacle_version\nweb-01\t3.17.14\n")

    assert [(m.name, m.version) for m in report.machines] == [("web-01", "3.17.14")]


def test_the_planners_own_inventory_csv_counts_as_evidence():
    paste = """\
name,hostname,port,version,communication_style,environments,roles,os,service_account,restricted_permissions,online
web-01,web-01.corp,10933,2.6.5,listening,Production;Staging,web,Windows Server 2012 R2,,false,true
"web, legacy",legacy.corp,10933,3.17.14,polling,Production,web,Windows Server 2008 R2,,false,true
"""
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.still_on_2x) for m in report.machines] == [
        ("web-01", "2.6.5", True),
        ("web, legacy", "3.17.14", False),
    ]
    assert report.unrecognised == ()


def test_a_row_without_a_version_records_the_machine_and_its_health_only():
    report = parse_evidence("name,version,status\nweb-01,,Online\n")

    assert [(m.name, m.version, m.healthy) for m in report.machines] == [("web-01", "", True)]


def test_rows_that_cannot_be_read_are_reported_not_guessed():
    paste = """\
name;version;status
web-01;3.17.14;Healthy
;3.1.1;Healthy
web-04;three;Healthy
web-05
web-06;3.17.14;Sort of
"""
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.healthy) for m in report.machines] == [
        ("web-01", "3.17.14", True),
        ("web-06", "3.17.14", None),  # an unknown status is left unknown
    ]
    assert report.unrecognised == (
        (3, ";3.1.1;Healthy"),
        (4, "web-04;three;Healthy"),
        (5, "web-05"),
    )


def test_a_header_without_a_version_column_is_not_taken_for_evidence():
    report = parse_evidence("name,environment\nweb-01,Production\n")

    assert report.machines == ()
    assert report.unrecognised == ((1, "name,environment"), (2, "web-01,Production"))


def test_name_and_version_pairs_without_a_header_are_read():
    report = parse_evidence("web-01,3.17.14\nweb-02; 2.6.5\nweb-03\t3.17.14\n")

    assert [(m.name, m.version, m.source) for m in report.machines] == [
        ("web-01", "3.17.14", "csv"),
        ("web-02", "2.6.5", "csv"),
        ("web-03", "3.17.14", "csv"),
    ]


def test_a_blank_line_ends_the_csv_and_what_follows_is_read_on_its_own_terms():
    paste = "name,version\nweb-01,3.17.14\n\n# web-02\n3.17.14\n"
    report = parse_evidence(paste)

    assert [(m.name, m.source) for m in report.machines] == [
        ("web-01", "csv"),
        ("web-02", "tentacle-version"),
    ]
    assert report.unrecognised == ()
