"""What users see while Redis or the database is unavailable."""

import pytest
from django.db import OperationalError

from tests.factories import create_plan
from upgrade_planner.plans import access

pytestmark = pytest.mark.django_db


def test_a_cache_outage_does_not_lock_anyone_out_of_their_plan(client, monkeypatch):
    created = create_plan()

    def cache_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(access.cache, "get", cache_down)
    monkeypatch.setattr(access.cache, "add", cache_down)

    assert client.get(f"/p/{created.edit_token}/").status_code == 200
    assert client.get(f"/api/v1/plans/{created.view_token}").status_code == 200
    assert client.get(f"/v/{created.view_token}/poll?v=0").status_code == 200
    assert client.get("/p/unknown-token/").status_code == 404


def test_a_database_outage_answers_503_not_500(client, monkeypatch):
    created = create_plan()

    def database_down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(access, "current_version", database_down)
    monkeypatch.setattr(access, "link_for_token", database_down)
    from upgrade_planner.api import endpoints as api

    monkeypatch.setattr(api, "current_version", database_down)

    page = client.get(f"/p/{created.edit_token}/")
    document = client.get(f"/api/v1/plans/{created.view_token}")

    assert page.status_code == 503 and page["Retry-After"] == "10"
    assert "Unavailable for a moment" in page.content.decode()
    assert document.status_code == 503
    assert document.json()["error"] == "unavailable"
