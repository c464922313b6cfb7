"""The release catalogue: which Octopus Server releases exist, what each target needs (host OS,
.NET, SQL Server), what stops working on the way, and the known broken upgrade paths — each entry
with its source (content/catalogue.toml), read once per process.

    release_catalogue().check_target(parse_version("3.18"))  # Impossible: 3.x ends at 3.17.14
    release_catalogue().broken_path(current, target)  # the rule a direct jump hits, or None
"""

from __future__ import annotations

import datetime
import functools
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from upgrade_planner.domain.versions import Version, parse_version, quoted, try_version

FloorKind = Literal["host-os", "dotnet", "sql-server"]
FLOOR_KINDS: tuple[FloorKind, ...] = ("host-os", "dotnet", "sql-server")


def _major_minor(version: Version) -> Version:
    return Version(version.major, version.minor)


def short(version: Version) -> str:
    """`version` without trailing zero parts past the minor: 2018.1, 4.0, 2025.4.10666."""
    parts = [version.major, version.minor, version.patch, version.build]
    while len(parts) > 2 and parts[-1] == 0:
        parts.pop()
    return ".".join(str(part) for part in parts)


@dataclass(frozen=True)
class VersionRange:
    """Versions from `min` (inside) up to `below` (outside); no `below` means no end."""

    min: Version
    below: Version | None = None

    def __contains__(self, version: object) -> bool:
        if not isinstance(version, Version):
            return False
        return self.min <= version and (self.below is None or version < self.below)

    def overlaps(self, other: VersionRange) -> bool:
        starts_before_other_ends = other.below is None or self.min < other.below
        ends_after_other_starts = self.below is None or other.min < self.below
        return starts_before_other_ends and ends_after_other_starts


@dataclass(frozen=True)
class ReleaseLine:
    """One release line: a first number (3, 2019, …) and the releases it holds."""

    name: str  # "3.x", "2019.x"
    major: int
    first: Version
    last: Version | None  # the last release of a closed line, as precise as known
    last_parts: int  # how many parts of `last` are known (2: only its last minor release)
    closed: bool
    newest_known: Version
    meaning: str
    source: str
    note: str = ""

    @property
    def last_label(self) -> str:
        if self.last is None:
            return str(self.newest_known)
        parts = (self.last.major, self.last.minor, self.last.patch, self.last.build)
        return ".".join(str(part) for part in parts[: self.last_parts])

    def is_after_last(self, version: Version) -> bool:
        """Whether `version` lies beyond the last release of this (closed) line."""
        if self.last is None:
            return False
        if self.last_parts == 2:
            return (version.major, version.minor) > (self.last.major, self.last.minor)
        if self.last_parts == 3:
            return version.release > self.last.release
        return version > self.last

    def knows(self, version: Version) -> bool:
        """Whether `version` is within what the catalogue knows of this line: up to its last
        release, or up to the newest minor release it knows (every build of it)."""
        if self.last is not None:
            return not self.is_after_last(version)
        return _major_minor(version) <= _major_minor(self.newest_known)


@dataclass(frozen=True)
class Release:
    version: Version
    lts: bool
    released: datetime.date | None
    source: str
    note: str = ""


@dataclass(frozen=True)
class Floor:
    """What a target in `targets` needs of one kind (host OS, .NET, SQL Server)."""

    kind: FloorKind
    targets: VersionRange
    minimum: str  # what the planner applies, e.g. "SQL Server 2016"
    detail: str
    source: str
    required: bool = True  # False where nothing needs installing (2020.1+ bundles .NET)
    # Where the docs disagree: the other page's value, its source, and why we apply `minimum`.
    other_minimum: str = ""
    other_source: str = ""
    applied_because: str = ""


@dataclass(frozen=True)
class Floors:
    host_os: Floor | None
    dotnet: Floor | None
    sql_server: Floor | None

    def __iter__(self) -> Iterator[Floor]:
        return iter(floor for floor in (self.host_os, self.dotnet, self.sql_server) if floor)


@dataclass(frozen=True)
class DeprecationStage:
    stage: str  # "warned", "stops", "default-changed", "removed"
    version: Version


