"""Creating a plan: the installation and its Tentacles, the plan, its steps and dependencies
and its edit and read-only links, saved in one transaction; with the input error, token and
settings helpers that other services share; and the limit on how many plans one client may
create."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from upgrade_planner.domain import planner
from upgrade_planner.installations.services import SavedInstallation, installation_create
from upgrade_planner.plans.documents import TENTACLE_FIELDS, PlanRows
from upgrade_planner.plans.models import (
    Activity,
    LinkKind,
    Plan,
    PlanLink,
    hash_token,
    view_token_from_seed,
)
from upgrade_planner.plans.services.readiness import readiness_evaluate
from upgrade_planner.plans.services.reconcile import NewSteps, plan_fields_set, steps_create
from upgrade_planner.plans.services.text import actor_name


class PlanInputInvalid(Exception):
    """The input cannot be planned; `errors` maps field names to messages for users."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class TooManyPlans(Exception):
    """This client has created as many plans as PLAN_CREATE_RATE allows for now."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many plans created; try again in {retry_after} s.")
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        """What the person (or program) is told, with when to try again."""
        count, _, unit = settings.PLAN_CREATE_RATE.partition("/")
        minutes = -(-self.retry_after // 60)
        return (
            f"An address may create {count} plan{'' if count == '1' else 's'} per "
            f"{_UNIT_WORDS[unit]}, and this one has. "
            f"Nothing was saved; try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _creation_window(client: str) -> tuple[int, str, int] | None:
    """The allowed count, the cache key of `client`'s current window and the seconds left in
    it; None when plan creation is not limited. Fixed windows: cheap, one counter each."""
    rate = settings.PLAN_CREATE_RATE
    if not client or rate in {"", "0"}:
        return None
    count, _, unit = rate.partition("/")
    period = _PERIODS[unit]
    now = time.time()
    window = int(now // period)
    # The address is hashed: cache keys carry no personal data and no odd characters.
    digest = hashlib.sha256(client.encode()).hexdigest()[:32]
    return (
        int(count),
        f"plan-creations:{period}:{window}:{digest}",
        int((window + 1) * period - now) + 1,
    )


def plan_creation_wait(client: str) -> int | None:
    """Seconds `client` (an address) must wait before creating another plan, or None if it
    may now. A cache outage lets everyone through: it must not stop people planning."""
    window = _creation_window(client)
    if window is None:
        return None
    allowed, key, seconds_left = window
    try:
        created = int(cache.get(key) or 0)
    except Exception:
        return None
    return seconds_left if created >= allowed else None


def _plan_creation_count(client: str) -> None:
    window = _creation_window(client)
    if window is None:
        return
    _, key, seconds_left = window
    try:
        if not cache.add(key, 1, timeout=seconds_left):
            cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=seconds_left)
    except Exception:
        return


@dataclass(frozen=True)
class CreatedPlan:
    plan: Plan
    edit_token: str
    view_token: str
    # The Tentacle and step rows as written, for the plan document of the answer: reading
    # back what was just written cost a tenth of the creation of a large plan.
    rows: PlanRows | None = None


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
    client: str = "",
) -> CreatedPlan:
    """Plan the upgrade for `installation` and save the installation, its Tentacles, the plan,
    its steps and dependencies and its two links, all or nothing.

    `client` (the requester's address) is held to PLAN_CREATE_RATE: TooManyPlans when it has
    created its share; a plan that is saved counts, input refused does not."""
    wait = plan_creation_wait(client)
    if wait is not None:
        raise TooManyPlans(wait)
    with collector_paused():
        return _plan_create(
            name=name,
            installation=installation,
            actor=actor,
            old_server_api_key=old_server_api_key,
            new_server_api_key=new_server_api_key,
            client=client,
        )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a plan is made and written.

    Planning 20,000 Tentacles allocates millions of objects that stay alive until the answer
    is sent, so the collector ran full passes over all of them again and again: ~0.8 s of a
    creation, for nothing, since those objects hold no cycles (reference counting frees them).
    It is turned back on (if it was on) on the way out, error or not."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan_create(
    *,
    name: str,
    installation: planner.InstallationInput,
    actor: str,
    old_server_api_key: str,
    new_server_api_key: str,
    client: str,
) -> CreatedPlan:
    try:
        result = planner.make_plan(installation, planner_settings())
    except planner.PlanningError as error:
        raise PlanInputInvalid({error.field: [error.message]}) from error

    edit_token, view_seed = new_token(), new_token()
    view_token = view_token_from_seed(view_seed)
    with transaction.atomic():
        saved = installation_create(
            name=name,
            installation=installation,
            old_server_api_key=old_server_api_key,
            new_server_api_key=new_server_api_key,
        )
        plan = Plan(installation=saved.installation, name=name)
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
        steps = steps_create(
            plan=plan,
            planned_steps=result.steps,
            tentacles={t.name: t for t in saved.tentacles},
        )
        readiness_evaluate(plan=plan)
        Activity.objects.create(
            plan=plan,
            actor=actor_name(actor),
            action="plan-created",
            plan_version=plan.version,
            details={"approach": plan.approach, "steps": len(result.steps)},
        )
    _plan_creation_count(client)
    return CreatedPlan(
        plan=plan,
        edit_token=edit_token,
        view_token=view_token,
        rows=_written_rows(saved, steps),
    )


def _written_rows(saved: SavedInstallation, steps: NewSteps) -> PlanRows:
    """The rows `plan_document` would read back of the plan just written."""
    prerequisites: dict[Any, list[str]] = {}
    for step_id, prerequisite_id in steps.dependencies:
        prerequisites.setdefault(step_id, []).append(prerequisite_id)
    return PlanRows(
        tentacles=[dict(zip(TENTACLE_FIELDS, row, strict=True)) for row in saved.values],
        steps=steps.rows,
        prerequisites=prerequisites,
    )
