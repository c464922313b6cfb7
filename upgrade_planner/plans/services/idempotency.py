"""Idempotency keys: the first response to a request sent with a key is kept, and a retry with
the same key gets that response back instead of acting twice (product.md §5.2)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from upgrade_planner.plans.models import IdempotencyRecord, Plan

# What the key's column holds; a longer key is refused rather than cut.
KEY_MAX_LENGTH = cast(int, IdempotencyRecord._meta.get_field("key").max_length)


class IdempotencyRefused(Exception):
    """The key cannot be used for this request. `message` is for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IdempotencyKeyInvalid(IdempotencyRefused):
    """The key is not something we can store and compare."""


class IdempotencyKeyReused(IdempotencyRefused):
    """The key was already used on this plan for a different request."""


@dataclass(frozen=True)
class IdempotentResponse:
    status_code: int
    body: Any
    replayed: bool  # True: the first response to this key, sent again


def request_fingerprint(request: object) -> str:
    """What tells a retry from a different request under the same key."""
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def idempotent_response_claim(
    *, plan: Plan, key: str, fingerprint: str
) -> IdempotencyRecord | IdempotentResponse:
    """Claim `key` on `plan` for the request with `fingerprint`: a new, empty record for the
    response, or the response stored for the same request before (replayed).

    Raises IdempotencyKeyInvalid for a key that is empty, too long or unprintable, and
    IdempotencyKeyReused when the key was used for a different request.
    """
    if not key:
        raise IdempotencyKeyInvalid("Send a key of at least one character.")
    if not key.isprintable():
        raise IdempotencyKeyInvalid("Use printable characters only.")
    if len(key) > KEY_MAX_LENGTH:
        raise IdempotencyKeyInvalid(f"At most {KEY_MAX_LENGTH} characters.")
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(plan=plan, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    # Someone claimed the key first. Inside idempotent_response_run, our insert waited for
    # their transaction, so their response is stored by now.
    first = IdempotencyRecord.objects.get(plan=plan, key=key)
    if first.fingerprint != fingerprint:
        raise IdempotencyKeyReused("This key was already used for a different request.")
    return IdempotentResponse(status_code=first.status_code, body=first.body, replayed=True)


def idempotent_response_record(
    *, record: IdempotencyRecord, status_code: int, body: Any
) -> IdempotentResponse:
    """Store the response to the request that claimed `record`."""
    with transaction.atomic():
        record.status_code, record.body = status_code, body
        record.save(update_fields=["status_code", "body"])
    return IdempotentResponse(status_code=status_code, body=body, replayed=False)


def idempotent_response_run(
    *,
    plan: Plan,
    key: str,
    request: object,
    respond: Callable[[], tuple[int, Any]],
) -> IdempotentResponse:
    """Answer `request` (any JSON-able description of it) once per `key` on `plan`: the first
    time by calling `respond`, which acts and returns (status code, body); on a retry with the
    same key and request, with the stored response, without calling it.

    The claim, the action and the stored response are one transaction. So a retry sent while the
    first request is still acting waits for it and then gets its response, and if the action
    fails the key is free again. Raises like idempotent_response_claim.
    """
    with transaction.atomic():
        claimed = idempotent_response_claim(
            plan=plan, key=key, fingerprint=request_fingerprint(request)
        )
        if isinstance(claimed, IdempotentResponse):
            return claimed
        status_code, body = respond()
        return idempotent_response_record(record=claimed, status_code=status_code, body=body)


def idempotent_responses_purge() -> int:
    """Delete the responses kept longer than IDEMPOTENCY_KEEP_HOURS; how many went.

    A key is a promise about retries, which come within minutes: kept for ever, the responses
    would only grow. A retry after the purge acts again, like a request with a new key.
    """
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS)
    with transaction.atomic():
        deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
