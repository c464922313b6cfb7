"""Migration sizing for the 2.6 migration: flags, command, memory and time (facts §d)."""

from __future__ import annotations

from upgrade_planner.domain.planning.content import catalogue, fill, wording
from upgrade_planner.domain.planning.types import MigrationSizing


def _backup_text(backup_mb: int) -> str:
    return f"{backup_mb / 1024:.1f} GB" if backup_mb >= 1024 else f"{backup_mb} MB"


def size_text(backup_mb: int | None, documents: int | None) -> str:
    parts = []
    if backup_mb is not None:
        parts.append(f"a {_backup_text(backup_mb)} backup")
    if documents is not None:
        parts.append(f"{documents:,} documents")
    return " and ".join(parts) or "size unknown"


def _hours_text(hours: float) -> str:
    if hours < 1:
        return f"{round(hours * 60)} minutes"
    if hours < 48:
        return f"{hours:g} hours"
    return f"{hours / 24:.1f} days"


def duration_text(sizing: MigrationSizing) -> str:
    low, high = _hours_text(sizing.duration_low_hours), _hours_text(sizing.duration_high_hours)
    low_number, low_unit = low.split(" ")
    if high.endswith(f" {low_unit}"):
        return f"{low_number} to {high}"
    return f"{low} to {high}"


def size_migration(
    backup_size_mb: int | None, document_count: int | None, history_days_to_keep: int | None
) -> MigrationSizing:
    """Migrator flags, command, memory and a duration range for a 2.6 migration.

    The duration is a stated heuristic, not a measurement: from the backup size, 0.5 h + 1 h
    per GB at best and 2 h + 12 h per GB at worst; from the RavenDB document count,
    0.5 h + 1 h per 200k documents at best and 2 h + 1 h per 15k at worst; the larger of the
    two wins. It reproduces the docs' "hours or even days" for large data.
    """
    limits = catalogue().thresholds
    text = wording()["sizing"]
    large_mb, very_large_mb = limits["large_backup_mb"], limits["very_large_backup_mb"]
    document_target = limits["document_target"]
    size = size_text(backup_size_mb, document_count)
    big_backup = backup_size_mb is not None and backup_size_mb > large_mb
    many_documents = document_count is not None and document_count > document_target
    large = big_backup or many_documents
    prune_first = many_documents or (backup_size_mb is not None and backup_size_mb > very_large_mb)

    flags: list[str] = []
    if history_days_to_keep is not None:
        flags.append(f"--maxage={history_days_to_keep}")
    if large:
        flags.append("--nologs")
    base = (
        'Octopus.Migrator.exe migrate --instance "OctopusServer" '
        '--file "<path to .octobak>" --master-key "<master key>"'
    )
    commands = [" ".join([base, *flags])]
    if large:
        flags.append("--onlylogs")
        commands.append(f"{base} --onlylogs")

    values = {
        "size_text": size,
        "backup_text": _backup_text(backup_size_mb) if backup_size_mb is not None else "",
        "large_mb": large_mb,
        "other_mb": limits["large_backup_mb_other_page"],
        "days": history_days_to_keep or limits["maxage_example_days"],
        "documents": f"{document_count:,}" if document_count is not None else "",
        "document_target": f"{document_target:,}",
    }
    if backup_size_mb is None:
        ram = text["ram_unknown"]
    elif backup_size_mb > very_large_mb:
        ram = text["ram_very_large"]
    elif backup_size_mb > large_mb:
        ram = text["ram_large"]
    else:
        ram = text["ram_small"]

    estimates = []
    if backup_size_mb is not None:
        gigabytes = backup_size_mb / 1024
        estimates.append((0.5 + gigabytes, 2 + 12 * gigabytes))
    if document_count is not None:
        estimates.append((0.5 + document_count / 200_000, 2 + document_count / 15_000))
    low, high = (
        (max(e[0] for e in estimates), max(e[1] for e in estimates)) if estimates else (0.5, 48.0)
    )

    notes = [text["note_estimate"]]
    if not estimates:
        notes.append(text["note_unknown"])
    if many_documents:
        notes.append(text["note_documents"])
    if prune_first:
        notes.append(text["note_prune"])
    if large:
        notes.append(text["note_two_pass"])
    notes.append(text["note_maxage" if history_days_to_keep is not None else "note_maxage_suggest"])
    return MigrationSizing(
        migrator_flags=tuple(flags),
        command="\n".join(commands),
        ram_advice=fill(ram, values),
        prune_first=prune_first,
        duration_low_hours=round(low, 1),
        duration_high_hours=round(high, 1),
        notes=tuple(fill(note, values) for note in notes),
    )


def is_large(sizing: MigrationSizing) -> bool:
    return "--nologs" in sizing.migrator_flags


def ram_short(backup_size_mb: int | None) -> str:
    limits, text = catalogue().thresholds, wording()["sizing"]
    if backup_size_mb is not None and backup_size_mb > limits["very_large_backup_mb"]:
        return str(text["ram_short_very_large"])
    return str(text["ram_short_large"])
