"""One version grammar: server, Tentacle and pasted versions are read by domain/versions.py."""

from __future__ import annotations

import pytest

from upgrade_planner.domain.evidence import evidence_version
from upgrade_planner.domain.inventory import parse_version_text
from upgrade_planner.domain.planner import PlanningError, Version, parse_version
from upgrade_planner.domain.versions import read_version


@pytest.mark.parametrize(
    ("text", "version", "parts", "suffix", "lts"),
    [
        ("2.6.5", Version(2, 6, 5), 3, "", False),
        (" v2.6.5.1581 ", Version(2, 6, 5, 1581), 4, "", False),
        ("2018.10 LTS", Version(2018, 10), 2, "", True),
        ("3.0.0-beta1", Version(3, 0, 0), 3, "-beta1", False),
        ("4.0.3+abc.1", Version(4, 0, 3), 3, "+abc.1", False),
    ],
)
def test_the_grammar_reads_every_form_octopus_writes(
    text: str, version: Version, parts: int, suffix: str, lts: bool
) -> None:
    read = read_version(text)
    assert read is not None
    assert (read.version, read.parts, read.suffix, read.lts) == (version, parts, suffix, lts)


@pytest.mark.parametrize(
    "text", ["", "2", "2.x", "2.6.5.1.2", "\u0661.\u0662.\u0663", "2 .6", "2.6 beta"]
)
def test_the_grammar_refuses_what_is_not_a_version(text: str) -> None:
    assert read_version(text) is None


def test_a_server_version_may_have_two_parts_and_lts_but_no_pre_release_tag() -> None:
    assert parse_version("2018.10 LTS") == Version(2018, 10)
    with pytest.raises(PlanningError, match="not a version number"):
        parse_version("3.0.0-beta1", field="target_version")


def test_a_tentacle_version_in_an_inventory_needs_three_or_four_numbers() -> None:
    assert parse_version_text(" v2.6.05.0 ") == "2.6.5.0"
    for text in ("2.6", "3.0.0-beta1", "2018.10.1 LTS"):
        with pytest.raises(ValueError, match="3 or 4 numbers"):
            parse_version_text(text)


def test_a_pasted_version_may_carry_a_pre_release_tag_and_quotes() -> None:
    assert evidence_version('"3.0.0-beta1"') == Version(3, 0, 0)
    assert evidence_version("2018.10") is None
    assert evidence_version("2018.10.1 LTS") is None
