"""What the hourly purges delete by age is indexed by age: a purge reads only what expired,
never the whole table under a lock, however many records and sessions pile up."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection

from upgrade_planner.plans.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def indexed_columns(table: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [details["columns"] for details in constraints.values() if details["index"]]


@pytest.mark.parametrize(
    "model, column",
    [(IdempotencyRecord, "created_at"), (Session, "expire_date")],
    ids=["idempotency-records", "sessions"],
)
def test_the_purge_finds_expired_rows_through_an_index(model, column):
    assert [column] in indexed_columns(model._meta.db_table)
