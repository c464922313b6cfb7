"""The one way to serialise changes of a plan."""

from __future__ import annotations

import functools
from typing import Any, cast

from django.db import connection, models

from upgrade_planner.plans import access
from upgrade_planner.plans.models import Plan


def plan_lock(*, plan: Plan, reload_all: bool = False, steps_only: bool = False) -> None:
    """Inside a transaction: bump the plan's version (the ETag of every read) and reload its
    version and finished-step count (every field with `reload_all`, for a replan). Once the
    transaction commits, the version polls compare is read afresh (access.plan_version_changed).
    `steps_only` says the transaction changes nothing but steps' states, as a transition
    does (access.steps_moved): the page then keeps what such a change cannot touch.

    The UPDATE takes the plan row's lock on PostgreSQL (the write lock on SQLite), so changes
    of one plan run one after another until the transaction ends. Every service that changes a
    plan takes this lock first, so no two of them wait on each other in opposite orders.
    """
    access.plan_version_changed(plan.pk)
    if reload_all:
        Plan.objects.filter(pk=plan.pk).update(version=models.F("version") + 1)
        plan.refresh_from_db()
        return
    # One statement: the bump reads back what it wrote. Every transition starts here, so the
    # statement is written once rather than compiled by the ORM on each call.
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(connection.vendor), [pk_value(plan.pk)])
        plan.version, plan.finished_steps = _returned(cursor.fetchone())
    if steps_only:
        access.steps_moved(plan_id=plan.pk, before=plan.version - 1, after=plan.version)


def plan_finished_steps_add(*, plan: Plan, delta: int) -> None:
    """Inside plan_lock's transaction: move the plan's count of finished steps by `delta`
    and read it back, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(_finished_sql(connection.vendor), [delta, pk_value(plan.pk)])
        (plan.finished_steps,) = _returned(cursor.fetchone())


def _returned(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row an UPDATE … RETURNING of the plan gave; none means the plan is gone (deleted
    since it was read), which refresh_from_db would have said with Plan.DoesNotExist."""
    if row is None:
        raise Plan.DoesNotExist("The plan no longer exists.")
    return row


def pk_value(pk: object) -> Any:
    """A plan's UUID as the database takes it: text on SQLite."""
    return Plan._meta.pk.get_db_prep_value(pk, connection)


def _column(name: str) -> str:
    field = cast("models.Field[Any, Any]", Plan._meta.get_field(name))
    return connection.ops.quote_name(cast(str, field.column))


@functools.cache
def _lock_sql(vendor: str) -> str:
    # UPDATE … RETURNING: PostgreSQL, and SQLite since 3.35 (Django 6 needs 3.37).
    version, finished, pk = _column("version"), _column("finished_steps"), _column("id")
    table = connection.ops.quote_name(Plan._meta.db_table)
    # Only identifiers from the model's own metadata are formatted in.
    return (
        f"UPDATE {table} SET {version} = {version} + 1 WHERE {pk} = %s "  # noqa: S608
        f"RETURNING {version}, {finished}"
    )


@functools.cache
def _finished_sql(vendor: str) -> str:
    finished, pk = _column("finished_steps"), _column("id")
    table = connection.ops.quote_name(Plan._meta.db_table)
    return (
        f"UPDATE {table} SET {finished} = {finished} + %s WHERE {pk} = %s "  # noqa: S608
        f"RETURNING {finished}"
    )
