"""Creating a plan: the installation and its Tentacles, the plan, its steps and dependencies
and its edit and read-only links, saved in one transaction; with the input error, token and
settings helpers that other services share."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from upgrade_planner.domain import planner
from upgrade_planner.installations.services import installation_create
from upgrade_planner.plans.models import (
    Activity,
    LinkKind,
    Plan,
    PlanLink,
    hash_token,
    view_token_from_seed,
)
from upgrade_planner.plans.services.reconcile import plan_fields_set, steps_reconcile
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
        saved_installation, saved_tentacles = installation_create(
            name=name,
            installation=installation,
            old_server_api_key=old_server_api_key,
            new_server_api_key=new_server_api_key,
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
