"""Plan-level writes outside the steps: rotating a plan's edit or read-only link, and recording
a plan-level event in the activity log. Both move the plan's version."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from upgrade_planner.plans.models import (
    Activity,
    LinkKind,
    Plan,
    PlanLink,
    hash_token,
    view_token_from_seed,
)
from upgrade_planner.plans.services.creation import PlanInputInvalid, new_token
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.text import actor_name


def link_rotate(*, plan: Plan, kind: str, actor: str = "") -> str:
    """Replace the plan's edit or read-only link; the old one stops working at once.
    Returns the new token (shown once to the editor who rotated it)."""
    if kind not in LinkKind.values:
        raise PlanInputInvalid({"kind": [f"Unknown link kind {kind!r}."]})
    token = new_token()
    seed = ""
    if kind == LinkKind.VIEW:
        seed = new_token()
        token = view_token_from_seed(seed)
    with transaction.atomic():
        plan_lock(plan=plan)
        # plan_lock moved the version: polls through the old link read the database again
        # once this commits, and are told the link was replaced.
        PlanLink.objects.filter(plan=plan, kind=kind, replaced_at__isnull=True).update(
            replaced_at=timezone.now()
        )
        PlanLink.objects.create(plan=plan, kind=kind, token_hash=hash_token(token), seed=seed)
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action="link-rotated",
            details={"kind": kind},
            plan_version=plan.version,
            finished_steps=plan.finished_steps,
        )
    return token


def activity_log(*, plan: Plan, actor: str, action: str, details: dict[str, object]) -> None:
    """Record a plan-level event (inside the caller's transaction) and bump the version."""
    plan_lock(plan=plan)
    Activity.objects.create(
        plan=plan,
        actor=actor_name(actor),
        action=action,
        details=details,
        plan_version=plan.version,
        finished_steps=plan.finished_steps,
    )
