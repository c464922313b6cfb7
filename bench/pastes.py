"""The evidence pastes whose parsing `make bench` times at two sizes (bench/run.py) and the
tests read at the larger size without raising (tests/evidence/test_large_pastes.py): one
list, so the shapes timed are the shapes tested."""

from __future__ import annotations

from collections.abc import Callable

# Each shape is parsed at PASTE_LINES lines (for the one-line shapes, units of 4 characters)
# and at PASTE_GROWTH times that; parsing must grow in proportion to the paste (a quadratic
# part would grow by PASTE_GROWTH squared).
PASTE_LINES = 4_000
PASTE_GROWTH = 4

PASTE_SHAPES: dict[str, Callable[[int], str]] = {
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
