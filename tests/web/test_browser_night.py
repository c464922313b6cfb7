"""Running the night from the plan page in headless Chromium: every action answers in place,
bulk work reaches every matching machine, and the live view says when it has stopped."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def snap(page, name, *, full_page=False):
    """A full-page screenshot that leaves the page as it was: the default hides the caret by
    giving inputs a style attribute, which htmx would then copy into swapped-in inputs and
    the page's CSP refuse. The viewport by default: what the person sees after the click."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page, caret="initial")


def ready_plan_wide(plan):
    return (
        Step.objects.filter(plan=plan, state=StepState.READY, tentacle="")
        .order_by("position")
        .first()
    )


def top_of(page, selector):
    return page.locator(selector).bounding_box()["y"]


def assert_stays_in_view(page, selector, before, viewport):
    after = top_of(page, selector)
    assert abs(after - before) < 40, (before, after)
    assert 0 <= after < viewport["height"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_done_start_skip_and_reopen_answer_next_to_the_step_without_a_jump(
    live_server, browser, viewport
):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(60))
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    name = "desktop" if viewport is DESKTOP else "phone"

    # Done on the first ready step.
    step = ready_plan_wide(created.plan)
    card = f"#step-{step.id}"
    page.locator(card).scroll_into_view_if_needed()
    before = top_of(page, card)
    page.get_by_role("button", name=f"Mark “{step.title}” done").click()
    expect(page.locator(f"{card} [data-outcome]")).to_have_text(f"Done: {step.title}")
    expect(page.locator(f"{card} .badge").first).to_have_text("Done")
    assert_stays_in_view(page, card, before, viewport)
    expect(page.locator(f"{card} [data-outcome]")).to_be_focused()
    expect(page.locator("#flash")).to_contain_text(f"Done: {step.title}")
    snap(page, f"night-done-{name}")

    # Reopen it, with a reason.
    before = top_of(page, card)
    page.get_by_text("Reopen…").first.click()
    page.locator(f"#reopen-{step.id}").fill("wrong file")
    page.get_by_role("button", name=f"Confirm reopening “{step.title}”").click()
    expect(page.locator(f"{card} [data-outcome]")).to_have_text(f"Reopened: {step.title}")
    assert_stays_in_view(page, card, before, viewport)

    # Start, then skip an optional step or exclude a machine.
    before = top_of(page, card)
    page.get_by_role("button", name=f"Start “{step.title}”").click()
    expect(page.locator(f"{card} [data-outcome]")).to_have_text(f"Started: {step.title}")
    assert_stays_in_view(page, card, before, viewport)

    machine = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle").order_by("position")[
        2
    ]
    row = f"#step-{machine.id}"
    page.locator(row).scroll_into_view_if_needed()
    before = top_of(page, row)
    page.locator(row).get_by_text("Exclude…").click()
    page.locator(f"#skip-{machine.id}").fill("retired")
    page.get_by_role("button", name=f"Confirm skipping “{machine.title}”").click()
    expect(page.locator(f"{row} [data-outcome]")).to_have_text(f"Skipped: {machine.title}")
    assert_stays_in_view(page, row, before, viewport)
    snap(page, f"night-excluded-{name}")


def test_a_stale_click_says_why_next_to_the_control(live_server, page):
    created = create_plan(tentacles=fleet(5))
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    step = ready_plan_wide(created.plan)
    # Someone else finishes it before this page hears of it (its polls hear "unchanged").
    page.route(re.compile(r".*/poll.*"), lambda route: route.fulfill(status=304))
    services.step_complete(step_id=step.id, plan=created.plan, actor="Ana")

    card = f"#step-{step.id}"
    page.locator(card).scroll_into_view_if_needed()
    before = top_of(page, card)
    page.get_by_role("button", name=f"Mark “{step.title}” done").click()

    outcome = page.locator(f"{card} [data-outcome]")
    expect(outcome).to_contain_text("is done; it cannot complete from there")
    assert outcome.is_visible()
    assert_stays_in_view(page, card, before, DESKTOP)
    snap(page, "night-stale-refused")