@dataclass(frozen=True)
class Deprecation:
    id: str
    feature: str  # a `features_in_use` value (product.md §5.6), or "" for a kind of machine
    what: str
    what_to_do: str
    stages: tuple[DeprecationStage, ...]
    source: str

    @property
    def drops_in(self) -> Version | None:
        """The version from which it no longer works (stops, else removed), if known."""
        for name in ("stops", "removed"):
            for stage in self.stages:
                if stage.stage == name:
                    return stage.version
        return None

    def stages_between(self, current: Version, target: Version) -> tuple[DeprecationStage, ...]:
        """The stages an upgrade from `current` to `target` passes."""
        return tuple(stage for stage in self.stages if current < stage.version <= target)


@dataclass(frozen=True)
class Change:
    """How the upgrade behaves from the server version `from_version` on."""

    id: str
    from_version: Version
    what: str
    source: str


@dataclass(frozen=True)
class TentacleRequirement:
    id: str
    tentacle_above: Version
    requirement: str
    source: str


@dataclass(frozen=True)
class BrokenPath:
    """A direct jump that is known to fail, and the stops (`via`) that go round it."""

    id: str
    start: VersionRange
    targets: tuple[VersionRange, ...]
    via: tuple[Version, ...]
    reason: str
    advice: str
    tracked_in: str
    source: str
    uncertain: bool

    def applies(self, start: Version, end: Version) -> bool:
        return start in self.start and any(end in targets for targets in self.targets)


@dataclass(frozen=True)
class Known:
    """A version of a line the catalogue knows, within what it knows of that line."""

    version: Version
    line: ReleaseLine


@dataclass(frozen=True)
class Newer:
    """A version the catalogue does not know and cannot rule out: planned with a warning."""

    version: Version
    line: ReleaseLine | None  # its line, when the catalogue knows the line
    newest: Version  # the newest release the catalogue knows (of the line, if known)
    unconfirmed: bool  # True inside a known line whose end the catalogue cannot place
    content_version: str

    def text(self, target: str) -> str:
        name = "newer_unconfirmed" if self.unconfirmed else "newer_beyond"
        return release_catalogue().message(
            name,
            target=target,
            content_version=self.content_version,
            newest=short(self.newest),
            line=self.line.name if self.line else "",
        )

    def action(self, target: str) -> str:
        return release_catalogue().message("newer_action", target=target, newest=short(self.newest))


@dataclass(frozen=True)
class Impossible:
    """A version no Octopus release has or will have, with the real neighbours."""

    version: Version
    previous: ReleaseLine | None  # the line that ends before it
    next: ReleaseLine | None  # the line that starts after it
    why: str  # e.g. "3.x ends at 3.17.14; the next line is 4.0."

    def message(self, text: str) -> str:
        return release_catalogue().message("impossible", version=quoted(text), why=self.why)


TargetCheck = Known | Newer | Impossible


