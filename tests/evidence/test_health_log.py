"""Pasted health-check task logs, as exported from the task page or copied off the screen."""

# Log lines are pasted verbatim, and real ones run long.
# ruff: noqa: E501

from upgrade_planner.domain.evidence import parse_evidence

# "Download raw log" of a Check Health task run from the new 3.x server after Hydra:
# web-01 took the upgrade, web-02's service still runs the 2.x binaries (facts §f).
RAW_EXPORT = """\
Task ID:        ServerTasks-2131
Related IDs:    Environments-1
Task status:    Failed
Task queued:    Tuesday, 3 May 2016 10:01:12 AM
Task started:   Tuesday, 3 May 2016 10:01:12 AM
Task duration:  41 seconds
Server version: 3.3.11+Branch.master.Sha.7d1f3a0e

                    | == Failed: Check deployment target health ==
10:01:12   Info     |   Performing health check on 3 deployment targets
                    |
                    |   == Success: Check web-01 health ==
10:01:13   Info     |     Performing health check on web-01
10:01:13   Verbose  |     Tentacle version 3.3.11
10:01:13   Info     |     web-01 is healthy
                    |
                    |   == Failed: Check web-02 health ==
10:01:14   Error    |     An error occurred when sending a request to 'https://web-02.corp:10933/', before the request could begin: Unable to read data from the transport connection: An existing connection was forcibly closed by the remote host.
10:01:14   Error    |     Halibut.HalibutClientException: An error occurred when sending a request to 'https://web-02.corp:10933/' ---> Halibut.Transport.Protocol.ConnectionInitializationFailedException: Unable to read data from the transport connection: An existing connection was forcibly closed by the remote host.
10:01:14   Error    |        at Halibut.Transport.SecureClient.ExecuteTransaction(Action`1 protocolHandler)
10:01:14   Error    |        --- End of inner exception stack trace ---
10:01:14   Error    |     web-02 is unavailable
                    |
                    |   == Success: Check "Web Server 03" health ==
10:01:15   Verbose  |     Tentacle version 3.3.11
10:01:40   Warning  |   Health check completed with warnings
"""


def test_it_reads_each_machine_section_of_a_raw_task_log():
    report = parse_evidence(RAW_EXPORT)

    web_01, web_02, web_03 = report.machines
    assert (web_01.name, web_01.version, web_01.healthy, web_01.still_on_2x) == (
        "web-01",
        "3.3.11",
        True,
        False,
    )
    assert web_01.source == "health-log"
    assert web_01.lines == (12, 14, 15)

    assert (web_02.name, web_02.version, web_02.healthy, web_02.still_on_2x) == (
        "web-02",
        "",
        False,
        True,
    )
    assert web_02.signals == ("halibut-request-failed", "halibut-connection-failed")
    assert web_02.source_line == 22

    assert (web_03.name, web_03.version, web_03.healthy) == ("Web Server 03", "3.3.11", True)


def test_a_task_log_has_no_unrecognised_lines_and_names_no_fleet_as_a_machine():
    report = parse_evidence(RAW_EXPORT)

    assert report.unrecognised == ()
    assert report.unattributed_versions == ()
    assert report.unattributed_signals == ()
    assert "3 deployment targets" not in report.by_name()
    assert "deployment target" not in report.by_name()


def test_it_reads_a_log_copied_from_the_page_without_the_separators():
    paste = """\
10:01:13 Info Performing health check on web-01
10:01:13 Verbose Tentacle version 3.17.14
10:01:13 Info web-01 is healthy
10:01:14 Info Performing health check on db-01
10:01:14 Error Halibut.HalibutClientException: An error occurred when sending a request to 'https://db-01:10933/', before the request could begin: No connection could be made because the target machine actively refused it 10.0.0.12:10933
10:01:14 Info db-01 is unavailable
10:01:20 Info Health check completed successfully
"""
    report = parse_evidence(paste)

    assert [(m.name, m.version, m.healthy, m.still_on_2x) for m in report.machines] == [
        ("web-01", "3.17.14", True, False),
        # Refused is not the 2.x signature: the Tentacle may simply be down.
        ("db-01", "", False, False),
    ]
    assert report.by_name()["db-01"].signals == ("halibut-request-failed",)
    assert report.unrecognised == ()


def test_it_reads_bare_outcome_lines():
    paste = """\
web-01 is healthy
web-02 is healthy with warnings.
The machine web-03 is unavailable
Deployment target 'Web Server 04' is unhealthy
web-05 is offline
Health check completed with warnings
"""
    report = parse_evidence(paste)

    assert [(m.name, m.healthy, m.version) for m in report.machines] == [
        ("web-01", True, ""),
        ("web-02", True, ""),
        ("web-03", False, ""),
        ("Web Server 04", False, ""),
        ("web-05", False, ""),
    ]
    assert all(m.source == "health-log" for m in report.machines)


def test_a_pipefish_error_from_a_tentacle_log_means_2x_binaries():
    # The Tentacle's own log (C:\Octopus\Logs\OctopusTentacle.txt) when the new server calls it.
    paste = """\
# web-05
2016-05-03 10:01:14.5221      7  ERROR  Pipefish.Errors.ProtocolViolationException: Request line should have three parts
   at Pipefish.Transport.SecureTcpServer.ExecuteRequest(TcpClient client) in c:\\BuildAgent\\work\\Server.cs:line 91
"""
    report = parse_evidence(paste)

    (web_05,) = report.machines
    assert (web_05.name, web_05.still_on_2x, web_05.healthy) == ("web-05", True, None)
    assert web_05.signals == ("pipefish-protocol-violation",)
    assert web_05.source == "health-log"
    assert report.unrecognised == ()


def test_an_error_with_no_machine_to_attach_it_to_is_unattributed():
    paste = (
        "Halibut.Transport.Protocol.ConnectionInitializationFailedException: Unable to read "
        "data from the transport connection\n"
    )
    report = parse_evidence(paste)

    assert report.machines == ()
    assert report.unattributed_signals == ((1, "halibut-connection-failed"),)


def test_lines_a_health_log_has_that_carry_no_evidence_are_shown_as_unrecognised():
    paste = """\
Performing health check on web-01
Using Calamari version 4.12.1 on the target
web-01 is healthy
"""
    report = parse_evidence(paste)

    assert [(m.name, m.healthy) for m in report.machines] == [("web-01", True)]
    assert report.unrecognised == ((2, "Using Calamari version 4.12.1 on the target"),)


def test_prose_that_ends_in_an_outcome_word_is_not_a_machine():
    report = parse_evidence("The connection to the old server is unavailable\n")

    assert report.machines == ()
    assert report.unrecognised == ((1, "The connection to the old server is unavailable"),)
