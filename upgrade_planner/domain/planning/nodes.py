"""The server's high-availability nodes as given: one name each, checked before planning."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Sane bounds, not Octopus limits: a node name is a machine name, and a cluster of more nodes
# than this is not one anybody upgrades from a checklist.
NODE_NAME_MAX = 100
NODES_MAX = 32


def node_problem(name: str, seen: set[str]) -> str | None:
    """What is wrong with node `name` given the (case-folded) names before it, or None."""
    text = name.strip()
    if not text:
        return "Give the node a name; an empty name cannot be told apart from the others."
    if len(text) > NODE_NAME_MAX:
        return f"A node name has at most {NODE_NAME_MAX} characters; this one has {len(text)}."
    if any(unicodedata.category(char).startswith("C") for char in text):
        return "A node name cannot contain control characters."
    if text.casefold() in seen:
        return f"{text!r} is listed twice; each node needs its own name."
    return None


def node_problems(names: Sequence[str]) -> list[tuple[int, str]]:
    """(index, message) for every node name that cannot be planned, in order; a list longer
    than NODES_MAX is one problem, at the first name too many."""
    if len(names) > NODES_MAX:
        return [(NODES_MAX, f"List at most {NODES_MAX} nodes; you listed {len(names)}.")]
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        message = node_problem(name, seen)
        if message is not None:
            problems.append((index, message))
        seen.add(name.strip().casefold())
    return problems


def node_lines(text: str) -> tuple[tuple[int, str], ...]:
    """(line number, name) for each line of `text` that is not blank."""
    return tuple(
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    )
