"""Reading a plan's inventory from its Octopus server: recording a fetch and handing it to the
job queue through the outbox, the job's run (claimed once, retried on transient failures), and
the finished fetch's rows turned into an inventory for the re-sync.

A fetch's row is its outbox entry, written in the user's transaction with the API key encrypted
on it. After commit its id (never the key) goes to the broker; while the broker is down the
fetch stays pending and the periodic relay sends it later. The worker reads and decrypts the
key, and the key is blanked as soon as the fetch is done or failed.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable, Sequence

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import models, transaction
from django.db.models import TextChoices
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from upgrade_planner.domain import inventory, inventory_diff, planner
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.models import FetchState, InventoryFetch, Plan
from upgrade_planner.plans.services.outbox import (
    INVENTORY_FETCH_TASK,
    LOST_AFTER,
    task_by_name,
    unexpected_error_log,
)
from upgrade_planner.plans.services.text import actor_name

logger = logging.getLogger(__name__)


class FetchOutcome(TextChoices):
    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"  # a transient failure: the job should run again later
    SKIPPED = "skipped"  # another run has it, or it already finished


# What the user reads when reading the server failed in a way the planner did not foresee: the
# error's own text stays in the log, as it may quote the server's answer or the key.
UNEXPECTED_FAILURE = (
    "Reading the server failed on something the planner could not handle (the details are in "
    "the planner's log). Check that the server URL is the address of the Octopus web portal "
    "and try again, or paste the inventory as CSV instead."
)
KEY_UNREADABLE = (
    "The API key for this reading could not be read back (the planner's encryption key may "
    "have changed since it was entered). Enter the key again, or paste the inventory as CSV "
    "instead."
)


def _finished(state: str, **fields: object) -> dict[str, object]:
    """The fields of a fetch that ends in `state`: its API key is forgotten."""
    return {
        "state": state,
        "progress": "",
        "finished_at": timezone.now(),
        "encrypted_api_key": "",
        **fields,
    }


def fetch_max_attempts() -> int:
    return settings.OCTOPUS_FETCH_RETRIES + 1


@sensitive_variables("api_key")
def inventory_fetch_start(
    *, plan: Plan, server_url: str, api_key: str, actor: str = ""
) -> InventoryFetch:
    """Record a reading of the inventory from `server_url`, with the API key encrypted, and
    send it to the job queue once this transaction commits. Never waits on the broker: while
    it is down the fetch stays pending and the periodic relay sends it later."""
    with transaction.atomic():
        fetch = InventoryFetch.objects.create(
            plan=plan,
            server_url=server_url,
            actor=actor_name(actor),
            encrypted_api_key=api_keys.encrypt(api_key),
        )
        fetch_id = fetch.id
        transaction.on_commit(lambda: fetches_publish(fetch_ids=[fetch_id]))
    return fetch


def fetches_publish(*, fetch_ids: Iterable[uuid.UUID] | None = None, limit: int = 200) -> int:
    """Hand the fetches waiting for the broker to it; returns how many were sent. Stops at the
    first broker error and leaves the rest pending for the next run of the relay. A message
    carries the fetch's id only."""
    fetches_requeue_lost()
    waiting = InventoryFetch.objects.filter(
        state=FetchState.PENDING, published_at__isnull=True
    ).order_by("created_at")
    if fetch_ids is not None:
        waiting = waiting.filter(pk__in=list(fetch_ids))
    inventory_fetch = task_by_name(INVENTORY_FETCH_TASK)
    sent = 0
    for fetch_id in list(waiting.values_list("pk", flat=True)[:limit]):
        claimed = InventoryFetch.objects.filter(
            pk=fetch_id, state=FetchState.PENDING, published_at__isnull=True
        ).update(published_at=timezone.now())
        if not claimed:
            continue  # another relay sent it
        try:
            inventory_fetch.apply_async(kwargs={"fetch_id": str(fetch_id)}, retry=False)
        except Exception as error:  # the broker's many failure types; none may reach the user
            InventoryFetch.objects.filter(pk=fetch_id, state=FetchState.PENDING).update(
                published_at=None
            )
            logger.warning(
                "broker unavailable, inventory fetch %s stays pending: %s", fetch_id, error
            )
            break
        sent += 1
    return sent


def fetches_requeue_lost() -> None:
    """Send again the fetches whose message was lost with the broker, and those a killed
    worker left running; a fetch that has had all its attempts fails instead."""
    now = timezone.now()
    InventoryFetch.objects.filter(
        state=FetchState.PENDING, published_at__lt=now - LOST_AFTER
    ).update(published_at=None)
    abandoned = InventoryFetch.objects.filter(
        state=FetchState.RUNNING, started_at__lt=now - _abandoned_after()
    )
    abandoned.filter(attempts__lt=fetch_max_attempts()).update(
        state=FetchState.PENDING,
        published_at=None,
        progress="That attempt was interrupted; trying again shortly.",
    )
    abandoned.update(**_finished(FetchState.FAILED, error=_gave_up_message()))


