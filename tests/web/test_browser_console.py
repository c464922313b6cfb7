"""No page logs an error or breaks its Content Security Policy, whatever a user does: every
browser test fails on a console error (the `browser_console` fixture in tests/conftest.py)."""

import re

import pytest
from playwright.sync_api import expect

from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Plan, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_csp_violation_in_a_page_is_caught_by_the_browser_tests(
    live_server, page, browser_console
):
    page.goto(live_server.url + "/")

    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.evaluate("0")  # a round trip hands over the console message

    violations = [seen for seen in browser_console.seen if "Content Security Policy" in seen]
    assert violations, browser_console.seen
    assert page.evaluate("getComputedStyle(document.body).color") != "rgb(255, 0, 0)"
    browser_console.expect("Content Security Policy")  # caused on purpose above


def test_making_a_plan_ticking_a_step_and_reloading_log_no_console_error(live_server, page):
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Console check")
    page.get_by_label("Current Octopus Server version").fill("2.6.5.1581")
    page.get_by_label("A SQL Server for Octopus is ready").check()
    page.get_by_label("Tentacle 1 name").fill("web-01")
    page.get_by_role("button", name="+ Add a Tentacle").click()
    page.get_by_label("Tentacle 2 name").fill("app-01")
    page.get_by_role("button", name="Make the plan").click()
    page.wait_for_url(re.compile(r"/p/[\w-]+/$"))
    plan = Plan.objects.get(name="Console check")
    ready = Step.objects.filter(plan=plan, state=StepState.READY, tentacle="").first()

    page.get_by_role("button", name=f"Mark “{ready.title}” done").click()
    expect(page.locator(f"#step-{ready.id} .badge").first).to_have_text("Done")
    page.reload()
    blocked = Step.objects.filter(plan=plan, state=StepState.BLOCKED, tentacle="").first()
    locked = page.locator(f"#step-{blocked.id}")

    expect(locked).to_contain_text("Locked until its prerequisites are done.")
    assert locked.get_by_role("button", name=re.compile("done|Start")).count() == 0
    ready.refresh_from_db()
    assert ready.state == StepState.DONE


# What a screenshot does to a page's text fields (Playwright hides the caret), and what password
# managers and other extensions do too: an inline style set through the CSSOM, which the CSP
# allows. htmx then copied that `style` attribute onto the swapped-in element with the same id,
# which the CSP refuses: "Applying inline style violates ... 'style-src 'self''", with the hash
# of "caret-color: transparent !important;".
STYLE_THE_FIELDS = """
document.querySelectorAll("input, textarea").forEach(
  (field) => field.style.setProperty("caret-color", "transparent", "important"));
"""


def test_a_swap_after_something_styled_the_fields_logs_no_csp_violation(
    live_server, page, screenshot
):
    # The path where three violations were seen: fill the start form, make the plan, tick a
    # step, reload and try a blocked step, with screenshots along the way.
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Styled fields")
    page.get_by_label("Current Octopus Server version").fill("2.6.5.1581")
    page.get_by_label("A SQL Server for Octopus is ready").check()
    page.get_by_label("Tentacle 1 name").fill("web-01")
    page.evaluate(STYLE_THE_FIELDS)
    page.get_by_role("button", name="+ Add a Tentacle").click()
    page.get_by_label("Tentacle 2 name").fill("app-01")
    screenshot(page, "console-start-filled")
    page.get_by_role("button", name="Make the plan").click()
    page.wait_for_url(re.compile(r"/p/[\w-]+/$"))
    plan = Plan.objects.get(name="Styled fields")
    ready = Step.objects.filter(plan=plan, state=StepState.READY, tentacle="").first()
    screenshot(page, "console-plan-new")

    page.evaluate(STYLE_THE_FIELDS)
    page.get_by_role("button", name=f"Mark “{ready.title}” done").click()
    expect(page.locator(f"#step-{ready.id} .badge").first).to_have_text("Done")
    page.reload()
    page.evaluate(STYLE_THE_FIELDS)
    blocked = Step.objects.filter(plan=plan, state=StepState.BLOCKED).exclude(tentacle="").first()
    page.get_by_label(f"Select “{blocked.title}”").first.check()
    # A blocked machine cannot be marked done, so that is not offered; excluding it without the
    # reason an exclusion needs is refused in place.
    expect(page.get_by_role("button", name="Mark done", exact=True)).to_be_disabled()
    page.get_by_role("button", name="Exclude", exact=True).click()
    expect(page.locator("#bulk-outcome.message-error")).to_be_visible()
    screenshot(page, "console-blocked-tried")
    page.evaluate("0")  # a round trip hands over any console message

    blocked.refresh_from_db()
    assert blocked.state == StepState.BLOCKED
