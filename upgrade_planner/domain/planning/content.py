"""The content files: the version catalogue and the wording, each read once per process."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from upgrade_planner.domain.catalogue import Impossible, release_catalogue
from upgrade_planner.domain.planning.types import PlanningError
from upgrade_planner.domain.versions import Version, parse_version


@dataclass(frozen=True)
class Stop:
    version: Version
    label: str
    reason: str
    source: str


@dataclass(frozen=True)
class SqlRequirement:
    minimum: str
    supported: str
    source: str


@dataclass(frozen=True)
class Catalogue:
    content_version: str
    stops: Mapping[str, Stop]
    hops: Mapping[str, tuple[str, str]]  # name → (reason, source)
    thresholds: Mapping[str, Any]
    quirks: Mapping[str, str]


def _read_content(name: str) -> dict[str, Any]:
    text = resources.files("upgrade_planner.domain.content").joinpath(name).read_text("utf-8")
    return tomllib.loads(text)


@functools.cache
def catalogue() -> Catalogue:
    """The version catalogue (content/catalogue.toml), parsed once per process."""
    raw = _read_content("catalogue.toml")
    stops = {
        name: Stop(parse_version(s["version"]), s["label"], s["reason"], s["source"])
        for name, s in raw["stops"].items()
    }
    return Catalogue(
        content_version=raw["content_version"],
        stops=stops,
        hops={name: (h["reason"], h["source"]) for name, h in raw["hops"].items()},
        thresholds=raw["thresholds"],
        quirks=raw["quirks"],
    )


@functools.cache
def wording() -> dict[str, Any]:
    """Every text the planner emits (content/steps.toml), parsed once per process."""
    return _read_content("steps.toml")


def fill(template: str, values: Mapping[str, object]) -> str:
    return template.format_map(values)


def tidy(text: str) -> str:
    """Drop the blank lines that empty optional fragments leave behind."""
    if "\n\n\n" in text:
        text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def fragment(name: str, values: Mapping[str, object] | None = None) -> str:
    return fill(wording()["fragments"][name], values or {})


def checked_version(text: str, field: str) -> Version:
    """`text` read as a version that can exist: one the release catalogue knows, or newer than
    its knowledge; a version no release has (3.18, 2019.14) is refused naming its neighbours."""
    version = parse_version(text, field)
    verdict = release_catalogue().check_target(version)
    if isinstance(verdict, Impossible):
        raise PlanningError(field, verdict.message(text))
    return version


def sql_requirement(target: Version) -> SqlRequirement | None:
    """The SQL Server floor of `target`, as the catalogue applies it."""
    floor = release_catalogue().floors_for(target).sql_server
    if floor is None:
        return None
    return SqlRequirement(floor.minimum, floor.detail, floor.source)