@dataclass(frozen=True)
class ReleaseCatalogue:
    content_version: str
    lines: tuple[ReleaseLine, ...]  # in version order
    releases: tuple[Release, ...]
    floors: tuple[Floor, ...]
    deprecations: tuple[Deprecation, ...]
    tentacle_requirements: tuple[TentacleRequirement, ...]
    changes: tuple[Change, ...]
    broken_paths: tuple[BrokenPath, ...]
    newest_known: Version
    newest_known_source: str
    newer_source: str  # what a plan for a target beyond the catalogue points to
    last_plausible_major: int
    messages: Mapping[str, str]

    def message(self, name: str, **values: object) -> str:
        return self.messages[name].format_map(values)

    def line_of(self, version: Version) -> ReleaseLine | None:
        """The release line `version` belongs to, or None for a first number no line has."""
        for line in self.lines:
            if line.major == version.major:
                return line
        return None

    def release(self, version: Version) -> Release | None:
        """What the catalogue says of the release `version` belongs to (its minor release for
        a named minor like 2018.10, else the exact release)."""
        for release in self.releases:
            named = release.version
            if named.patch == 0 and named.build == 0:
                if _major_minor(version) == named:
                    return release
            elif version.release == named.release:
                return release
        return None

    def is_lts(self, version: Version) -> bool:
        release = self.release(version)
        return release is not None and release.lts

    def check_target(self, version: Version) -> TargetCheck:
        """Known, Newer (not known, not ruled out) or Impossible (with its real neighbours)."""
        line = self.line_of(version)
        if line is not None:
            index = self.lines.index(line)
            before = self.lines[index - 1] if index else None
            after = self.lines[index + 1] if index + 1 < len(self.lines) else None
            if version < line.first:
                why = (
                    self.message(
                        "before_first",
                        line=line.name,
                        first=short(line.first),
                        previous=before.name,
                    )
                    if before
                    else self.message(
                        "before_first_oldest", line=line.name, first=short(line.first)
                    )
                )
                return Impossible(version, before, line, why)
            if line.is_after_last(version):
                why = (
                    self.message(
                        "after_last", line=line.name, last=line.last_label, next=short(after.first)
                    )
                    if after
                    else self.message("after_last_newest", line=line.name, last=line.last_label)
                )
                return Impossible(version, line, after, why)
            if line.knows(version):
                return Known(version, line)
            # Beyond what the catalogue knows: of an older line, it cannot say where the line
            # ends; of the newest line, the release may simply be newer than the catalogue.
            if line is self.lines[-1]:
                return Newer(version, line, self.newest_known, False, self.content_version)
            return Newer(version, line, line.newest_known, True, self.content_version)
        newest_line = self.lines[-1]
        if newest_line.major < version.major <= self.last_plausible_major:
            return Newer(version, None, self.newest_known, False, self.content_version)
        if version.major > self.last_plausible_major:
            return Impossible(
                version, newest_line, None, self.message("too_far", major=version.major)
            )
        earlier = [line for line in self.lines if line.major < version.major]
        later = [line for line in self.lines if line.major > version.major]
        if not earlier:
            return Impossible(version, None, later[0] if later else None, self.message("below_all"))
        previous, following = earlier[-1], later[0]
        why = self.message("gap", previous=previous.name, next=short(following.first))
        return Impossible(version, previous, following, why)

    def floors_for(self, target: Version) -> Floors:
        """What the server host, its .NET and its SQL Server must be at least for `target`."""
        found: dict[FloorKind, Floor] = {}
        for floor in self.floors:
            if target in floor.targets:
                found[floor.kind] = floor
        return Floors(found.get("host-os"), found.get("dotnet"), found.get("sql-server"))

    def broken_paths_for(self, current: Version, target: Version) -> tuple[BrokenPath, ...]:
        """Every known broken path a direct jump from `current` to `target` hits."""
        return tuple(rule for rule in self.broken_paths if rule.applies(current, target))

    def broken_path(self, current: Version, target: Version) -> BrokenPath | None:
        """The first known broken path a direct jump from `current` to `target` hits."""
        found = self.broken_paths_for(current, target)
        return found[0] if found else None

    def changes_for(self, target: Version) -> tuple[Change, ...]:
        """How upgrading to `target` behaves differently from older versions."""
        return tuple(change for change in self.changes if target >= change.from_version)

    def deprecations_between(self, current: Version, target: Version) -> tuple[Deprecation, ...]:
        """What reaches a stage (warned, stops working, removed) on the way to `target`."""
        return tuple(d for d in self.deprecations if d.stages_between(current, target))


# --- Reading content/catalogue.toml ------------------------------------------------------------


def _version(raw: Mapping[str, Any], key: str) -> Version | None:
    return parse_version(raw[key], key) if key in raw else None


def _range(raw: Mapping[str, Any]) -> VersionRange:
    return VersionRange(_version(raw, "min") or Version(0, 0), _version(raw, "below"))


def _line(raw: Mapping[str, Any]) -> ReleaseLine:
    last_text: str | None = raw.get("last")
    return ReleaseLine(
        name=raw["name"],
        major=raw["major"],
        first=parse_version(raw["first"]),
        last=parse_version(last_text) if last_text else None,
        last_parts=len(last_text.split(".")) if last_text else 0,
        closed=raw["closed"],
        newest_known=parse_version(raw["newest_known"]),
        meaning=raw["meaning"],
        source=raw["source"],
        note=raw.get("note", ""),
    )


def _floor(raw: Mapping[str, Any]) -> Floor:
    return Floor(
        kind=raw["kind"],
        targets=_range(raw),
        minimum=raw["minimum"],
        detail=raw["detail"],
        source=raw["source"],
        required=raw.get("required", True),
        other_minimum=raw.get("other_minimum", ""),
        other_source=raw.get("other_source", ""),
        applied_because=raw.get("applied_because", ""),
    )


