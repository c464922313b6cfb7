"""Re-syncing an inventory mid-upgrade: what changed between the Tentacles a plan has and a new
list of them.

Pure: no ORM, no settings, no I/O. Tentacles are matched by name without regard to case, as
the database's unique constraint and the inventory parser match them, so "WEB-01" replacing
"web-01" is the same machine with its name's spelling changed, not a removal and an addition.
A rename to another name is a removal and an addition: nothing else identifies a Tentacle.

Two comparisons are deliberately loose, so that a re-import from another source (a
spreadsheet, or the Octopus API) does not report noise as change: host names compare without
case (DNS ignores it), and environments and roles compare as sets (their order means nothing).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from upgrade_planner.domain.inventory import COLUMNS
from upgrade_planner.domain.planner import TentacleInput

# The fields compared: every column of the inventory, in the order a person reads them.
COMPARED_FIELDS = COLUMNS
FIELD_LABELS = {
    "name": "name",
    "hostname": "hostname",
    "port": "port",
    "version": "version",
    "communication_style": "communication style",
    "environments": "environments",
    "roles": "roles",
    "os": "OS",
    "service_account": "service account",
    "restricted_permissions": "restricted permissions",
    "online": "online",
}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    @property
    def label(self) -> str:
        return FIELD_LABELS[self.field]

    @property
    def old_text(self) -> str:
        return show_value(self.old)

    @property
    def new_text(self) -> str:
        return show_value(self.new)


@dataclass(frozen=True)
class ChangedTentacle:
    old: TentacleInput
    new: TentacleInput
    changes: tuple[FieldChange, ...]

    @property
    def name(self) -> str:
        return self.new.name

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(change.field for change in self.changes)


@dataclass(frozen=True)
class InventoryDiff:
    """Added and changed Tentacles in the new inventory's order, removed ones in the old's."""

    added: tuple[TentacleInput, ...]
    removed: tuple[TentacleInput, ...]
    changed: tuple[ChangedTentacle, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
        }

    def names(self, limit: int | None = None) -> dict[str, Any]:
        """Names for the activity log and the API, at most `limit` of each list."""
        return {
            "added": [t.name for t in self.added[:limit]],
            "removed": [t.name for t in self.removed[:limit]],
            "changed": [{"name": c.name, "fields": list(c.fields)} for c in self.changed[:limit]],
        }


def show_value(value: Any) -> str:
    """A Tentacle field's value as the preview shows it."""
    if value is None or value == "" or value == ():
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return ", ".join(str(item) for item in value)
    return str(value)


def name_key(name: str) -> str:
    return name.casefold()


def _comparable(field: str, value: Any) -> Any:
    if field == "hostname":
        return str(value).casefold()
    if field in ("environments", "roles"):
        return sorted(value)
    return value


def field_changes(old: TentacleInput, new: TentacleInput) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(field, getattr(old, field), getattr(new, field))
        for field in COMPARED_FIELDS
        if _comparable(field, getattr(old, field)) != _comparable(field, getattr(new, field))
    )


def _by_name(tentacles: Sequence[TentacleInput], which: str) -> dict[str, TentacleInput]:
    found: dict[str, TentacleInput] = {}
    for tentacle in tentacles:
        key = name_key(tentacle.name)
        if key in found:
            raise ValueError(f"The {which} inventory names “{tentacle.name}” twice.")
        found[key] = tentacle
    return found


def inventory_diff(old: Sequence[TentacleInput], new: Sequence[TentacleInput]) -> InventoryDiff:
    """What replacing `old` with `new` adds, removes and changes. Names must be unique (without
    regard to case) within each list; ValueError otherwise."""
    old_by_name = _by_name(old, "current")
    new_by_name = _by_name(new, "new")
    added: list[TentacleInput] = []
    changed: list[ChangedTentacle] = []
    unchanged = 0
    for tentacle in new:
        before = old_by_name.get(name_key(tentacle.name))
        if before is None:
            added.append(tentacle)
            continue
        changes = field_changes(before, tentacle)
        if changes:
            changed.append(ChangedTentacle(old=before, new=tentacle, changes=changes))
        else:
            unchanged += 1
    removed = [t for t in old if name_key(t.name) not in new_by_name]
    return InventoryDiff(
        added=tuple(added), removed=tuple(removed), changed=tuple(changed), unchanged=unchanged
    )


def kept_as_before(
    new: Sequence[TentacleInput], old: Sequence[TentacleInput]
) -> list[TentacleInput]:
    """`new` with each Tentacle that did not change replaced by its `old` self: the values
    compared loosely (host name case, list order) stay as they were saved."""
    old_by_name = {name_key(t.name): t for t in old}
    kept: list[TentacleInput] = []
    for tentacle in new:
        before = old_by_name.get(name_key(tentacle.name))
        if before is not None and not field_changes(before, tentacle):
            kept.append(before)
        else:
            kept.append(tentacle)
    return kept


def fill_unreported(
    rows: Iterable[Mapping[str, Any]], current: Sequence[TentacleInput]
) -> list[dict[str, Any]]:
    """Rows read from a source that does not know every field (the Octopus API knows nothing
    of service accounts or permissions), with each field the row leaves out taken from the
    Tentacle of the same name in `current`. Rows of new Tentacles keep the defaults."""
    by_name = {name_key(t.name): t for t in current}
    filled: list[dict[str, Any]] = []
    for row in rows:
        merged = dict(row)
        before = by_name.get(name_key(str(row.get("name", ""))))
        if before is not None:
            for field in COMPARED_FIELDS:
                if field not in merged or merged[field] is None:
                    value = getattr(before, field)
                    merged[field] = list(value) if isinstance(value, tuple) else value
        filled.append(merged)
    return filled


def as_row(tentacle: TentacleInput) -> dict[str, Any]:
    """A Tentacle in the API's row shape."""
    row = dataclasses.asdict(tentacle)
    row["environments"] = list(tentacle.environments)
    row["roles"] = list(tentacle.roles)
    return row


def inventory_fingerprint(tentacles: Sequence[TentacleInput]) -> str:
    """A short digest of an inventory, to tell whether it changed between a preview and its
    confirmation."""
    digest = hashlib.sha256()
    for tentacle in tentacles:
        digest.update(repr(dataclasses.astuple(tentacle)).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()[:32]