def _abandoned_after() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.OCTOPUS_FETCH_ABANDONED_AFTER)


def _gave_up_message() -> str:
    return (
        f"Reading the server was stopped {fetch_max_attempts()} times before it could finish, "
        "so it was given up. Try again when the server is less busy, or paste the inventory "
        "as CSV instead."
    )


@sensitive_variables("api_key")
def inventory_fetch_key_keep(*, fetch_id: uuid.UUID, api_key: str) -> None:
    """Keep, encrypted, the key a message sent before keys were stored carries, for a fetch
    that has none stored: its later attempts then read it from the row like any other."""
    InventoryFetch.objects.filter(
        pk=fetch_id, encrypted_api_key="", state__in=[FetchState.PENDING, FetchState.RUNNING]
    ).update(encrypted_api_key=api_keys.encrypt(api_key))


def inventory_fetch_run(*, fetch_id: uuid.UUID, last_attempt: bool) -> str:
    """Read the server for a pending fetch and store the rows or the error. Idempotent: a run
    claims the fetch with a conditional update, so a second delivery of the same job does
    nothing (unless the first was abandoned by a worker that died). Returns a FetchOutcome."""
    from upgrade_planner.installations import octopus

    now = timezone.now()
    takeable = models.Q(state=FetchState.PENDING) | models.Q(
        state=FetchState.RUNNING, started_at__lt=now - _abandoned_after()
    )
    claimed = InventoryFetch.objects.filter(
        takeable, pk=fetch_id, attempts__lt=fetch_max_attempts()
    ).update(
        state=FetchState.RUNNING,
        started_at=now,
        attempts=models.F("attempts") + 1,
        progress="Connecting",
    )
    if not claimed:
        spent = InventoryFetch.objects.filter(takeable, pk=fetch_id)
        if spent.update(**_finished(FetchState.FAILED, error=_gave_up_message())):
            logger.warning("Inventory fetch %s given up: out of attempts", fetch_id)
            return FetchOutcome.FAILED
        return FetchOutcome.SKIPPED
    fetch = InventoryFetch.objects.only("server_url", "encrypted_api_key").get(pk=fetch_id)
    running = InventoryFetch.objects.filter(pk=fetch_id, state=FetchState.RUNNING)
    try:
        api_key = api_keys.decrypt(fetch.encrypted_api_key)
    except api_keys.UnreadableKey:
        api_key = ""
    if not api_key:
        running.update(**_finished(FetchState.FAILED, error=KEY_UNREADABLE))
        return FetchOutcome.FAILED

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
                # The retry's message is sent now: not lost until LOST_AFTER from here.
                published_at=timezone.now(),
            )
            return FetchOutcome.RETRY
        running.update(**_finished(FetchState.FAILED, error=error.message))
        return FetchOutcome.FAILED
    except SoftTimeLimitExceeded:
        raise  # the task says how long it took
    except Exception as error:  # anything unforeseen must still end the fetch
        unexpected_error_log(logger, f"Inventory fetch {fetch_id}", error)
        running.update(**_finished(FetchState.FAILED, error=UNEXPECTED_FAILURE))
        return FetchOutcome.FAILED
    running.update(
        **_finished(
            FetchState.DONE,
            server_version=result.server_version,
            rows=result.rows,
            unrecognised=result.unrecognised,
            error="",
            progress=f"Read {result.machines:,} machines",
        )
    )
    return FetchOutcome.DONE


def inventory_fetch_fail(
    *, fetch_id: uuid.UUID, message: str, from_states: Sequence[str] | None = None
) -> bool:
    """Mark a fetch that has not finished as failed with `message`."""
    states = from_states or [FetchState.PENDING, FetchState.RUNNING]
    return bool(
        InventoryFetch.objects.filter(pk=fetch_id, state__in=states).update(
            **_finished(FetchState.FAILED, error=message)
        )
    )


def fetched_tentacles(*, fetch: InventoryFetch) -> list[planner.TentacleInput]:
    """A finished fetch's inventory: its rows, with each field the server does not report
    (service accounts, permissions, OS) kept from the plan's current inventory, validated like
    any inventory. Raises inventory.InventoryInvalid."""
    current = [t.as_input() for t in Tentacle.objects.of_installation(fetch.plan.installation_id)]
    return inventory.parse_rows(
        inventory_diff.fill_unreported(fetch.rows, current), max_rows=settings.PLAN_MAX_TENTACLES
    )
