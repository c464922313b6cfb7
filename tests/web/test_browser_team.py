"""A team on the plan page in headless Chromium, at desktop and phone width: the first change
asks for a name in a dialog and goes through with it; an assignee set from a card answers in
place; the dialog passes axe-core's WCAG 2.1 A/AA rules."""

import pytest
from playwright.sync_api import expect

from tests.factories import create_plan, fleet
from tests.web.test_browser_accessibility import blocking_violations, snap
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Activity, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("width", VIEWPORTS)
def test_the_first_change_asks_for_a_name_once_and_the_card_says_who_did_it(
    live_server, browser, width
):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(4))
    first, second = Step.objects.filter(
        plan=created.plan, state=StepState.READY, tentacle=""
    ).order_by("position")[:2]
    page = browser.new_context(
        viewport=VIEWPORTS[width], is_mobile=width == "phone", named=False
    ).new_page()
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    card = page.locator(f"#step-{first.id}")
    card.scroll_into_view_if_needed()
    card.get_by_role("button", name="Done").click()
    dialog = page.get_by_role("dialog", name="Who is making this change?")
    expect(dialog).to_be_visible()
    assert blocking_violations(page) == []
    snap(page, f"team-name-dialog-{width}")
    dialog.get_by_label("Your name").fill("Ana")
    dialog.get_by_role("button", name="Save and carry on").click()

    expect(card).to_contain_text("Done by Ana")
    assert Activity.objects.get(step=first, to_state=StepState.DONE).actor == "Ana"
    snap(page, f"team-card-done-{width}")

    # Asked once: the next change, after a reload, goes straight through with the name.
    page.reload()
    other = page.locator(f"#step-{second.id}")
    other.scroll_into_view_if_needed()
    other.get_by_role("button", name="Start").click()
    expect(other).to_contain_text("Started")
    expect(dialog).to_be_hidden()
    assert Activity.objects.get(step=second, to_state=StepState.IN_PROGRESS).actor == "Ana"


@pytest.mark.parametrize("width", VIEWPORTS)
def test_an_assignee_set_from_the_card_answers_in_place(live_server, browser, width):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(4))
    step = Step.objects.filter(plan=created.plan, state=StepState.READY, tentacle="").first()
    page = browser.new_context(viewport=VIEWPORTS[width], is_mobile=width == "phone").new_page()
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    card = page.locator(f"#step-{step.id}")
    card.scroll_into_view_if_needed()
    card.get_by_text("Assign…").click()
    card.get_by_label("Who does this step?").fill("Bo")
    before = card.bounding_box()["y"]
    card.get_by_role("button", name="Save").click()

    expect(card).to_contain_text("Assigned to Bo")
    assert abs(card.bounding_box()["y"] - before) < 40  # no jump
    assert Step.objects.get(pk=step.pk).assignee == "Bo"
    snap(page, f"team-assigned-{width}")

    page.goto(f"{live_server.url}/p/{created.edit_token}/?mine=1#checklist")
    expect(page.locator(f"#step-{step.id}")).to_have_count(0)  # Bo's, not Tester's
