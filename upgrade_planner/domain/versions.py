"""Octopus version strings: one grammar for every version the product reads (server and target
versions, Tentacle versions in an inventory, versions found in pasted text), and their order."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from upgrade_planner.domain.planning.types import PlanningError


@dataclass(frozen=True, order=True)
class Version:
    """An Octopus version, compared numerically part by part (a missing 4th part is 0)."""

    major: int
    minor: int
    patch: int = 0
    build: int = 0

    def __str__(self) -> str:
        parts = [self.major, self.minor, self.patch]
        if self.build:
            parts.append(self.build)
        return ".".join(str(part) for part in parts)

    @property
    def release(self) -> tuple[int, int, int]:
        """The first three parts: builds of one release share them."""
        return (self.major, self.minor, self.patch)


# The grammar: an optional "v", two to four numbers separated by dots, an optional pre-release
# tag or build metadata ("-beta1", "+abc"), and an optional " LTS". Each reader below says which
# of those it accepts. Nine digits per part keeps int() far from its digit limit, and no real
# version comes close.
_GRAMMAR = re.compile(
    r"[vV]?([0-9]{1,9})\.([0-9]{1,9})(?:\.([0-9]{1,9})(?:\.([0-9]{1,9}))?)?"
    r"(?P<suffix>[-+][0-9A-Za-z][0-9A-Za-z.+-]*)?"
    r"(?P<lts>\s+LTS)?",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class VersionText:
    """What the grammar read in a version string."""

    version: Version
    parts: int  # how many numbers were written (2 to 4)
    suffix: str  # a pre-release tag or build metadata, or ""
    lts: bool

    @property
    def normal(self) -> str:
        """The numbers as written, without a "v", leading zeros or anything after them."""
        numbers = (self.version.major, self.version.minor, self.version.patch, self.version.build)
        return ".".join(str(number) for number in numbers[: self.parts])


def read_version(text: str) -> VersionText | None:
    """`text` (surrounding spaces ignored) read by the version grammar, or None."""
    match = _GRAMMAR.fullmatch(text.strip())
    if match is None:
        return None
    numbers = match.groups()[:4]
    major, minor, patch, build = (int(part) if part else 0 for part in numbers)
    return VersionText(
        version=Version(major, minor, patch, build),
        parts=sum(part is not None for part in numbers),
        suffix=match["suffix"] or "",
        lts=bool(match["lts"]),
    )


def quoted(text: str, limit: int = 40) -> str:
    text = text.strip()
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def parse_version(text: str, field: str = "version") -> Version:
    """Parse `2.6.5`, `2.6.5.1581`, `v3.17.14`, `2018.10 LTS` or `1.6` (read as 1.6.0)."""
    read = read_version(text)
    if read is None or read.suffix:
        if not text.strip():
            raise PlanningError(field, "Enter a version number, such as 2.6.5 or 2.6.5.1581.")
        raise PlanningError(
            field,
            f"{quoted(text)} is not a version number: use digits like 2.6.5 or 2.6.5.1581",
        )
    return read.version


# Inventories repeat a handful of version strings thousands of times.
@functools.lru_cache(maxsize=1024)
def try_version(text: str) -> Version | None:
    """The version in `text`, or None when it is blank or not a version."""
    try:
        return parse_version(text) if text.strip() else None
    except PlanningError:
        return None
