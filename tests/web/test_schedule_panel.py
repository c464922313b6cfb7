"""The schedule partial (templates/plans/_schedule.html) and its form: the window, the forecast
end, whether it fits, and a banner when the forecast passes the window's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import create_plan, fleet
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity

pytestmark = pytest.mark.django_db

SATURDAY_20 = datetime(2026, 5, 2, 20, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def saturday_evening(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: SATURDAY_20 - timedelta(hours=1))


def panel(client, token: str, *, view: bool = False, htmx: bool = True) -> str:
    prefix = "v" if view else "p"
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(f"/{prefix}/{token}/schedule/panel", **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_panel_shows_the_window_forecast_and_a_labelled_form(client):
    created = create_plan(backup_size_mb=300)
    services.schedule_set(
        plan=created.plan, window_start=SATURDAY_20, window_end=SATURDAY_20 + timedelta(hours=12)
    )

    html = panel(client, created.edit_token)

    assert "Sat 2 May 20:00" in html
    assert "Forecast end" in html and "<time datetime=" in html
    assert "to spare" in html
    assert 'for="id_window_start"' in html and 'for="id_people_at_once"' in html
    assert 'role="alert"' not in html


def test_a_banner_says_when_the_forecast_passes_the_window_s_end(client):
    created = create_plan(backup_size_mb=300)
    services.schedule_set(
        plan=created.plan, window_start=SATURDAY_20, window_end=SATURDAY_20 + timedelta(hours=2)
    )

    html = panel(client, created.edit_token)

    assert 'role="alert"' in html
    assert "The forecast passes the window" in html
    assert "late" in html


def test_the_read_only_panel_has_no_form_and_the_edit_routes_refuse_a_view_token(client):
    created = create_plan()

    html = panel(client, created.view_token, view=True)
    refused = client.post(
        f"/p/{created.view_token}/schedule", {"people_at_once": "3", "window_start": ""}
    )

    assert "<form" not in html
    assert refused.status_code == 404
    created.plan.refresh_from_db()
    assert created.plan.people_at_once == 2


def test_the_form_sets_the_window_and_returns_to_the_plan(client):
    created = create_plan()

    response = client.post(
        f"/p/{created.edit_token}/schedule",
        {
            "window_start": "2026-05-02T20:00",
            "window_end": "2026-05-03T06:00",
            "people_at_once": "3",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/"
    created.plan.refresh_from_db()
    assert created.plan.window_start == SATURDAY_20
    assert created.plan.people_at_once == 3
    assert Activity.objects.filter(plan=created.plan, action="schedule-set").exists()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {"window_start": "2026-05-02T20:00", "window_end": "2026-05-02T18:00"},
            "must end after it starts",
        ),
        ({"window_start": "tonight"}, "start as a date and time"),
        ({"window_start": "", "people_at_once": "0"}, "At least one person"),
    ],
)
def test_a_bad_window_is_refused_with_a_message_and_nothing_saved(client, data, words):
    created = create_plan()
    version = created.plan.version

    response = client.post(
        f"/p/{created.edit_token}/schedule", {"people_at_once": "2", **data}, follow=True
    )

    assert words in response.content.decode()
    created.plan.refresh_from_db()
    assert created.plan.version == version
    assert created.plan.window_start is None


def test_without_htmx_the_panel_is_a_page_of_its_own(client):
    created = create_plan()

    html = panel(client, created.edit_token, htmx=False)

    assert "<html" in html and "Back to the plan" in html and 'id="schedule"' in html


def test_the_panel_costs_the_same_queries_whatever_the_fleet_size(client):
    counts = []
    for size in (20, 1000):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        with CaptureQueriesContext(connection) as queries:
            panel(client, created.edit_token)
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert counts[0] <= 4
