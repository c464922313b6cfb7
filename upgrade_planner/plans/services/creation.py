"""Creating a plan: the installation and its Tentacles, the plan, its steps and dependencies
and its edit and read-only links, saved in one transaction; with the input error, token and
settings helpers that other services share."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from upgrade_planner.domain import inventory, planner
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans.bulk import insert_rows
from upgrade_planner.plans.models import (
    Activity,
    LinkKind,
    Plan,
    PlanLink,
    hash_token,
    view_token_from_seed,
)
from upgrade_planner.plans.services.reconcile import TentacleRef, plan_fields_set, steps_reconcile
from upgrade_planner.plans.services.text import actor_name


class PlanInputInvalid(Exception):
    """The input cannot be planned; `errors` maps field names to messages for users."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class CreatedPlan:
    plan: Plan
    edit_token: str
    view_token: str


def planner_settings() -> planner.PlannerSettings:
    return planner.PlannerSettings(handful_threshold=settings.PLANNER_HANDFUL_THRESHOLD)


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def plan_create(
    *,
    name: str,
    installation: planner.InstallationInput,
    actor: str = "",
    old_server_api_key: str = "",
    new_server_api_key: str = "",
) -> CreatedPlan:
    """Plan the upgrade for `installation` and save the installation, its Tentacles, the plan,
    its steps and dependencies and its two links, all or nothing."""
    try:
        result = planner.make_plan(installation, planner_settings())
    except planner.PlanningError as error:
        raise PlanInputInvalid({error.field: [error.message]}) from error

    edit_token, view_seed = new_token(), new_token()
    view_token = view_token_from_seed(view_seed)
    with transaction.atomic():
        saved_installation, saved_tentacles = _installation_save(
            name=name,
            installation=installation,
            keys=(old_server_api_key.strip(), new_server_api_key.strip()),
        )
        plan = Plan(installation=saved_installation, name=name)
        plan_fields_set(plan, result)
        plan.save()
        PlanLink.objects.bulk_create(
            [
                PlanLink(plan=plan, kind=LinkKind.EDIT, token_hash=hash_token(edit_token)),
                PlanLink(
                    plan=plan,
                    kind=LinkKind.VIEW,
                    token_hash=hash_token(view_token),
                    seed=view_seed,
                ),
            ]
        )
        steps_reconcile(
            plan=plan,
            planned_steps=result.steps,
            tentacles={t.name: t for t in saved_tentacles},
            new=True,
        )
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action="plan-created",
            plan_version=plan.version,
            details={"approach": plan.approach, "steps": len(result.steps)},
        )
    return CreatedPlan(plan=plan, edit_token=edit_token, view_token=view_token)


# A Tentacle row: its id, installation and position, then what the inventory says of it.
TENTACLE_COLUMNS = ["id", "installation", "position", *inventory.COLUMNS]


def tentacle_values(tentacle: planner.TentacleInput) -> list[Any]:
    """`tentacle`'s inventory.COLUMNS as they are stored (lists, not tuples)."""
    values = (getattr(tentacle, column) for column in inventory.COLUMNS)
    return [list(value) if isinstance(value, tuple) else value for value in values]


def _installation_save(
    *, name: str, installation: planner.InstallationInput, keys: tuple[str, str]
) -> tuple[Installation, list[TentacleRef]]:
    saved = Installation.objects.create(
        name=name,
        **{field: getattr(installation, field) for field in planner.INSTALLATION_FIELDS}
        | {
            "server_version": installation.server_version.strip(),
            "target_version": installation.target_version.strip(),
        },
        old_server_api_key=api_keys.encrypt(keys[0]),
        new_server_api_key=api_keys.encrypt(keys[1]),
    )
    tentacles = [TentacleRef.of(uuid.uuid4(), tentacle) for tentacle in installation.tentacles]
    insert_rows(
        Tentacle,
        TENTACLE_COLUMNS,
        (
            (ref.id, saved.pk, position, *tentacle_values(tentacle))
            for position, (ref, tentacle) in enumerate(
                zip(tentacles, installation.tentacles, strict=True)
            )
        ),
    )
    return saved, tentacles
