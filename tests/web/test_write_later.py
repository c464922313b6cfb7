"""What a render keeps in the shared cache for the next viewer is written once the response has
gone to this one, in one round trip for each lifetime (web/page_cache.py, `keep_later`), and at
once outside a request."""

from io import BytesIO
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.conftest import spy_round_trips
from tests.factories import create_plan, fleet
from upgrade_planner.web import page_cache, pages

pytestmark = pytest.mark.django_db


@pytest.fixture
def same_connection():  # type: ignore[no-untyped-def]
    """As Django's test client does: the request and its close keep the test's database
    connection (and its transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def wsgi_get(path: str):  # type: ignore[no-untyped-def]
    """The response of a GET through the whole handler, not yet closed: as a WSGI server
    holds it while it sends the body."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": BytesIO(),
        "wsgi.url_scheme": "http",
        "wsgi.errors": BytesIO(),
    }
    statuses = []
    response = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"]
    return response


@pytest.fixture
def writes(monkeypatch):  # type: ignore[no-untyped-def]
    """The keys of each write round trip to the shared cache (`set` or `set_many`), and the
    lifetime of each `set_many`."""
    calls: list[list[str]] = []
    lifetimes: list[object] = []

    def record(keys: list[str], args: tuple[object, ...], many: bool) -> None:
        calls.append(keys)
        if many:  # set_many(values, timeout)
            lifetimes.append(args[0] if args else None)

    spy_round_trips(monkeypatch, "set", "set_many", record)
    return SimpleNamespace(calls=calls, lifetimes=lifetimes)


def test_a_first_view_keeps_the_version_facts_only_after_its_response_has_gone(
    writes, same_connection
):
    created = create_plan(tentacles=fleet(3), target_version="2025.2.9999")
    plan = created.plan
    facts_key = pages._facts_key(plan.pk, plan.version)

    response = wsgi_get(f"/v/{created.view_token}/")
    try:
        assert b"web-0001" in b"".join(response)
        assert cache.get(facts_key) is None  # the body is out; nothing kept yet
        # Written at once: what the next request must find (the plan's version, the session).
        at_once = [key for keys in writes.calls for key in keys]
        assert all(key.startswith(("plan-version:", "django.contrib.sessions")) for key in at_once)
        writes.calls.clear()
        writes.lifetimes.clear()
    finally:
        response.close()  # the server is done with the response
    assert cache.get(facts_key) is not None
    held = [key for keys in writes.calls for key in keys]
    assert facts_key in held and len(held) >= 5  # facts, Tentacle page, timeline, sections...
    # One round trip for each lifetime, not one for each value.
    rounds, lifetimes = len(writes.calls), writes.lifetimes
    assert rounds == len(lifetimes) == len(set(lifetimes)) < len(held)
    assert any(key.startswith("plan-page:") for key in held)


def test_outside_a_request_what_is_kept_is_written_at_once():
    created = create_plan(tentacles=fleet(2), target_version="2025.2.9999")
    plan = created.plan
    pages.version_facts(plan)
    assert cache.get(pages._facts_key(plan.pk, plan.version)) is not None


def test_a_value_held_back_is_found_by_the_same_request():
    """Held for after the response, a value is still there for whatever else the request asks:
    it is worked out once."""
    worked_out = []

    def compute() -> dict[str, int]:
        worked_out.append(1)
        return {"n": 1}

    page_cache.write_later()
    try:
        first = page_cache.remembered("held:one", compute, kind=dict, seconds=60)
        again = page_cache.remembered("held:one", compute, kind=dict, seconds=60)
        assert cache.get("held:one") is None
    finally:
        page_cache.write_held()
    assert first == again == {"n": 1} and len(worked_out) == 1
    assert cache.get("held:one") == {"n": 1}


def test_a_cache_outage_when_writing_later_fails_no_response(client, monkeypatch):
    created = create_plan(tentacles=fleet(2), target_version="2025.2.9999")

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "set_many", down)
    assert client.get(f"/v/{created.view_token}/").status_code == 200


def test_what_one_thread_holds_back_is_neither_seen_nor_written_by_another():
    """gthread workers serve requests on several threads of one process: each request holds
    its own values back."""
    import threading

    held, seen_elsewhere = threading.Event(), threading.Event()

    def request_on_another_thread() -> None:
        page_cache.write_later()
        page_cache.keep_later({"held:theirs": 1}, 60)
        held.set()
        seen_elsewhere.wait(5)
        page_cache.write_held()

    thread = threading.Thread(target=request_on_another_thread)
    thread.start()
    assert held.wait(5)
    try:
        assert page_cache.cached("held:theirs", kind=int) is None
        page_cache.keep_later({"held:mine": 2}, 60)  # this thread serves no request
        assert cache.get("held:mine") == 2
        assert cache.get("held:theirs") is None
    finally:
        seen_elsewhere.set()
        thread.join(5)
    assert cache.get("held:theirs") == 1


def test_a_request_that_fails_still_writes_what_it_held_back(monkeypatch):
    """An error after the facts were worked out answers 500; the facts are kept all the same."""
    from django.test import Client

    created = create_plan(tentacles=fleet(2), target_version="2025.2.9999")
    plan = created.plan

    def broken(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug while rendering")

    monkeypatch.setattr(pages.PlanPage, "attach_fragments", broken)
    response = Client(raise_request_exception=False).get(f"/v/{created.view_token}/")
    assert response.status_code == 500
    assert cache.get(pages._facts_key(plan.pk, plan.version)) is not None
