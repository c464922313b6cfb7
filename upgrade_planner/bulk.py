"""Plain multi-row inserts for the few places that write thousands of rows at once.

Creating a plan for a 5,000-Tentacle fleet writes ~5,000 Tentacles, ~5,000 steps and tens of
thousands of dependency rows. Django's bulk_create builds a model instance per row, which
costs seconds at that size; this writes the same rows through the same field conversions
without the instances, many rows per statement.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

MAX_ROWS_PER_STATEMENT = 1000
# Rows per statement for Django's bulk_update, which writes a CASE per field and row.
BULK_BATCH = 2000
PASS_THROUGH = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
)
# What psycopg writes as it is on PostgreSQL: Django's conversion of these returns the value
# unchanged there (native UUIDs; aware datetimes and dates as they are).
POSTGRESQL_PASS_THROUGH = (*PASS_THROUGH, models.UUIDField, models.DateField)

Converter = Callable[[Any], Any] | None
# The characters a JSON string cannot hold as they are.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def ordered_ids(count: int) -> list[str]:
    """`count` new UUIDs as text, each greater than the one before, for the rows of one
    installation: version 7 (RFC 9562), the current millisecond, a counter from a random start
    and 32 random bits. For keys never shown to anyone (step ids stay random, version 4).

    Random keys land all over each index they are in (the table's own, and those of the rows
    that point at them), so every insert reads another page of an index as large as all the
    installations; keys in order land together at the end of it. As text, the driver sends
    them without converting each one."""
    high = (time.time_ns() // 1_000_000 << 80) | (0x7 << 76) | (0b10 << 62)
    # The counter has 42 bits (12 in "rand_a", 30 at the top of "rand_b"); starting below
    # 2**41 leaves room for 2**41 ids before it could carry into the millisecond.
    start = secrets.randbits(41)
    tails = struct.unpack(f">{count}I", os.urandom(4 * count))
    values = (
        high | (start + offset) >> 30 << 64 | ((start + offset) & 0x3FFFFFFF) << 32 | tail
        for offset, tail in enumerate(tails)
    )
    ids = []
    for value in values:
        text = f"{value:032x}"
        ids.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return ids


def _json_text(dumps: Callable[[Any], str]) -> Callable[[Any], str]:
    """`dumps`, remembering the text of lists of strings: a fleet's Tentacles share a few
    environment and role lists, and a new plan's steps all start with no evidence."""
    known: dict[tuple[str, ...], str] = {}

    def convert(value: Any) -> str:
        if type(value) is not list or not all(type(item) is str for item in value):
            return dumps(value)
        key = tuple(value)
        text = known.get(key)
        if text is None:
            # Names with nothing to escape (each step's own Tentacle names) are written
            # directly: json.dumps costs ten times as much for the same text. (json.dumps
            # writes other characters as \u escapes; either way it is the same JSON value.)
            joined = '", "'.join(value)
            if value and _JSON_ESCAPED.search(joined) is None:
                text = f'["{joined}"]'
            else:
                text = dumps(value)
            known[key] = text
        return text

    return convert


def _converter(
    field: models.Field[Any, Any], db: BaseDatabaseWrapper, *, copy: bool = False
) -> Converter:
    """How a value of `field` is prepared for `db` (for PostgreSQL's COPY with `copy`), or
    None when it goes as it is.

    At 5,000 Tentacles a plan writes ~250,000 values: calling `get_db_prep_save` on each, through
    the `django.db.connection` proxy, cost more than the database took to store them."""
    # A key is stored in its target's form.
    target = cast("models.ForeignKey[Any, Any]", field).target_field if field.is_relation else field
    if isinstance(target, PASS_THROUGH) and not target.is_relation:
        return None
    if db.vendor == "postgresql":
        if isinstance(target, POSTGRESQL_PASS_THROUGH):
            return None
        if isinstance(target, models.JSONField):
            if copy:
                # COPY's text form of a jsonb value is the JSON text itself: no wrapper for
                # the driver to look up an adapter for, once per value.
                return _json_text(
                    json.dumps
                    if target.encoder is None
                    else functools.partial(json.dumps, cls=target.encoder)
                )
            return functools.partial(db.ops.adapt_json_value, encoder=target.encoder)
    return functools.partial(field.get_db_prep_save, connection=db)


def _prepared(
    rows: Iterable[Sequence[Any]],
    fields: Sequence[models.Field[Any, Any]],
    db: BaseDatabaseWrapper,
    *,
    copy: bool = False,
) -> Iterator[Sequence[Any]]:
    """`rows` with each value in the form `db` stores (None stays NULL), one at a time."""
    converted = [
        (index, convert)
        for index, convert in enumerate(_converter(field, db, copy=copy) for field in fields)
        if convert is not None
    ]
    for row in rows:
        if len(row) != len(fields):
            raise ValueError(f"a row of {len(row)} values for {len(fields)} fields")
        if converted:
            values = list(row)
            for index, convert in converted:
                if values[index] is not None:
                    values[index] = convert(values[index])
            row = values
        yield row


def read_converter(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    """What the ORM does to a value of `field` read from the database on the default
    connection (UUIDs and booleans on SQLite, JSON, dates), for the statements written by
    hand that turn their rows into model values themselves."""
    connection = connections[DEFAULT_DB_ALIAS]
    col = field.get_col(field.model._meta.db_table)
    converters = [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]

    def convert(value: Any) -> Any:
        for converter in converters:
            value = converter(value, col, connection)
        return value

    return convert


def insert_rows(
    model: type[models.Model], field_names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """INSERT every row (values in `field_names` order); returns the number written."""
    fields = [cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in field_names]
    db = connections[DEFAULT_DB_ALIAS]  # once, not through the proxy for every value
    quote = db.ops.quote_name
    columns = ", ".join(quote(cast(str, field.column)) for field in fields)
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    max_params = db.features.max_query_params or 65535
    per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, max_params // len(fields)))
    # Only the fields whose database form differs (JSON; UUIDs and dates on SQLite) pass
    # through their field; the rest go to the driver as they are.
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            # COPY is PostgreSQL's bulk path: one round trip, no statement per row. Each row is
            # converted as it is sent, so the converted rows are never all held at once.
            copy_sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
            written = 0
            with cursor.cursor.copy(copy_sql) as copy:
                for row in _prepared(rows, fields, db, copy=True):
                    copy.write_row(row)
                    written += 1
            return written
        prepared = list(_prepared(rows, fields, db))
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
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    assignments = ", ".join(f"{quote(cast(str, field.column))} = %s" for field in fields)
    # Only identifiers from the model's own metadata are formatted in; values are parameters.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(cast(str, key_field.column))} = %s"
    )
    prepared = list(_prepared(rows, [*fields, key_field], db))
    if prepared:
        with db.cursor() as cursor:
            cursor.executemany(sql, prepared)
    return len(prepared)


def insert_row(
    model: type[models.Model], field_names: Sequence[str], values: Sequence[Any]
) -> None:
    """INSERT one row (values in `field_names` order) with a statement written once per model
    and fields: for a row every request writes, such as a transition's activity entry, where
    building the INSERT through the ORM cost more than running it."""
    db = connections[DEFAULT_DB_ALIAS]
    fields = _fields(model, tuple(field_names))
    with db.cursor() as cursor:
        cursor.execute(
            _insert_sql(model, tuple(field_names), db.vendor),
            [
                None if value is None else field.get_db_prep_save(value, db)
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
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(cast(str, field.column)) for field in _fields(model, field_names))
    placeholders = ", ".join(["%s"] * len(field_names))
    # Only identifiers from the model's own metadata are formatted in; values are parameters.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