def _deprecation(raw: Mapping[str, Any]) -> Deprecation:
    return Deprecation(
        id=raw["id"],
        feature=raw["feature"],
        what=raw["what"],
        what_to_do=raw["what_to_do"],
        stages=tuple(
            DeprecationStage(stage["stage"], parse_version(stage["in"])) for stage in raw["stages"]
        ),
        source=raw["source"],
    )


def _broken_path(raw: Mapping[str, Any]) -> BrokenPath:
    return BrokenPath(
        id=raw["id"],
        start=VersionRange(_version(raw, "from_min") or Version(0, 0), _version(raw, "from_below")),
        targets=tuple(_range(targets) for targets in raw["targets"]),
        via=tuple(parse_version(stop) for stop in raw["via"]),
        reason=raw["reason"],
        advice=raw.get("advice", ""),
        tracked_in=raw["tracked_in"],
        source=raw["source"],
        uncertain=raw["uncertain"],
    )


def read_catalogue(raw: Mapping[str, Any]) -> ReleaseCatalogue:
    """The release catalogue described by `raw` (the parsed catalogue.toml)."""
    settings = raw["catalogue"]
    return ReleaseCatalogue(
        content_version=raw["content_version"],
        lines=tuple(_line(line) for line in raw["lines"]),
        releases=tuple(
            Release(
                version=parse_version(release["version"]),
                lts=release["lts"],
                released=release.get("released"),
                source=release["source"],
                note=release.get("note", ""),
            )
            for release in raw["releases"]
        ),
        floors=tuple(_floor(floor) for floor in raw["floors"]),
        deprecations=tuple(_deprecation(d) for d in raw["deprecations"]),
        tentacle_requirements=tuple(
            TentacleRequirement(
                r["id"], parse_version(r["tentacle_above"]), r["requirement"], r["source"]
            )
            for r in raw["tentacle_requirements"]
        ),
        changes=tuple(
            Change(c["id"], parse_version(c["from"]), c["what"], c["source"])
            for c in raw["changes"]
        ),
        broken_paths=tuple(_broken_path(rule) for rule in raw["broken_paths"]),
        newest_known=parse_version(settings["newest_known"]),
        newest_known_source=settings["newest_known_source"],
        newer_source=settings["newer_source"],
        last_plausible_major=settings["last_plausible_major"],
        messages=raw["messages"],
    )


def read_content_file() -> dict[str, Any]:
    text = resources.files("upgrade_planner.domain.content").joinpath("catalogue.toml")
    return tomllib.loads(text.read_text("utf-8"))


@functools.cache
def release_catalogue() -> ReleaseCatalogue:
    """The release catalogue (content/catalogue.toml), read once per process."""
    return read_catalogue(read_content_file())


def refusal_of(text: str) -> str | None:
    """Why `text` cannot be an Octopus version (naming the real neighbours), or None: for a
    version that can exist, and for text that is no version at all (the grammar answers that)."""
    version = try_version(text)
    if version is None:
        return None
    verdict = release_catalogue().check_target(version)
    return verdict.message(text) if isinstance(verdict, Impossible) else None


def all_sources(catalogue: ReleaseCatalogue) -> Sequence[tuple[str, str]]:
    """(entry, source) for every entry of `catalogue`, for checking that none lacks one."""
    entries: list[tuple[str, str]] = []
    entries += [(f"line {line.name}", line.source) for line in catalogue.lines]
    entries += [(f"release {r.version}", r.source) for r in catalogue.releases]
    entries += [(f"floor {f.kind} {f.targets.min}", f.source) for f in catalogue.floors]
    entries += [
        (f"other floor {f.kind} {f.targets.min}", f.other_source)
        for f in catalogue.floors
        if f.other_minimum
    ]
    entries += [(f"deprecation {d.id}", d.source) for d in catalogue.deprecations]
    entries += [(f"tentacle {r.id}", r.source) for r in catalogue.tentacle_requirements]
    entries += [(f"change {c.id}", c.source) for c in catalogue.changes]
    entries += [(f"broken path {b.id}", b.source) for b in catalogue.broken_paths]
    entries += [(f"broken path {b.id} (tracker)", b.tracked_in) for b in catalogue.broken_paths]
    return entries
