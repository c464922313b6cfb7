"""The schedule in headless Chromium: set a window that is too short, see the banner."""

import pytest
from playwright.sync_api import expect

from tests.factories import create_plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_window_too_short_for_the_work_shows_the_banner(
    live_server, page, phone_page, screenshot
):
    created = create_plan(backup_size_mb=300)
    url = f"{live_server.url}/p/{created.edit_token}/schedule/panel"

    page.goto(url)
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_label("Window starts").fill("2030-05-04T20:00")
    page.get_by_label("Window ends").fill("2030-05-04T22:00")
    page.get_by_label("People working at once").fill("2")
    page.get_by_role("button", name="Save the schedule").click()

    page.goto(url)
    expect(page.get_by_role("alert")).to_contain_text("The forecast passes the window")
    screenshot(page, "schedule-overrun-desktop")
    phone_page.goto(url)
    expect(phone_page.get_by_role("alert")).to_be_visible()
    screenshot(phone_page, "schedule-overrun-phone")
