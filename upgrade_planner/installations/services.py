"""Every write of what the customer has: the installation and its Tentacle rows.

The plans app calls these inside its own transactions (creating a plan, replacing its
inventory); each also stands alone as one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from upgrade_planner.bulk import insert_rows, ordered_ids, update_rows
from upgrade_planner.domain import inventory, inventory_diff, planner
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation, Tentacle

# A Tentacle row: its id, installation and position, then what the inventory says of it.
TENTACLE_COLUMNS = ["id", "installation", "position", *inventory.COLUMNS]


@dataclass(frozen=True)
class TentacleRef:
    """What step rows need to know of a saved Tentacle (`id` as text for a new one)."""

    id: uuid.UUID | str
    name: str
    environments: list[str]
    roles: list[str]
    communication_style: str

    @classmethod
    def of(cls, row_id: uuid.UUID | str, tentacle: planner.TentacleInput) -> TentacleRef:
        return cls(
            id=row_id,
            name=tentacle.name,
            environments=list(tentacle.environments),
            roles=list(tentacle.roles),
            communication_style=tentacle.communication_style,
        )


def tentacle_values(tentacle: planner.TentacleInput) -> list[Any]:
    """`tentacle`'s inventory.COLUMNS as they are stored (lists, not tuples)."""
    values = (getattr(tentacle, column) for column in inventory.COLUMNS)
    return [list(value) if isinstance(value, tuple) else value for value in values]


@dataclass(frozen=True)
class SavedInstallation:
    installation: Installation
    tentacles: list[TentacleRef]
    # Each Tentacle's inventory.COLUMNS as written, in order.
    values: list[list[Any]]


def installation_create(
    *,
    name: str,
    installation: planner.InstallationInput,
    old_server_api_key: str = "",
    new_server_api_key: str = "",
) -> SavedInstallation:
    """Save an installation as described (API keys encrypted) and its Tentacles in order."""
    with transaction.atomic():
        saved = Installation.objects.create(
            name=name,
            **{field: getattr(installation, field) for field in planner.INSTALLATION_FIELDS}
            | {
                "server_version": installation.server_version.strip(),
                "target_version": installation.target_version.strip(),
            },
            old_server_api_key=api_keys.encrypt(old_server_api_key.strip()),
            new_server_api_key=api_keys.encrypt(new_server_api_key.strip()),
        )
        # Keys in order (see ordered_ids): the steps' references to these rows, and the
        # checks of those references at commit, then touch the same few index pages.
        ids = ordered_ids(len(installation.tentacles))
        refs = [
            TentacleRef.of(row_id, tentacle)
            for row_id, tentacle in zip(ids, installation.tentacles, strict=True)
        ]
        values = [tentacle_values(tentacle) for tentacle in installation.tentacles]
        installation_id = str(saved.pk)  # as text: converted once, not once per row
        insert_rows(
            Tentacle,
            TENTACLE_COLUMNS,
            [
                [ref.id, installation_id, position, *row]
                for position, (ref, row) in enumerate(zip(refs, values, strict=True))
            ],
        )
    return SavedInstallation(saved, refs, values)


def tentacles_replace(
    *,
    installation_id: uuid.UUID,
    saved: Sequence[Tentacle],
    new: Sequence[planner.TentacleInput],
    diff: inventory_diff.InventoryDiff,
) -> dict[str, TentacleRef]:
    """Make the installation's Tentacle rows match `new` (`saved` are its rows now, `diff`
    the change between them); returns name → ref for the steps."""
    by_key = {inventory_diff.name_key(t.name): t for t in saved}
    changed = {inventory_diff.name_key(c.name) for c in diff.changed}
    to_update: list[list[Any]] = []
    to_move: list[tuple[int, uuid.UUID]] = []  # only the position changes
    to_insert: list[tuple[int, planner.TentacleInput, uuid.UUID]] = []
    refs: dict[str, TentacleRef] = {}
    for position, tentacle in enumerate(new):
        key = inventory_diff.name_key(tentacle.name)
        row = by_key.get(key)
        if row is None:
            row_id = uuid.uuid4()
            to_insert.append((position, tentacle, row_id))
        else:
            row_id = row.pk
            if key in changed:
                to_update.append([*tentacle_values(tentacle), position, row_id])
            elif row.position != position:
                to_move.append((position, row_id))
        refs[tentacle.name] = TentacleRef.of(row_id, tentacle)
    with transaction.atomic():
        removed = [by_key[inventory_diff.name_key(t.name)].pk for t in diff.removed]
        if removed:
            # Their retired steps keep the name and labels; the link to the row goes (SET_NULL).
            Tentacle.objects.filter(pk__in=removed).delete()
        update_rows(Tentacle, [*inventory.COLUMNS, "position"], to_update)
        update_rows(Tentacle, ["position"], to_move)
        insert_rows(
            Tentacle,
            TENTACLE_COLUMNS,
            (
                (row_id, installation_id, position, *tentacle_values(tentacle))
                for position, tentacle, row_id in to_insert
            ),
        )
    return refs
