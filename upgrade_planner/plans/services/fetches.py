"""Reading a plan's inventory from its Octopus server: recording a fetch and handing it to the
job queue, the job's run (claimed once, retried on transient failures), and the finished
fetch's rows turned into an inventory for the re-sync."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import models, transaction
from django.db.models import TextChoices
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError

from upgrade_planner.domain import inventory, inventory_diff, planner
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.models import FetchState, InventoryFetch, Plan
from upgrade_planner.plans.services.outbox import INVENTORY_FETCH_TASK, task_by_name
from upgrade_planner.plans.services.text import actor_name


class FetchOutcome(TextChoices):
    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"  # a transient failure: the job should run again later
    SKIPPED = "skipped"  # another run has it, or it already finished


@sensitive_variables("api_key")
def inventory_fetch_start(
    *, plan: Plan, server_url: str, api_key: str, actor: str = ""
) -> InventoryFetch:
    """Record a reading of the inventory from `server_url` and start the job after commit.

    The API key goes to the job in its message and is not stored anywhere else. Fetches are
    not sent through a stored outbox for that reason: if the queue cannot take the job, the
    fetch fails at once with words saying so, and nothing is lost but the click.
    """
    with transaction.atomic():
        fetch = InventoryFetch.objects.create(
            plan=plan, server_url=server_url, actor=actor_name(actor)
        )
        transaction.on_commit(lambda: _fetch_enqueue(fetch, api_key))
    return fetch


# The job's arguments as logs and monitoring tools show them: never the API key.
_HIDDEN_KEY = "'***'"


def fetch_kwargs_shown(fetch_id: uuid.UUID | str) -> str:
    """The fetch job's arguments as Celery logs them, with the API key hidden."""
    return f"{{'fetch_id': '{fetch_id}', 'api_key': {_HIDDEN_KEY}}}"


@sensitive_variables("api_key")
def _fetch_enqueue(fetch: InventoryFetch, api_key: str) -> None:
    try:
        task_by_name(INVENTORY_FETCH_TASK).apply_async(  # type: ignore[call-arg]
            # celery-types lacks kwargsrepr
            kwargs={"fetch_id": str(fetch.id), "api_key": api_key},
            kwargsrepr=fetch_kwargs_shown(fetch.id),
        )
    except OperationalError:
        inventory_fetch_fail(
            fetch_id=fetch.id,
            message="The job queue is not available right now, so the server could not be "
            "read. Try again in a minute, or paste the inventory as CSV instead.",
            from_states=[FetchState.PENDING],
        )


@sensitive_variables("api_key")
def inventory_fetch_run(*, fetch_id: uuid.UUID, api_key: str, last_attempt: bool) -> str:
    """Read the server for a pending fetch and store the rows or the error. Idempotent: a run
    claims the fetch with a conditional update, so a second delivery of the same job does
    nothing (unless the first was abandoned by a worker that died). Returns a FetchOutcome."""
    from upgrade_planner.installations import octopus

    now = timezone.now()
    abandoned = now - datetime.timedelta(seconds=settings.OCTOPUS_FETCH_ABANDONED_AFTER)
    claimed = (
        InventoryFetch.objects.filter(pk=fetch_id)
        .filter(
            models.Q(state=FetchState.PENDING)
            | models.Q(state=FetchState.RUNNING, started_at__lt=abandoned)
        )
        .update(
            state=FetchState.RUNNING,
            started_at=now,
            attempts=models.F("attempts") + 1,
            progress="Connecting",
        )
    )
    if not claimed:
        return FetchOutcome.SKIPPED
    fetch = InventoryFetch.objects.only("server_url").get(pk=fetch_id)
    running = InventoryFetch.objects.filter(pk=fetch_id, state=FetchState.RUNNING)

    def progress(text: str) -> None:
        running.update(progress=text[:200])

    try:
        result = octopus.read_inventory(
            fetch.server_url,
            api_key,
            timeout=settings.OCTOPUS_FETCH_TIMEOUT,
            progress=progress,
        )
    except octopus.OctopusFetchError as error:
        if error.transient and not last_attempt:
            running.update(
                state=FetchState.PENDING,
                error=error.message,
                progress="That attempt failed; trying again shortly.",
            )
            return FetchOutcome.RETRY
        running.update(
            state=FetchState.FAILED, error=error.message, progress="", finished_at=timezone.now()
        )
        return FetchOutcome.FAILED
    running.update(
        state=FetchState.DONE,
        server_version=result.server_version,
        rows=result.rows,
        unrecognised=result.unrecognised,
        error="",
        progress=f"Read {result.machines:,} machines",
        finished_at=timezone.now(),
    )
    return FetchOutcome.DONE


def inventory_fetch_fail(
    *, fetch_id: uuid.UUID, message: str, from_states: Sequence[str] | None = None
) -> bool:
    """Mark a fetch that has not finished as failed with `message`."""
    states = from_states or [FetchState.PENDING, FetchState.RUNNING]
    return bool(
        InventoryFetch.objects.filter(pk=fetch_id, state__in=states).update(
            state=FetchState.FAILED, error=message, progress="", finished_at=timezone.now()
        )
    )


def fetched_tentacles(*, fetch: InventoryFetch) -> list[planner.TentacleInput]:
    """A finished fetch's inventory: its rows, with each field the server does not report
    (service accounts, permissions, OS) kept from the plan's current inventory, validated like
    any inventory. Raises inventory.InventoryInvalid."""
    current = [t.as_input() for t in Tentacle.objects.of_installation(fetch.plan.installation_id)]
    return inventory.parse_rows(inventory_diff.fill_unreported(fetch.rows, current))
