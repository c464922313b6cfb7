"""The start page after a failed submit, in headless Chromium at desktop and phone width: the
error summary is on screen and focused, its links reach the fields, and the pasted and
uploaded inventory are still there."""

import pytest
from playwright.sync_api import expect

from upgrade_planner.plans.models import Plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASTED = "name,port\nweb-02,abc\nweb-03,10933\n"
UPLOADED = b"name;communication_style\napp-01;polling\napp-02;sideways\n"


@pytest.mark.parametrize(("width", "height", "name"), [(1366, 900, "desktop"), (390, 844, "phone")])
def test_after_a_failed_submit_the_summary_is_on_screen_focused_and_the_inventory_kept(
    live_server, browser, screenshot, tmp_path, width, height, name
):
    upload = tmp_path / "fleet.csv"
    upload.write_bytes(UPLOADED)
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=name == "phone"
    )
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Weekend")
    page.get_by_label("Current Octopus Server version").fill("two point six")
    page.get_by_label("Paste CSV").fill(PASTED)
    page.get_by_label("Or upload a CSV file").set_input_files(str(upload))

    page.get_by_role("button", name="Make the plan").click()

    heading = page.locator("#error-summary-heading")
    expect(heading).to_be_focused()
    expect(heading).to_be_in_viewport()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.get_by_label("Paste CSV")).to_have_value(PASTED)
    kept = page.get_by_label("The file you uploaded, kept as pasted text")
    expect(kept).to_have_value(UPLOADED.decode())
    expect(page.locator("#kept-file-note")).to_contain_text("fleet.csv")
    screenshot(page, f"paper-start-errors-{name}")
    page.screenshot(path=f"test-artifacts/screenshots/paper-start-errors-{name}-top.png")
    page.locator(".csv-inputs").screenshot(
        path=f"test-artifacts/screenshots/paper-start-errors-{name}-inventory.png"
    )

    # Each link reaches what it names: the field, or the CSV line's message.
    page.get_by_role("link", name="Current Octopus Server version:").click()
    expect(page.get_by_label("Current Octopus Server version")).to_be_focused()
    page.get_by_role("link", name="Uploaded file: Line 3").click()
    expect(page.locator("#file-error-1")).to_be_in_viewport()
    expect(page.locator("#file-error-1")).to_contain_text("sideways")
    assert Plan.objects.count() == 0

    # Fixed where it was kept, the inventory goes through without uploading again.
    page.get_by_label("Current Octopus Server version").fill("2.6.5")
    page.get_by_label("Paste CSV").fill("name\nweb-02\n")
    kept.fill("name;communication_style\napp-01;polling\napp-02;listening\n")
    page.get_by_role("button", name="Make the plan").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Weekend")
    assert Plan.objects.get().installation.tentacles.count() == 3
