"""A paste is read whatever its shape and size, and never raises: a megabyte of one repeated
line, or one line a megabyte long, once held a worker for minutes.

That its time grows in proportion to the paste (not quadratically) is measured by `make bench`
(the evidence paste row of bench/run.py), where a busy machine cannot fail a test run."""

from __future__ import annotations

import pytest

from bench.pastes import PASTE_GROWTH, PASTE_LINES, PASTE_SHAPES
from upgrade_planner.domain.evidence import parse_evidence


@pytest.mark.parametrize("shape", PASTE_SHAPES)
def test_every_shape_is_read_at_four_times_the_size_without_raising(shape):
    report = parse_evidence(PASTE_SHAPES[shape](PASTE_GROWTH * PASTE_LINES))

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
