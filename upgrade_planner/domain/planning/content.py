"""The content files: the version catalogue and the wording, each read once per process."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from upgrade_planner.domain.planning.types import PlanningError
from upgrade_planner.domain.versions import Version, parse_version, quoted


@dataclass(frozen=True)
class Stop:
    version: Version
    label: str
    reason: str
    source: str


@dataclass(frozen=True)
class BrokenPath:
    id: str
    from_min: Version | None
    from_below: Version | None
    from_max: Version | None
    target_min: Version
    target_max: Version
    via: tuple[Version, ...]
    reason: str
    advice: str
    source: str
    uncertain: bool

    def applies(self, start: Version, end: Version) -> bool:
        if self.from_min is not None and start < self.from_min:
            return False
        if self.from_below is not None and start >= self.from_below:
            return False
        if self.from_max is not None and start.release > self.from_max.release:
            return False
        return self.target_min.release <= end.release <= self.target_max.release


@dataclass(frozen=True)
class Line:
    major_from: int
    major_to: int
    name: str
    meaning: str
    source: str


@dataclass(frozen=True)
class SqlRequirement:
    target_min: Version
    target_max: Version | None
    minimum: str
    supported: str
    source: str

    def applies(self, target: Version) -> bool:
        if target < self.target_min:
            return False
        return self.target_max is None or target.release <= self.target_max.release


@dataclass(frozen=True)
class Catalogue:
    content_version: str
    stops: Mapping[str, Stop]
    hops: Mapping[str, tuple[str, str]]  # name → (reason, source)
    broken_paths: tuple[BrokenPath, ...]
    lines: tuple[Line, ...]
    sql_requirements: tuple[SqlRequirement, ...]
    thresholds: Mapping[str, Any]
    quirks: Mapping[str, str]


def _read_content(name: str) -> dict[str, Any]:
    text = resources.files("upgrade_planner.domain.content").joinpath(name).read_text("utf-8")
    return tomllib.loads(text)


def _optional_version(raw: Mapping[str, Any], key: str) -> Version | None:
    return parse_version(raw[key]) if key in raw else None


@functools.cache
def catalogue() -> Catalogue:
    """The version catalogue (content/catalogue.toml), parsed once per process."""
    raw = _read_content("catalogue.toml")
    stops = {
        name: Stop(parse_version(s["version"]), s["label"], s["reason"], s["source"])
        for name, s in raw["stops"].items()
    }
    broken = tuple(
        BrokenPath(
            id=b["id"],
            from_min=_optional_version(b, "from_min"),
            from_below=_optional_version(b, "from_below"),
            from_max=_optional_version(b, "from_max"),
            target_min=parse_version(b["target_min"]),
            target_max=parse_version(b["target_max"]),
            via=tuple(parse_version(v) for v in b["via"]),
            reason=b["reason"],
            advice=b.get("advice", ""),
            source=b["source"],
            uncertain=b["uncertain"],
        )
        for b in raw["broken_paths"]
    )
    lines = tuple(
        Line(
            line.get("major", line.get("major_from")),
            line.get("major", line.get("major_to")),
            line["name"],
            line["meaning"],
            line["source"],
        )
        for line in raw["lines"]
    )
    sql = tuple(
        SqlRequirement(
            parse_version(r["target_min"]),
            _optional_version(r, "target_max"),
            r["minimum"],
            r["supported"],
            r["source"],
        )
        for r in raw["sql_requirements"]
    )
    return Catalogue(
        content_version=raw["content_version"],
        stops=stops,
        hops={name: (h["reason"], h["source"]) for name, h in raw["hops"].items()},
        broken_paths=broken,
        lines=lines,
        sql_requirements=sql,
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


def _line_of(version: Version) -> Line | None:
    for line in catalogue().lines:
        if line.major_from <= version.major <= line.major_to:
            return line
    return None


def checked_version(text: str, field: str) -> Version:
    version = parse_version(text, field)
    if _line_of(version) is None:
        raise PlanningError(
            field,
            f"{quoted(text)} is not an Octopus Deploy version: releases are numbered 1.x to 4.x, "
            "then by year from 2018 (for example 2018.10 or 2019.1).",
        )
    return version


def sql_requirement(target: Version) -> SqlRequirement | None:
    found = None
    for requirement in catalogue().sql_requirements:
        if requirement.applies(target):
            found = requirement
    return found
