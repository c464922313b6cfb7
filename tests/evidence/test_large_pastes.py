"""A paste is read in time proportional to its size, whatever its shape, and never raises: a
megabyte of one repeated line, or one line a megabyte long, once held a worker for minutes.

Growth is measured, not speed: each shape is parsed at n and at 4n, and the time per parse may
grow by at most twice the factor of 4 (a quadratic part grows by 16). A slow machine is slow at
both sizes alike."""

from __future__ import annotations

import timeit
from collections.abc import Callable

import pytest

from upgrade_planner.domain.evidence import parse_evidence

# Lines (or, for the one-line shapes, units of 4 characters) in the smaller paste: large enough
# that a quadratic part shows, small enough to keep the test quick.
N = 4_000
GROWTH = 4
ALLOWED = 2 * GROWTH

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


def seconds_per_parse(text: str, number: int) -> float:
    # The best of several runs: noise only ever adds time.
    return min(timeit.repeat(lambda: parse_evidence(text), repeat=5, number=number)) / number


def runs_for(text: str, at_least: float = 0.02) -> int:
    """How many parses of `text` take `at_least` seconds, so that short parses time well."""
    number = 1
    while timeit.timeit(lambda: parse_evidence(text), number=number) < at_least:
        number *= 2
    return number


@pytest.mark.parametrize("shape", SHAPES)
def test_parsing_time_grows_in_proportion_to_the_paste(shape):
    small, large = SHAPES[shape](N), SHAPES[shape](GROWTH * N)
    number = runs_for(small)

    growth = seconds_per_parse(large, max(1, number // GROWTH)) / seconds_per_parse(small, number)

    assert growth < ALLOWED, f"{GROWTH} times the paste took {growth:.1f} times as long"


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
