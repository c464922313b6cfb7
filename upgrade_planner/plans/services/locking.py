"""The one way to serialise changes of a plan."""

from __future__ import annotations

from django.db import models

from upgrade_planner.plans.models import Plan


def plan_lock(*, plan: Plan, reload_all: bool = False) -> None:
    """Inside a transaction: bump the plan's version (the ETag of every read) and reload its
    version and finished-step count (every field with `reload_all`, for a replan).

    The UPDATE takes the plan row's lock on PostgreSQL (the write lock on SQLite), so changes
    of one plan run one after another until the transaction ends. Every service that changes a
    plan takes this lock first, so no two of them wait on each other in opposite orders.
    """
    Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
    plan.refresh_from_db(fields=None if reload_all else ["version", "finished_steps"])
