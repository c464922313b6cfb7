"""The timeline in headless Chromium, driven through the API as a team's tooling would: set a
window, start a step that runs long, watch the forecast move and the banner appear on the open
page; then apply a rehearsal's measured durations and see the forecast change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Plan, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api(page, method: str, url: str, body: dict | None = None) -> dict:
    response = page.request.fetch(url, method=method, data=body or {})
    assert response.ok, (response.status, response.text())
    return response.json()


def test_a_step_running_long_moves_the_forecast_past_the_window_and_the_banner_appears(
    live_server, page, phone_page, screenshot
):
    created = create_plan(backup_size_mb=300, tentacles=fleet(6))
    base = f"{live_server.url}/api/v1/plans/{created.edit_token}"
    now = timezone.now()
    api(
        page,
        "PATCH",
        f"{base}/schedule",
        {
            "window_start": (now - timedelta(minutes=30)).isoformat(),
            "window_end": (now + timedelta(hours=14)).isoformat(),
        },
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/p/{created.edit_token}/#schedule")
    expect(page.locator("#schedule-fits")).to_contain_text("Yes")
    expect(page.locator("#schedule-overrun")).to_have_count(0)
    forecast_before = page.locator("#schedule time").get_attribute("datetime")

    # The migration starts and turns out to need far longer than planned.
    migrate = Step.objects.of_plan(created.plan).get(kind="migrate-data")
    Step.objects.of_plan(created.plan).filter(position__lt=migrate.position).update(
        state=StepState.DONE, finished_at=now
    )
    Step.objects.filter(pk=migrate.pk).update(state=StepState.READY)
    api(page, "POST", f"{base}/steps/{migrate.id}/start")
    api(page, "PATCH", f"{base}/steps/{migrate.id}", {"estimate_minutes": 20 * 60})

    # The open page follows without a reload: the schedule is one of its live sections.
    expect(page.get_by_role("alert")).to_contain_text(
        "The forecast passes the window", timeout=15_000
    )
    expect(page.locator("#schedule-fits")).to_contain_text("No")
    assert page.locator("#schedule time").get_attribute("datetime") != forecast_before
    expect(page.locator("#schedule .timeline-lane.critical").first).to_be_visible()
    page.locator("#schedule").scroll_into_view_if_needed()
    screenshot(page, "timeline-late-desktop")
    phone_page.goto(f"{live_server.url}/p/{created.edit_token}/")
    expect(phone_page.get_by_role("alert")).to_be_visible()
    phone_page.locator("#schedule").screenshot(
        path="test-artifacts/screenshots/timeline-late-phone.png"
    )


def test_applying_a_rehearsal_s_durations_changes_the_live_forecast(live_server, page, screenshot):
    created = create_plan(backup_size_mb=300, tentacles=fleet(4))
    base = f"{live_server.url}/api/v1/plans/{created.edit_token}"
    now = timezone.now()
    api(
        page,
        "PATCH",
        f"{base}/schedule",
        {"window_start": (now + timedelta(hours=1)).isoformat()},
    )
    rehearsal = api(page, "POST", f"{base}/rehearsal")
    # On the test instance the migration took 40 minutes instead of the planner's estimate.
    started = now - timedelta(hours=2)
    rehearsed = Plan.objects.get(rehearsal_of=created.plan)
    Step.objects.of_plan(rehearsed).filter(kind="migrate-data").update(
        state=StepState.DONE, started_at=started, finished_at=started + timedelta(minutes=40)
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    forecast_before = page.locator("#schedule time").get_attribute("datetime")

    page.goto(rehearsal["edit_url"].replace("http://testserver", live_server.url))
    page.get_by_role("button", name="Apply these durations to the live plan").click()

    outcome = page.locator("#rehearsal-outcome")
    expect(outcome).to_contain_text("Applied the rehearsal's measured times to 1 step")
    expect(outcome.locator("table")).to_contain_text("Before")
    outcome.scroll_into_view_if_needed()
    screenshot(page, "timeline-rehearsal-applied-desktop")
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    assert page.locator("#schedule time").get_attribute("datetime") < forecast_before
    page.locator("#schedule").screenshot(
        path="test-artifacts/screenshots/timeline-after-rehearsal-desktop.png"
    )
