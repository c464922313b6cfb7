"""How long each step takes: the planner's estimates (content/estimates.toml), one per fact.

Every step gets the estimate of its kind (or of its kind and method, where the method changes
the work), with the assumption behind it and its source. The migration's estimate comes from
the migration sizing (sizing.py), so the page never shows two different times for the same
backup.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from upgrade_planner.domain.planning.content import fill
from upgrade_planner.domain.planning.sizing import duration_text, size_text
from upgrade_planner.domain.planning.types import Estimate, MigrationSizing, PlannedStep

DEFAULT = "default"


@functools.cache
def estimate_table() -> Mapping[str, Mapping[str, Any]]:
    """The estimates (content/estimates.toml) by key, parsed once per process."""
    text = resources.files("upgrade_planner.domain.content").joinpath("estimates.toml")
    return tomllib.loads(text.read_text("utf-8"))


def basis_of(kind: str, method: str | None) -> str:
    """The key of the estimate for a step of `kind` done by `method`."""
    table = estimate_table()
    if method and f"{kind}/{method}" in table:
        return f"{kind}/{method}"
    return kind if kind in table else DEFAULT


def needs_person(kind: str, method: str | None) -> bool:
    """Whether a step of `kind` done by `method` keeps a person busy while it runs."""
    return bool(estimate_table()[basis_of(kind, method)].get("attended", True))


def _estimate(
    basis: str,
    *,
    sizing: MigrationSizing | None,
    backup_size_mb: int | None,
    document_count: int | None,
    tentacle_count: int,
) -> Estimate:
    entry = estimate_table()[basis]
    assumption = str(entry["assumption"])
    if entry.get("from_sizing") and sizing is None:
        # Only the 2.6 migration's steps are sized; anywhere else the default applies.
        entry = estimate_table()[DEFAULT]
        assumption = str(entry["assumption"])
    if entry.get("from_sizing") and sizing is not None:
        minutes = round(sizing.duration_high_hours * 60)
        assumption = fill(
            assumption,
            {
                "duration_text": duration_text(sizing),
                "size_text": size_text(backup_size_mb, document_count),
            },
        )
    else:
        minutes = int(entry["minutes"])
        if entry.get("per_tentacle"):
            minutes *= max(1, tentacle_count)
    return Estimate(
        basis=basis,
        minutes=minutes,
        assumption=assumption,
        source=str(entry["source"]),
        attended=bool(entry.get("attended", True)),
    )


def with_estimates(
    steps: Sequence[PlannedStep],
    *,
    sizing: MigrationSizing | None,
    backup_size_mb: int | None,
    document_count: int | None,
    tentacle_count: int,
) -> tuple[tuple[PlannedStep, ...], tuple[Estimate, ...]]:
    """`steps` with their estimates, and every estimate they refer to, in first-use order."""
    found: dict[str, Estimate] = {}
    estimated = []
    for step in steps:
        basis = basis_of(step.kind, step.method)
        estimate = found.get(basis)
        if estimate is None:
            estimate = found[basis] = _estimate(
                basis,
                sizing=sizing,
                backup_size_mb=backup_size_mb,
                document_count=document_count,
                tentacle_count=tentacle_count,
            )
        # What dataclasses.replace does, without its per-field checks (which cost a tenth of
        # planning a large fleet): PlannedStep has no init=False fields and no __post_init__.
        estimated.append(
            PlannedStep(
                **vars(step)
                | {"estimate_minutes": estimate.minutes, "estimate_basis": estimate.basis}
            )
        )
    return tuple(estimated), tuple(found.values())
