"""WCAG 2.1 A and AA, checked by axe-core (bundled by the axe-playwright-python package) in
headless Chromium at desktop and phone width: the start page, the start page after a failed
submit, the edit page and the read-only page have no critical or serious violation."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.conftest import ARTIFACTS
from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}
# The WCAG 2.1 A and AA rules, and the check that a control's name holds its visible words
# (WCAG 2.5.3, "label in name"), which axe-core counts as experimental and leaves out unless
# asked.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "rules": {"label-content-name-mismatch": {"enabled": True}},
    "resultTypes": ["violations"],
}
BLOCKING = {"critical", "serious"}


def blocking_violations(page: Any) -> list[str]:
    """Each critical or serious violation, with the elements at fault."""
    results = Axe().run(page, options=AXE_OPTIONS)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
            found.append(f"{violation['id']} ({violation['impact']}): {targets[:5]}")
    return found


def open_page(browser: Any, width_name: str) -> Any:
    width, height = VIEWPORTS[width_name]
    return browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=width_name == "phone"
    ).new_page()


def snap(page: Any, name: str) -> None:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret styles inputs, which the page's CSP would refuse.
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False, caret="initial")


def a_plan_in_progress() -> services.CreatedPlan:
    """A plan with warnings of every severity, Tentacles, and steps done and assigned."""
    created = create_plan(
        tentacles=(*fleet(12), tentacle("db-01", communication_style="polling")),
        can_provision_new_server=False,
    )
    first = Step.objects.filter(plan=created.plan, state="ready", tentacle="").first()
    assert first is not None
    services.step_update(plan=created.plan, step_id=first.id, assignee="Ana")
    services.step_complete(step_id=first.id, plan=created.plan, actor="Ana")
    return created


@pytest.mark.parametrize("width", VIEWPORTS)
def test_the_start_page_has_no_serious_accessibility_violation(live_server, browser, width):
    page = open_page(browser, width)
    page.goto(live_server.url + "/")

    found = blocking_violations(page)
    assert not found, "\n".join(found)
    snap(page, f"team-a11y-start-{width}")


@pytest.mark.parametrize("width", VIEWPORTS)
def test_the_start_page_with_errors_has_no_serious_accessibility_violation(
    live_server, browser, width
):
    page = open_page(browser, width)
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Weekend")
    page.get_by_label("Current Octopus Server version").fill("two point six")
    page.get_by_label("Paste CSV").fill("name,port\nweb-02,abc\n")
    page.get_by_role("button", name="Make the plan").click()
    page.locator("#error-summary-heading").wait_for()

    found = blocking_violations(page)
    assert not found, "\n".join(found)
    snap(page, f"team-a11y-start-errors-{width}")


@pytest.mark.parametrize("width", VIEWPORTS)
def test_the_edit_page_has_no_serious_accessibility_violation(live_server, browser, width):
    created = a_plan_in_progress()
    page = open_page(browser, width)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    found = blocking_violations(page)
    assert not found, "\n".join(found)
    snap(page, f"team-a11y-edit-{width}")


@pytest.mark.parametrize("width", VIEWPORTS)
def test_the_read_only_page_has_no_serious_accessibility_violation(live_server, browser, width):
    created = a_plan_in_progress()
    page = open_page(browser, width)
    page.goto(f"{live_server.url}/v/{created.view_token}/")

    found = blocking_violations(page)
    assert not found, "\n".join(found)
    snap(page, f"team-a11y-view-{width}")