def test_a_replaced_link_stops_polling_and_says_so(live_server, browser):
    created = create_plan(tentacles=fleet(3))
    viewer = browser.new_context(viewport=DESKTOP).new_page()
    polls = []
    viewer.on("request", lambda r: polls.append(r.url) if "/poll" in r.url else None)
    viewer.goto(f"{live_server.url}/v/{created.view_token}/")
    viewer.wait_for_timeout(3500)
    assert polls, "the page polls while its link is current"

    services.link_rotate(plan=created.plan, kind="view", actor="Ana")

    expect(viewer.locator("#poller")).to_contain_text("This link was replaced", timeout=8000)
    expect(viewer.locator("#live-note")).to_contain_text("This link was replaced")
    counted = len(polls)
    viewer.wait_for_timeout(7000)
    assert len(polls) == counted, polls[counted:]
    snap(viewer, "night-link-replaced")


def test_a_finished_plan_does_not_poll(live_server, page):
    created = create_plan(server_version="2019.1.0", target_version="2019.13.7", tentacles=())
    for step in Step.objects.filter(plan=created.plan).order_by("position"):
        services.step_skip(
            step_id=step.id, plan=created.plan, reason="done elsewhere"
        ) if step.optional else services.step_complete(
            step_id=step.id, plan=created.plan, confirmed=True
        )
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/poll" in r.url else None)

    page.goto(f"{live_server.url}/v/{created.view_token}/")

    expect(page.locator("#poller")).to_contain_text("Every step is finished")
    page.wait_for_timeout(4000)
    assert polls == []


def test_a_dropped_connection_says_reconnecting_and_recovers(live_server, page, browser_console):
    created = create_plan(tentacles=fleet(3))
    browser_console.expect(
        r"net::ERR_FAILED|htmx:sendError|htmx:afterRequest|Failed to load resource"
    )
    page.goto(f"{live_server.url}/v/{created.view_token}/")
    page.route(re.compile(r".*/poll.*"), lambda route: route.abort())

    expect(page.locator("#connection")).to_be_visible(timeout=8000)
    expect(page.locator("#connection")).to_contain_text("Reconnecting")
    snap(page, "night-reconnecting")

    page.unroute(re.compile(r".*/poll.*"))
    expect(page.locator("#connection")).to_be_hidden(timeout=8000)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_bulk_select_all_matching_excludes_every_page_and_offers_only_common_actions(
    live_server, browser, viewport
):
    created = create_plan(tentacles=fleet(130))
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{live_server.url}/p/{created.edit_token}/?kind=upgrade-tentacle#tentacles")
    bar = page.locator("#bulk-form")
    done = bar.get_by_role("button", name="Mark done")
    exclude = bar.get_by_role("button", name="Exclude")

    # Nothing selected: nothing offered. Every upgrade is blocked: only excluding is common.
    expect(exclude).to_be_disabled()
    bar.get_by_label(re.compile(r"All 130 steps matching these filters, on all 3 pages")).check()
    expect(exclude).to_be_enabled()
    expect(done).to_be_disabled()

    before = top_of(page, "#bulk-form")
    page.get_by_label("Reason (needed to exclude or reopen)").fill("retired")
    exclude.click()

    expect(page.locator("#bulk-outcome")).to_have_text("130 excluded.")
    expect(page.locator("#bulk-outcome")).to_be_focused()
    assert_stays_in_view(page, "#bulk-form", before, viewport)
    upgrades = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")
    assert upgrades.filter(state=StepState.SKIPPED).count() == 130
    snap(page, f"night-bulk-{'desktop' if viewport is DESKTOP else 'phone'}")


def test_ticking_rows_offers_only_what_every_ticked_row_allows(live_server, page):
    created = create_plan(tentacles=fleet(4))
    first, second = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")[:2]
    services.step_skip(step_id=first.id, plan=created.plan, reason="retired")
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    bar = page.locator("#bulk-form")

    page.get_by_label(f"Select “{first.title}”").check()
    expect(bar.get_by_role("button", name="Reopen")).to_be_enabled()
    expect(bar.get_by_role("button", name="Exclude")).to_be_disabled()
    page.get_by_label(f"Select “{second.title}”").check()  # blocked: no action in common
    for name in ("Reopen", "Exclude", "Mark done", "Start"):
        expect(bar.get_by_role("button", name=name)).to_be_disabled()
    snap(page, "night-bulk-ticked")
