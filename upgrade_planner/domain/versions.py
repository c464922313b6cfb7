"""Octopus version strings: parsing and ordering."""

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


# Nine digits per part keeps int() far from its digit limit, and no real version comes close.
_VERSION_RE = re.compile(
    r"[vV]?([0-9]{1,9})\.([0-9]{1,9})(?:\.([0-9]{1,9})(?:\.([0-9]{1,9}))?)?(?:\s+LTS)?",
    re.IGNORECASE | re.ASCII,
)


def quoted(text: str, limit: int = 40) -> str:
    text = text.strip()
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def parse_version(text: str, field: str = "version") -> Version:
    """Parse `2.6.5`, `2.6.5.1581`, `v3.17.14`, `2018.10 LTS` or `1.6` (read as 1.6.0)."""
    match = _VERSION_RE.fullmatch(text.strip())
    if match is None:
        if not text.strip():
            raise PlanningError(field, "Enter a version number, such as 2.6.5 or 2.6.5.1581.")
        raise PlanningError(
            field,
            f"{quoted(text)} is not a version number: use digits like 2.6.5 or 2.6.5.1581",
        )
    major, minor, patch, build = (int(part) if part else 0 for part in match.groups())
    return Version(major, minor, patch, build)


# Inventories repeat a handful of version strings thousands of times.
@functools.lru_cache(maxsize=1024)
def try_version(text: str) -> Version | None:
    """The version in `text`, or None when it is blank or not a version."""
    try:
        return parse_version(text) if text.strip() else None
    except PlanningError:
        return None
