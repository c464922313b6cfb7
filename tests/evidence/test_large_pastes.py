"""A paste is read whatever its shape and size, and never raises: a megabyte of one repeated
line, or one line a megabyte long, once held a worker for minutes.

That its time grows in proportion to the paste (not quadratically) is measured by `make bench`
(the evidence paste row of bench/run.py), where a busy machine cannot fail a test run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from upgrade_planner.domain.evidence import parse_evidence

# Lines (or, for the one-line shapes, units of 4 characters): the sizes the bench times.
N = 4_000
GROWTH = 4

SHAPES: dict[str, Callable[[int], str]] = {
    "one machine and its version on every line": lambda n: "web-01: 3.17.14\n" * n,
    "one machine's CSV row repeated": (
        lambda n: "name,version,status\n" + "web-01,3.17.14,Healthy\n" * n
    ),
    "one machine's health result repeated": lambda n: "web-01 is healthy\n" * n,
    "a name line and a version line repeated": lambda n: "# web-01\n3.17.14\n" * (n // 2),
    "a 2.x error repeated under one name": (
        lambda n: "# web-01\n" + "ConnectionInitializationFailedException\n" * n
    ),
    "a different machine on every line": (
        lambda n: "".join(f"web-{index}: 3.17.14\n" for index in range(n))
    ),
    "lines that are none of the formats": (
        lambda n: "".join(f"hello world {index}\n" for index in range(n))
    ),
    "one line: a stack frame of opening brackets": lambda n: "at f" + "(" * (4 * n),
    "one line: a health check name and spaces": (
        lambda n: "Performing health check on web-01" + " " * (4 * n) + "!"
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_is_read_at_four_times_the_size_without_raising(shape):
    report = parse_evidence(SHAPES[shape](GROWTH * N))

    assert len(report.machines) + len(report.unrecognised) > 0


def test_a_megabyte_of_one_repeated_line_is_read_whole():
    paste = "web-01: 3.17.14\n" * 62_500

    report = parse_evidence(paste)

    (machine,) = report.machines
    assert (machine.name, machine.version, machine.source_line) == ("web-01", "3.17.14", 62_500)
    assert machine.lines == tuple(range(1, 62_501))
    assert report.unrecognised == ()


def test_json_nested_thousands_deep_is_given_back_not_raised():
    paste = '# web-01\n{"Version": ' + "[" * 100_000 + "]" * 100_000 + "}\n"

    report = parse_evidence(paste)

    assert report.machines == ()
    assert [line for line, _ in report.unrecognised] == [1, 2]
    assert len(report.unrecognised[1][1]) == 200
