"""The checklist's order read in headless Chromium (desktop): a 2.6 new-server plan and an HA
modern plan, one heading per phase of a hop, sources that open their docs page in a new tab."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import create_plan, fleet, tentacle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def desktop(browser):
    return browser.new_context(viewport={"width": 1366, "height": 900}).new_page()


def phase_headings(page) -> list[str]:
    return [" ".join(text.split()) for text in page.locator("#checklist h3").all_inner_texts()]


def test_a_new_server_plan_reads_in_order(live_server, browser):
    created = create_plan(
        can_provision_new_server=True,
        uses_builtin_feed=True,
        backup_size_mb=900,
        tentacles=(*fleet(10), tentacle("poll-01", communication_style="polling")),
    )
    page = desktop(browser)

    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    headings = phase_headings(page)
    assert headings == [
        "Prepare",
        "Install the server",
        "Migrate the data",
        "Upgrade the Tentacles",
        "Verify",
        "Finish",
    ]
    master_key = page.locator(
        "li.step", has=page.get_by_role("heading", name="Back up the master key", exact=True)
    )
    expect(master_key.locator(".waiting")).to_have_count(0)  # it waits for no other backup
    link = master_key.locator(".source a")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener")
    cut_off = page.locator(
        "li.step",
        has=page.get_by_role(
            "heading", name="Check the 2.6 server can no longer reach any Tentacle"
        ),
    )
    expect(cut_off.locator(".waiting")).to_contain_text("canary machines (")
    expect(cut_off.locator(".waiting")).to_contain_text("other machines (")
    page.locator("#checklist").screenshot(path=f"{SHOTS}/order-new-server.png")


def test_an_ha_modern_plan_reads_in_order(live_server, browser):
    created = create_plan(
        server_version="2019.3.1", target_version="2023.4.1", ha_nodes=("octo-a", "octo-b")
    )
    page = desktop(browser)

    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    headings = phase_headings(page)
    assert len(headings) == len(set(headings)), headings
    backup = page.locator(
        "li.step", has=page.get_by_role("heading", name="Back up the Octopus SQL database")
    ).first
    expect(backup.locator(".waiting")).to_contain_text("Stop node octo-a")
    expect(backup.locator(".waiting")).not_to_contain_text("master key")
    page.locator("#checklist").screenshot(path=f"{SHOTS}/order-ha-modern.png")
