"""Plain multi-row inserts for the few places that write thousands of rows at once.

Creating a plan for a 5,000-Tentacle fleet writes ~5,000 Tentacles, ~5,000 steps and tens of
thousands of dependency rows. Django's bulk_create builds a model instance per row, which
costs seconds at that size; this writes the same rows through the same field conversions
without the instances, many rows per statement.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.db import connection, models

MAX_ROWS_PER_STATEMENT = 1000
# Rows per statement for Django's bulk_update, which writes a CASE per field and row.
BULK_BATCH = 2000
PASS_THROUGH = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
)


def insert_rows(
    model: type[models.Model], field_names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """INSERT every row (values in `field_names` order); returns the number written."""
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in field_names]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(cast(str, field.column)) for field in fields)
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    max_params = connection.features.max_query_params or 65535
    per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, max_params // len(fields)))
    # Plain text, numbers and booleans go to the driver as they are; only the fields whose
    # database form differs (UUIDs on SQLite, JSON, dates, keys) pass through their field.
    converters = [
        None
        if isinstance(field, PASS_THROUGH) and not field.is_relation
        else functools.partial(field.get_db_prep_save, connection=connection)
        for field in fields
    ]
    prepared = [
        tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(converters, row, strict=True)
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY is PostgreSQL's bulk path: one round trip, no statement per row.
            copy_sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in prepared:
                    copy.write_row(row)
            return len(prepared)
        for start in range(0, len(prepared), per_statement):
            chunk = prepared[start : start + per_statement]
            # Only identifiers from the model's own metadata are formatted in; values are
            # parameters.
            sql = (
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608
                + ", ".join([row_placeholder] * len(chunk))
            )
            cursor.execute(sql, [value for row in chunk for value in row])
    return len(prepared)


def update_rows(
    model: type[models.Model],
    field_names: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    key: str = "id",
) -> int:
    """UPDATE many rows by key: values in `field_names` order, then the key's value.

    Django's bulk_update writes one CASE expression per field with a branch per row, which
    SQLite evaluates row by row: re-planning a 5,000-Tentacle fleet took over a minute. One
    prepared UPDATE run for every row (executemany; pipelined on PostgreSQL) takes a fraction
    of a second.
    """
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in field_names]
    key_field = cast("models.Field[Any, Any]", model._meta.get_field(key))
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(cast(str, field.column))} = %s" for field in fields)
    # Only identifiers from the model's own metadata are formatted in; values are parameters.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(cast(str, key_field.column))} = %s"
    )
    every_field = [*fields, key_field]
    prepared = [
        tuple(
            field.get_db_prep_save(value, connection)
            for field, value in zip(every_field, row, strict=True)
        )
        for row in rows
    ]
    if prepared:
        with connection.cursor() as cursor:
            cursor.executemany(sql, prepared)
    return len(prepared)


def insert_row(
    model: type[models.Model], field_names: Sequence[str], values: Sequence[Any]
) -> None:
    """INSERT one row (values in `field_names` order) with a statement written once per model
    and fields: for a row every request writes, such as a transition's activity entry, where
    building the INSERT through the ORM cost more than running it."""
    fields = _fields(model, tuple(field_names))
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_sql(model, tuple(field_names), connection.vendor),
            [
                None if value is None else field.get_db_prep_save(value, connection)
                for field, value in zip(fields, values, strict=True)
            ],
        )


@functools.cache
def _fields(
    model: type[models.Model], field_names: tuple[str, ...]
) -> list[models.Field[Any, Any]]:
    return [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in field_names]


@functools.cache
def _insert_sql(model: type[models.Model], field_names: tuple[str, ...], vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(cast(str, field.column)) for field in _fields(model, field_names))
    placeholders = ", ".join(["%s"] * len(field_names))
    # Only identifiers from the model's own metadata are formatted in; values are parameters.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
