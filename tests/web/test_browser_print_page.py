"""The printable runbook page in Chromium: a plan too big to carry its runbook inline is
printed from there (to PDF, read back with pypdf), and the page reads well on screen first."""

import pytest
from playwright.sync_api import expect

from tests.web.test_browser_flows import console_errors
from tests.web.test_browser_print import pdf_text, plan_for_the_night, shown_lines, squeezed
from upgrade_planner.plans.exports import runbook_for_plan
from upgrade_planner.web import pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_big_plan_is_printed_from_its_printable_runbook_page(
    live_server, browser, screenshot, monkeypatch
):
    monkeypatch.setattr(pages, "PRINT_INLINE_STEPS", 10)
    plan, token = plan_for_the_night(12)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = console_errors(page)
    page.goto(f"{live_server.url}/p/{token}/")

    # The plan page carries no runbook, but says on paper where to print it from.
    assert page.locator("#print-runbook").count() == 0
    expect(page.locator("#print-elsewhere")).to_be_hidden()
    page.emulate_media(media="print")
    expect(page.locator("#print-elsewhere")).to_be_visible()
    page.emulate_media(media="screen")

    page.get_by_role("link", name="Printable runbook").first.click()
    expect(page).to_have_url(f"{live_server.url}/p/{token}/print")
    # Readable on screen before printing.
    expect(page.locator("#print-runbook")).to_be_visible()
    expect(page.get_by_role("link", name="← Back to the plan")).to_be_visible()
    screenshot(page, "print-page-screen")

    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="← Back to the plan")).to_be_hidden()
    text, sheets = pdf_text(page, "A4")

    printed = squeezed(text)
    runbook = runbook_for_plan(plan)
    migrate = next(step for step in runbook.steps if step.kind == "migrate-data")
    assert squeezed(migrate.title) in printed
    assert squeezed(shown_lines(migrate.detail)[0]) in printed
    assert "web-0012" in printed and "db-02" in printed
    assert "Backtotheplan" not in printed  # the page's own link does not print
    assert sheets > 1
    assert errors == []
