"""Sessions live on the server: the browser's cookie is a random key that holds no plan link,
"your plans" keeps working, a SECRET_KEY rotation keeps sessions, and expired ones are purged."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import create_plan
from upgrade_planner.plans import services
from upgrade_planner.sessions import SessionStore

pytestmark = pytest.mark.django_db


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_the_session_cookie_is_a_random_key_that_carries_no_plan_link(client):
    created = create_plan()

    client.get(f"/p/{created.edit_token}/")

    cookie = session_cookie(client)
    assert re.fullmatch(r"[a-z0-9]{32}", cookie), cookie
    assert Session.objects.filter(session_key=cookie).exists()
    assert created.edit_token not in cookie


def test_neither_the_session_table_nor_the_cache_holds_a_working_link(client):
    created = create_plan()
    client.get(f"/p/{created.edit_token}/")
    client.get(f"/v/{created.view_token}/")
    store = SessionStore(session_cookie(client))

    stored = json.dumps(Session.objects.get(pk=store.session_key).get_decoded())
    cached = json.dumps(cache.get(store.cache_key))

    for kept in (stored, cached):
        assert "Prod Octopus" in kept  # this is the session that lists the plan
        assert created.edit_token not in kept and created.view_token not in kept


def test_your_plans_lists_the_plans_this_browser_opened(client):
    mine = create_plan(name="Mine")
    read = create_plan(name="Read only")
    create_plan(name="Someone else's")

    client.get(f"/p/{mine.edit_token}/")
    client.get(f"/v/{read.view_token}/")
    home = client.get("/").content.decode()

    assert f'href="/p/{mine.edit_token}/"' in home
    assert f'href="/v/{read.view_token}/"' in home
    assert "Someone else" not in home
    assert "Your plans" not in Client().get("/").content.decode()


def test_sessions_survive_a_secret_key_rotation(client, settings):
    created = create_plan()
    client.get(f"/p/{created.edit_token}/")
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    cache.clear()  # read the session from the database, where it is signed with the old key

    assert f'href="/p/{created.edit_token}/"' in client.get("/").content.decode()


def test_without_the_old_key_a_session_is_simply_empty(client, settings):
    created = create_plan()
    client.get(f"/p/{created.edit_token}/")

    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []
    cache.clear()
    home = client.get("/")

    assert home.status_code == 200
    assert created.edit_token not in home.content.decode()


def test_the_beat_schedule_purges_expired_sessions(eager_tasks):
    from upgrade_planner.celery import app

    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert services.SESSIONS_PURGE_TASK in tasks
    now = timezone.now()
    Session.objects.create(session_key="expired", session_data="", expire_date=now - timedelta(1))
    Session.objects.create(session_key="current", session_data="", expire_date=now + timedelta(1))

    services.task_by_name(services.SESSIONS_PURGE_TASK).apply_async().get()

    assert list(Session.objects.values_list("session_key", flat=True)) == ["current"]


def test_a_first_visit_makes_its_session_in_one_statement(client):
    created = create_plan()
    client.get(f"/v/{created.view_token}/")  # the page is cached for the visitors after this
    client.cookies.clear()  # a new browser

    with CaptureQueriesContext(connection) as captured:
        client.get(f"/v/{created.view_token}/")

    # The new session alone, with no look-up of its key first (the page and its link's version
    # come from the caches). The savepoint is this test's transaction; a request's own insert
    # commits at once.
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements
    assert statements[0].startswith('INSERT INTO "django_session"')
    assert Session.objects.filter(session_key=session_cookie(client)).exists()


@pytest.mark.parametrize(
    "in_a_transaction",
    [True, pytest.param(False, marks=pytest.mark.django_db(transaction=True))],
)
def test_a_new_session_key_that_clashes_with_a_stored_one_is_drawn_again(
    monkeypatch, in_a_transaction
):
    """Inside a transaction (Django's savepoint) and outside one (a lone INSERT)."""
    assert connection.in_atomic_block == in_a_transaction
    stored = SessionStore()
    stored["plans"] = ["someone else's"]
    stored.create()
    stored.save()
    drawn = iter([stored.session_key, "n" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(drawn))

    new = SessionStore()
    new["plans"] = ["mine"]
    new.save()

    assert new.session_key == "n" * 32
    # Nothing left open by the failed insert.
    assert connection.in_atomic_block == in_a_transaction
    assert connection.get_autocommit() != in_a_transaction
    cache.clear()  # read both back from the database
    assert SessionStore(stored.session_key)["plans"] == ["someone else's"]
    assert SessionStore(new.session_key)["plans"] == ["mine"]


def database_down(*args, **kwargs):  # type: ignore[no-untyped-def]
    raise OperationalError("connection refused")


def test_a_new_browser_is_served_a_cached_page_while_the_database_is_down_and_saved_after(
    client, monkeypatch, caplog
):
    first, second = create_plan(name="First"), create_plan(name="Second")
    page = f"/v/{first.view_token}/"
    cached = client.get(page)
    client.cookies.clear()  # a new browser, whose session must be inserted

    with monkeypatch.context() as down:
        down.setattr(Session, "save", database_down)
        during = client.get(page)

    assert during.status_code == 200
    assert during.content.count(b"<li") == cached.content.count(b"<li")
    assert "session not saved, the database is unavailable" in caplog.text
    # The database is back: the browser's next visit is remembered, not refused.
    after = client.get(f"/v/{second.view_token}/")
    assert after.status_code == 200
    saved = SessionStore(session_cookie(client))
    assert [plan["name"] for plan in saved["recent_plans"]] == ["Second"]


def test_a_returning_browser_is_served_a_cached_page_while_the_database_is_down(
    client, monkeypatch, caplog
):
    first, second = create_plan(name="First"), create_plan(name="Second")
    client.get(f"/v/{first.view_token}/")
    client.get(f"/v/{second.view_token}/")  # cached now; "your plans" lists Second first
    key = session_cookie(client)

    with monkeypatch.context() as down:
        down.setattr(Session, "save", database_down)
        during = client.get(f"/v/{first.view_token}/")  # would move First to the top

    assert during.status_code == 200
    assert "session not saved, the database is unavailable" in caplog.text
    cache.clear()  # read the session back from the database: unchanged
    assert [plan["name"] for plan in SessionStore(key)["recent_plans"]] == ["Second", "First"]


def test_a_session_deleted_meanwhile_is_still_refused(client, monkeypatch):
    """Only a lost connection is passed over: a session that no longer exists (a sign-out in
    another tab) still ends the request as Django does."""
    created = create_plan()
    client.get(f"/v/{created.view_token}/")
    Session.objects.filter(session_key=session_cookie(client)).delete()
    other = create_plan(name="Other")

    response = client.get(f"/v/{other.view_token}/")

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_new_session_is_one_statement_with_no_begin_or_commit(client):
    created = create_plan()
    client.get(f"/v/{created.view_token}/")
    client.cookies.clear()  # a new browser

    with CaptureQueriesContext(connection) as captured:
        client.get(f"/v/{created.view_token}/")

    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) == 1, statements
    assert statements[0].startswith('INSERT INTO "django_session"')
    assert Session.objects.filter(session_key=session_cookie(client)).exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_changed_session_is_one_update(client):
    first, second = create_plan(name="First"), create_plan(name="Second")
    client.get(f"/v/{first.view_token}/")
    client.get(f"/v/{second.view_token}/")

    with CaptureQueriesContext(connection) as captured:
        client.get(f"/v/{first.view_token}/")  # moves First to the top of "your plans"

    statements = [q["sql"] for q in captured.captured_queries]
    assert [sql.split(" ", 1)[0] for sql in statements] == ["UPDATE"], statements
    cache.clear()  # read the session back from the database
    assert [p["name"] for p in SessionStore(session_cookie(client))["recent_plans"]] == [
        "First",
        "Second",
    ]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_an_update_of_a_session_deleted_meanwhile_is_refused():
    store = SessionStore()
    store["plans"] = ["mine"]
    store.save()
    Session.objects.filter(session_key=store.session_key).delete()

    store["plans"] = ["changed"]
    with pytest.raises(UpdateError):
        store.save()
