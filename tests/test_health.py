import pytest
from django.db import DatabaseError

from upgrade_planner import health


@pytest.mark.django_db
def test_healthz_reports_ok_with_a_working_database(client, settings):
    settings.REDIS_URL = ""

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not-configured"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_database_when_it_is_down(client, settings, monkeypatch):
    settings.REDIS_URL = ""

    def broken_cursor(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "down"
    assert response.json()["failing"] == ["database"]


@pytest.mark.django_db
def test_healthz_answers_503_naming_redis_when_it_does_not_answer(client, settings):
    # Nothing listens on port 1 of loopback: the connection is refused at once.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "database": "ok",
        "redis": "down",
        "failing": ["redis"],
    }


@pytest.mark.django_db
def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
