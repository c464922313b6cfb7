"""The "If we stop now" card: where an upgrade stands, how to get back, what not to do next.

Pure: frozen dataclasses in and out, no ORM, settings or I/O beyond reading
`content/rollback.toml` once. Python decides the stage from the step kinds that are done (and
which notes apply); the wording, with its sources, lives in the content file.

Rules (facts §b.0.1, §c, §d.2, §f, §j):
- A step that is in progress counts as started: someone may already have run the installer or
  deployed Hydra, and Hydra's scheduled task cannot be called back.
- 2.6 migration, per approach: new-server keeps 2.6 in charge until Tentacles move; in-place
  upgrades Tentacles first, then installs over 2.6 (lossless: the 2.6 installer goes back);
  manual installs over 2.6 first, then upgrades each Tentacle by hand.
- Modern hops: a patch rolls back by reinstalling; a minor needs the database restored first;
  a major also needs the server folders restored.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from upgrade_planner.domain.planner import APPROACHES, PlanningError, Version, parse_version

__all__ = ["StopNowCard", "change_kind", "stages", "stop_now"]

ChangeKind = Literal["patch", "minor", "major"]

MIGRATION_HOP = "2.6-migration"
MODERN_HOPS = frozenset({"modern", "detour"})
OLDER_HOPS = frozenset({"pre-1.6", "1.6-to-2.6", "2.x-to-2.6"})


@dataclass(frozen=True)
class StopNowCard:
    stage: str  # a key of content/rollback.toml [stages], e.g. "in-place/tentacles-partly"
    situation: str  # what state the installation is in, in words
    rollback: tuple[str, ...]  # how to get back to a working state from here, in order
    must_not: tuple[str, ...]  # what not to do next
    sources: tuple[str, ...]  # doc pages the card is based on, without repeats


@functools.cache
def _content() -> dict[str, Any]:
    text = resources.files("upgrade_planner.domain.content").joinpath("rollback.toml")
    return tomllib.loads(text.read_text("utf-8"))


def stages() -> tuple[str, ...]:
    """Every stage a card can be in (the keys of content/rollback.toml [stages])."""
    return tuple(_content()["stages"])


def change_kind(from_version: str, to_version: str) -> ChangeKind:
    """patch, minor or major, by the first version part that changes (facts §a.3)."""
    start, end = _version(from_version, "from_version"), _version(to_version, "to_version")
    if start.major != end.major:
        return "major"
    return "minor" if start.minor != end.minor else "patch"


def _version(text: str, field: str) -> Version:
    try:
        return parse_version(text, field)
    except PlanningError as error:
        raise ValueError(f"{field}: {error.message}") from error


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def stop_now(
    *,
    approach: str | None,
    hop_kind: str,
    done_kinds: frozenset[str],
    partially_done_kinds: frozenset[str],
    tentacles_total: int,
    tentacles_upgraded: int,
    from_version: str = "",
    to_version: str = "",
) -> StopNowCard:
    """The card for the hop in progress.

    `done_kinds`: step kinds of this hop whose steps are all done; `partially_done_kinds`:
    kinds with a step in progress or done but not all done (the two may overlap).
    `tentacles_total` counts the Tentacles the hop still upgrades (leave excluded ones out);
    `tentacles_upgraded` those whose upgrade step is done. `approach` is required for the
    2.6 migration and ignored otherwise. `from_version`/`to_version` are the hop's ends; a
    modern hop needs them to tell a patch from a minor or major rollback, other hops only use
    them in the wording. Raises ValueError for input that cannot describe a plan.
    """
    if tentacles_total < 0 or not 0 <= tentacles_upgraded <= tentacles_total:
        raise ValueError(
            f"tentacles_upgraded ({tentacles_upgraded}) must be between 0 and "
            f"tentacles_total ({tentacles_total})."
        )
    touched = done_kinds | partially_done_kinds
    if hop_kind == MIGRATION_HOP:
        if approach not in APPROACHES:
            raise ValueError(
                f"The 2.6 migration needs an approach (one of {', '.join(APPROACHES)}), "
                f"not {approach!r}."
            )
        stage, notes = _migration_stage(approach, touched, tentacles_total, tentacles_upgraded)
    elif hop_kind in MODERN_HOPS:
        stage, notes = _modern_stage(change_kind(from_version, to_version), done_kinds, touched)
    elif hop_kind in OLDER_HOPS:
        stage, notes = _older_stage(hop_kind, touched, tentacles_upgraded), []
    else:
        raise ValueError(f"Unknown hop kind {hop_kind!r}.")

    remaining = tentacles_total - tentacles_upgraded
    values = {
        "from_version": from_version.strip() or "the previous version",
        "to_version": to_version.strip() or "the new version",
        "upgraded_count": tentacles_upgraded,
        "total_count": tentacles_total,
        "remaining_count": remaining,
        "remaining": _counted(remaining, "Tentacle"),
    }
    return _card(stage, notes, values)


def _migration_stage(
    approach: str, touched: frozenset[str], total: int, upgraded: int
) -> tuple[str, list[str]]:
    # Any started Tentacle step may already have scheduled Hydra's task on its machine.
    some_upgraded = upgraded > 0 or "upgrade-tentacle" in touched
    all_upgraded = total > 0 and upgraded >= total
    over_two_six = "install-server-in-place" in touched
    notes: list[str] = []

    if approach == "new-server":
        if "decommission-old-server" in touched:
            stage = "new-server/old-server-retired"
        elif all_upgraded:
            stage = "new-server/tentacles-all"
        elif some_upgraded:
            stage = "new-server/tentacles-partly"
        elif "migrate-data" in touched:
            stage = "new-server/data-migrated"
        elif "install-server-new-machine" in touched:
            stage = "new-server/server-installed"
        else:
            stage = "migration/nothing-changed"
    elif over_two_six and "cleanup-home-folder" in touched:
        stage = "over-2.6/files-cleaned"
    elif approach == "in-place":
        if over_two_six:
            stage = "in-place/server-installed"
            if upgraded < total:
                notes.append("stranded-tentacles")
        elif all_upgraded:
            stage = "in-place/tentacles-all"
        elif some_upgraded:
            stage = "in-place/tentacles-partly"
        else:
            stage = "migration/nothing-changed"
    elif over_two_six:  # manual
        if all_upgraded:
            stage = "manual/tentacles-all"
        elif some_upgraded:
            stage = "manual/tentacles-partly"
        else:
            stage = "manual/server-installed"
    elif some_upgraded:
        stage = "manual/tentacles-before-server"
    else:
        stage = "migration/nothing-changed"

    if "migrate-data" in touched and stage != "migration/nothing-changed":
        notes.append("migration-one-way")
    if "prune-history" in touched:
        notes.append("history-pruned")
    return stage, notes


def _modern_stage(
    change: ChangeKind, done: frozenset[str], touched: frozenset[str]
) -> tuple[str, list[str]]:
    maintenance_on = "maintenance-mode-on" in touched and "maintenance-mode-off" not in done
    if "upgrade-server-modern" not in touched:
        return ("modern/maintenance-on" if maintenance_on else "modern/nothing-changed"), []
    notes = ["installer-stopped"]
    if change != "patch" and "backup-database" not in done:
        notes.append("no-database-backup")
    if change == "major" and "backup-server-folders" not in done:
        notes.append("no-folder-backup")
    if maintenance_on:
        notes.append("maintenance-still-on")
    if "upgrade-tentacles-modern" in touched:
        notes.append("tentacles-upgraded-modern")
    return f"modern/server-upgraded-{change}", notes


def _older_stage(hop_kind: str, touched: frozenset[str], upgraded: int) -> str:
    if hop_kind == "pre-1.6":
        return "pre-1.6/server-installed" if "install-server-1.6" in touched else _nothing()
    if hop_kind == "1.6-to-2.6":
        if "retire-1.6-server" in touched:
            return "1.6-to-2.6/old-server-retired"
        if upgraded or "upgrade-tentacles-1.6" in touched:
            return "1.6-to-2.6/tentacles-started"
        if touched & {"install-server-2.x", "import-1.6-data"}:
            return "1.6-to-2.6/server-installed"
        return _nothing()
    if upgraded or "upgrade-tentacles-2.6" in touched:
        return "2.x-to-2.6/tentacles-started"
    return "2.x-to-2.6/server-installed" if "upgrade-server-2.6" in touched else _nothing()


def _nothing() -> str:
    return "older/nothing-changed"


def _card(stage: str, notes: Iterable[str], values: dict[str, object]) -> StopNowCard:
    content = _content()
    text = content["stages"][stage]
    rollback = [line.format_map(values) for line in text["rollback"]]
    must_not = [line.format_map(values) for line in text["must_not"]]
    sources = list(text["sources"])
    for name in notes:
        note = content["notes"][name]
        if "rollback" in note:
            rollback.append(note["rollback"].format_map(values))
        if "must_not" in note:
            must_not.append(note["must_not"].format_map(values))
        sources.append(note["source"])
    return StopNowCard(
        stage=stage,
        situation=text["situation"].format_map(values),
        rollback=tuple(rollback),
        must_not=tuple(must_not),
        sources=tuple(dict.fromkeys(sources)),
    )
