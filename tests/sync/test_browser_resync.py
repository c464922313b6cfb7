"""Updating the inventory of a plan under way, in headless Chromium: review the diff, confirm."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import tentacle
from tests.fake_octopus import API_KEY, FakeOctopus, listening, polling
from tests.sync.helpers import in_place_plan_with_progress, inventory_of, replaced, without
from upgrade_planner.domain.inventory import to_csv
from upgrade_planner.installations.models import Tentacle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager():
    from upgrade_planner.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


def console_errors(page):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def test_pasting_a_new_inventory_shows_the_diff_and_applies_it_on_confirm(
    live_server, page, screenshot
):
    errors = console_errors(page)
    created = in_place_plan_with_progress()
    plan = created.plan
    new = [
        *replaced(
            without(inventory_of(plan), "web-0003"), "web-0006", communication_style="polling"
        ),
        tentacle("web-0013", environments=("Staging",), roles=("api",)),
    ]
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    section = page.locator("#inventory-update")
    section.scroll_into_view_if_needed()
    full = screenshot(page, "resync-form")
    section.screenshot(path=str(full.with_name("resync-form-section.png")))
    page.get_by_label("Paste the whole inventory as CSV").fill(to_csv(new))
    page.get_by_role("button", name="Review the changes").click()

    expect(page.get_by_role("heading", name="Review the changes")).to_be_visible()
    expect(page.get_by_text("1 added", exact=True)).to_be_visible()
    expect(page.get_by_text("1 removed", exact=True)).to_be_visible()
    expect(page.get_by_text("1 changed", exact=True)).to_be_visible()
    expect(page.locator("caption", has_text="Added (1)")).to_be_visible()
    expect(page.locator(".diff-row-changed")).to_contain_text("listening")
    expect(page.locator(".diff-row-changed")).to_contain_text("polling")
    expect(page.get_by_text("with progress will be retired")).to_be_visible()
    screenshot(page, "resync-preview")
    assert Tentacle.objects.filter(name="web-0013").count() == 0  # nothing yet
    # web-0003 was upgraded: removing it takes a tick next to its name.
    removals = page.get_by_role("group", name="Tentacles with progress would be removed")
    expect(removals.get_by_role("list", name="Tentacles to remove")).to_have_text("web-0003")
    removals.get_by_label("Remove 1 Tentacle with progress and retire its steps").check()

    page.get_by_role("button", name="Apply these changes").click()

    page.wait_for_url(re.compile(r"/p/[\w-]+/#tentacles$"))
    expect(page.locator("#flash")).to_contain_text("Inventory updated: 1 added (web-0013)")
    expect(page.locator("#tentacles table")).to_contain_text("web-0013")
    full = screenshot(page, "resync-applied")
    page.screenshot(path=str(full.with_name("resync-applied-view.png")))  # at #tentacles
    assert Tentacle.objects.filter(name="web-0013").count() == 1
    assert errors == []


def test_a_change_of_approach_is_a_question_answered_before_applying(live_server, page, screenshot):
    created = in_place_plan_with_progress()
    plan = created.plan
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    page.get_by_label("Paste the whole inventory as CSV").fill(to_csv(inventory_of(plan)[:9]))
    page.get_by_role("button", name="Review the changes").click()

    question = page.get_by_role("group", name="The recommended approach changes")
    expect(question).to_be_visible()
    screenshot(page, "resync-approach-question")
    page.get_by_role("button", name="Apply these changes").click()  # unanswered: refused
    expect(question).to_be_visible()
    assert Tentacle.objects.filter(installation=plan.installation).count() == 12

    question.get_by_label(re.compile("Switch to Manual")).check()
    page.get_by_role("button", name="Apply these changes").click()

    page.wait_for_url(re.compile(r"/p/[\w-]+/#tentacles$"))
    expect(page.locator(".plan-head")).to_contain_text("Manual")
    assert Tentacle.objects.filter(installation=plan.installation).count() == 9


def test_reading_the_machines_from_octopus_previews_them_for_confirmation(
    live_server, page, screenshot, eager
):
    errors = console_errors(page)
    server = FakeOctopus(
        machines=[
            listening("web-0001", "web-0001.corp", port=10933),
            listening("web-0002", "web-0002.corp", port=10933),
            polling("app-01", envs=["Environments-2"]),
            {"Id": "Machines-9", "Name": "linux-01", "Endpoint": {"CommunicationStyle": "Ssh"}},
        ]
    ).start()
    try:
        created = in_place_plan_with_progress(count=12)
        page.goto(f"{live_server.url}/p/{created.edit_token}/")
        page.get_by_label("Octopus server URL").fill(server.url)
        page.get_by_label("API key").fill(API_KEY)
        page.get_by_role("button", name="Read the machines").click()

        page.wait_for_url(re.compile(r"/inventory/fetch/[0-9a-f-]+$"))
        expect(page.get_by_text("Octopus 2.6.5.1010 lists 3 Tentacles")).to_be_visible()
        expect(page.get_by_text("It is an SSH target, not a Tentacle.")).to_be_visible()
        expect(page.get_by_role("heading", name="Review the changes")).to_be_visible()
        assert API_KEY not in page.content()
        screenshot(page, "resync-fetch-preview")
    finally:
        server.stop()
    assert errors == []
