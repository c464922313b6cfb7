"""The plan page, the read-only page and the start page on a phone (390 by 844) and a laptop
(1366 by 900), in headless Chromium: nothing wider than the screen, the checklist one tap from
the top, the warnings one line each and worst first, the Tentacle table as cards, and every
control big enough to tap."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.plans.models import Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
TAP = 44  # px, WCAG 2.5.5's target size and Apple's and Google's guidance
SEVERITY_ORDER = ("critical", "high", "medium", "info")

# Elements, and runs of text, whose right edge passes the viewport's, among those the page
# renders. The skip link waits off-screen to the left; visually hidden text is a 1 px box.
WIDER_THAN_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  const hidden = (element) => element.closest(".visually-hidden, .skip-link");
  const name = (element) => `${element.tagName.toLowerCase()}#${element.id}.${element.className}`;
  // Text cut off with "…" by a box that hides its overflow ends where that box ends.
  const clippedAt = (element) => {
    let right = Infinity;
    for (let at = element; at && at !== document.body; at = at.parentElement) {
      if (["hidden", "clip"].includes(getComputedStyle(at).overflowX)) {
        right = Math.min(right, at.getBoundingClientRect().right);
      }
    }
    return right;
  };
  const found = [];
  for (const element of document.querySelectorAll("body *")) {
    const box = element.getBoundingClientRect();
    if (box.width && box.height && !hidden(element) && box.right > width + 0.5) {
      found.push(`${name(element)} ends at ${Math.round(box.right)} of ${width}`);
    }
  }
  const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (texts.nextNode()) {
    const parent = texts.currentNode.parentElement;
    if (!parent || hidden(parent) || parent.closest("input, textarea, select")) continue;
    range.selectNodeContents(texts.currentNode);
    const box = range.getBoundingClientRect();
    if (box.width && Math.min(box.right, clippedAt(parent)) > width + 0.5) {
      found.push(`text “${texts.currentNode.textContent.trim().slice(0, 40)}” in ` +
        `${name(parent)} ends at ${Math.round(box.right)} of ${width}`);
    }
  }
  return found.slice(0, 10);
}"""

# Controls a finger has to hit, as rendered, with their size.
TAP_TARGETS = """(selector) => [...document.querySelectorAll(selector)].filter((element) => {
  const box = element.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== "hidden"
    && !element.closest(".visually-hidden");
}).map((element) => {
  const box = element.getBoundingClientRect();
  const said = element.getAttribute("aria-label") || element.name || element.textContent;
  return {what: `${element.tagName.toLowerCase()} “${said.trim().slice(0, 40)}”`,
          width: box.width, height: box.height};
})"""
CONTROLS = (
    "button, a.button, .section-nav a, .pagination a, .filter-buttons a, .exports a, "
    ".reason-form > summary, .step-detail > summary, .fold > summary, .warning summary, "
    "label.checkbox, label.tick, input[type=checkbox]:not(label input)"
)


def mixed_plan():
    """Thirteen warnings (three critical) and 36 machines, the plan the phone was tried with."""
    tentacles = (
        tentacle("web-01", environments=("Production",)),
        tentacle("web-02", communication_style="polling", service_account="CORP\\svc"),
        tentacle("db-01", hostname="db.corp", roles=("sql",)),
        tentacle("db-01b", hostname="db.corp", roles=("sql",)),
        tentacle("legacy-01", online=False, environments=("Test",)),
        tentacle("locked-01", restricted_permissions=True),
        *fleet(30, prefix="app"),
    )
    return create_plan(
        can_provision_new_server=False,
        uses_builtin_feed=True,
        backup_size_mb=800,
        tentacles=tentacles,
    )


def open_page(browser, viewport):
    return browser.new_context(viewport=viewport).new_page()


def snap(page, name, *, full_page=False):
    """A screenshot that leaves the page as it was (the default caret hiding adds a style
    attribute that htmx would copy and the CSP refuse)."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page, caret="initial")


def open_every_details(page):
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")


def assert_nothing_wider_than_the_screen(page, viewport):
    assert page.evaluate("window.innerWidth") == viewport["width"]
    assert page.evaluate(WIDER_THAN_SCREEN) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def small_targets(page):
    return [
        target
        for target in page.evaluate(TAP_TARGETS, CONTROLS)
        if target["height"] < TAP - 0.5 or target["width"] < TAP - 0.5
    ]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_page_is_wider_than_the_screen_even_with_everything_open(live_server, browser, viewport):
    created = mixed_plan()
    page = open_page(browser, viewport)
    name = "phone" if viewport is PHONE else "desktop"
    for path, label in (
        (f"/p/{created.edit_token}/", "plan"),
        (f"/v/{created.view_token}/", "read-only"),
        ("/", "start"),
    ):
        page.goto(live_server.url + path)
        assert_nothing_wider_than_the_screen(page, viewport)
        snap(page, f"{name}-after-{label}-top")
        open_every_details(page)
        assert_nothing_wider_than_the_screen(page, viewport)


def test_the_start_page_with_errors_and_several_rows_fits_a_phone(live_server, browser):
    page = open_page(browser, PHONE)
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Typo")
    page.get_by_label("Current Octopus Server version").fill("2.6.5")
    page.get_by_label("Tentacle 1 name").fill("web-01")
    page.get_by_role("button", name="+ Add a Tentacle").click()
    page.get_by_label("Tentacle 2 name").fill("web-02")
    page.get_by_label("Tentacle 2 port").fill("99999")
    page.get_by_role("button", name="Make the plan").click()

    port = page.get_by_label("Tentacle 2 port")
    expect(port).to_have_attribute("aria-invalid", "true")
    assert_nothing_wider_than_the_screen(page, PHONE)
    # Each row is a card with every field under its visible label, all inside the screen.
    box = port.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert small_targets(page) == []
    port.scroll_into_view_if_needed()
    snap(page, "phone-after-start-errors")


def test_the_checklist_is_one_tap_from_the_top_of_a_phone(live_server, browser):
    created = mixed_plan()
    page = open_page(browser, PHONE)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    nav = page.get_by_role("navigation", name="Sections of this plan")
    expect(nav).to_be_in_viewport()
    nav.get_by_role("link", name="Checklist").click()

    heading = page.get_by_role("heading", name="Checklist", exact=True)
    expect(heading).to_be_in_viewport()
    nav_box, heading_box = nav.bounding_box(), heading.bounding_box()
    assert nav_box is not None and heading_box is not None
    assert heading_box["y"] >= nav_box["y"] + nav_box["height"] - 1  # not under the nav
    snap(page, "phone-after-checklist-tap")

    # Further down the page the nav is still at the top of the screen: one tap back.
    page.locator("#activity").scroll_into_view_if_needed()
    expect(nav).to_be_in_viewport()
    assert nav.bounding_box()["y"] == pytest.approx(0, abs=1)
    nav.get_by_role("link", name="Checklist").click()
    expect(heading).to_be_in_viewport()

    # Before the checklist, the share box, the name box, the rollback card and the checks
    # take a line each: the checklist starts within a few screens of the top.
    page.evaluate("window.scrollTo(0, 0)")
    for folded in (".share details.fold", ".actor-box", "#verification details.fold"):
        box = page.locator(folded).bounding_box()
        assert box is not None and box["height"] < 80, (folded, box)
    assert not page.get_by_role("button", name="Copy the read-only link").is_visible()
    page.evaluate("document.querySelector('.share').scrollIntoView()")
    snap(page, "phone-after-folded-cards")
    page.get_by_text("Share this plan").click()
    expect(page.get_by_role("button", name="Copy the read-only link")).to_be_visible()


def test_on_a_laptop_the_share_box_and_the_checks_stand_open(live_server, browser):
    created = mixed_plan()
    page = open_page(browser, DESKTOP)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    expect(page.get_by_role("button", name="Copy the read-only link")).to_be_visible()
    expect(page.get_by_role("button", name="Save name")).to_be_visible()
    expect(page.get_by_role("button", name="Check now")).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections of this plan")).to_be_visible()
    snap(page, "desktop-after-plan-top")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_warnings_are_one_line_each_and_worst_first(live_server, browser, viewport):
    created = mixed_plan()
    warnings = created.plan.warnings
    assert len(warnings) > 10 and {w["severity"] for w in warnings} >= {"critical", "medium"}
    page = open_page(browser, viewport)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    summaries = page.locator(".warning-list > li > details > summary")
    expect(summaries).to_have_count(len(warnings))
    shown = summaries.locator(".badge").all_inner_texts()
    ranks = [SEVERITY_ORDER.index(text.strip().lower()) for text in shown]
    assert ranks == sorted(ranks) and ranks[0] == 0
    line = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.warning-text')).lineHeight)"
    )
    for summary in summaries.all():
        box = summary.bounding_box()
        assert box is not None and TAP - 0.5 <= box["height"] < 2 * line, box
        text = summary.locator(".warning-text").bounding_box()
        assert text is not None and text["height"] < 1.5 * line  # one line, cut with "…"
    expect(page.get_by_text("What to do:").first).to_be_hidden()

    first = page.locator(".warning-list > li").first
    first.locator("summary").click()
    expect(first.get_by_text("What to do:")).to_be_visible()
    expect(first.locator(".warning-text")).to_have_text(warnings[0]["text"])
    assert_nothing_wider_than_the_screen(page, viewport)
    page.locator("#warnings").scroll_into_view_if_needed()
    snap(page, f"{'phone' if viewport is PHONE else 'desktop'}-after-warnings")


def test_the_warnings_print_in_full(live_server, browser):
    created = mixed_plan()
    page = open_page(browser, {"width": 794, "height": 1123})
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    page.emulate_media(media="print")

    for warning in created.plan.warnings:
        item = page.locator(f"#warning-{warning['code']}")
        expect(item.get_by_text("What to do:")).to_be_visible()
        expect(item.locator(".warning-text")).to_have_text(warning["text"])
    # Not cut to one line on paper: the text's box holds all of it.
    cut = page.evaluate(
        "[...document.querySelectorAll('.warning-text')]"
        ".filter((text) => text.scrollWidth > text.clientWidth + 1).length"
    )
    assert cut == 0
    assert not page.locator(".section-nav").is_visible()
    snap(page, "paper-warnings-emulated", full_page=True)


@pytest.mark.parametrize("read_only", [False, True], ids=["edit", "read-only"])
def test_every_control_is_big_enough_to_tap_on_a_phone(live_server, browser, read_only):
    created = mixed_plan()
    page = open_page(browser, PHONE)
    token = created.view_token if read_only else created.edit_token
    page.goto(f"{live_server.url}/{'v' if read_only else 'p'}/{token}/")
    open_every_details(page)  # the reason forms, the share box, the paste box, the warnings

    assert small_targets(page) == []
    labels = page.evaluate(TAP_TARGETS, "label.checkbox, label.tick")
    if not read_only:
        assert len(labels) > 10  # the rows' checkboxes and the confirmations were measured
    page.goto(live_server.url + "/")
    assert small_targets(page) == []


def test_the_tentacle_cards_show_their_actions_without_sideways_scrolling(live_server, browser):
    created = mixed_plan()
    page = open_page(browser, PHONE)
    page.goto(f"{live_server.url}/p/{created.edit_token}/?kind=upgrade-tentacle#tentacles")

    machine = (
        Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")
        .exclude(tentacle="")
        .order_by("position")
        .first()
    )
    card = page.locator(f"#step-{machine.id}")
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    # Name, host, state, its actions and its instructions, each within the screen's width.
    for part in (
        card.get_by_text(machine.tentacle, exact=True),
        card.locator("td[data-label='Host']"),
        card.locator("td[data-label='State'] .badge"),
        card.get_by_text("Exclude…"),
        card.get_by_label(f"Select “{machine.title}”"),
        card.get_by_text(f"What to do on {machine.tentacle}"),
    ):
        expect(part).to_be_visible()
        part_box = part.bounding_box()
        assert part_box is not None
        assert part_box["x"] >= 0 and part_box["x"] + part_box["width"] <= PHONE["width"]
    expect(card.locator("td[data-label='Host']")).to_contain_text(f"{machine.tentacle}.corp")
    assert page.evaluate("document.querySelector('.table-scroll').scrollWidth") <= PHONE["width"]
    snap(page, "phone-after-tentacle-cards")


def test_a_step_action_on_a_phone_keeps_its_card_in_view(live_server, browser):
    created = mixed_plan()
    page = open_page(browser, PHONE)
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    nav_height = page.locator(".section-nav").bounding_box()["height"]

    step = (
        Step.objects.filter(plan=created.plan, state="ready", tentacle="")
        .order_by("position")
        .first()
    )
    card = page.locator(f"#step-{step.id}")
    page.get_by_role("navigation", name="Sections of this plan").get_by_role(
        "link", name="Checklist"
    ).click()
    card.scroll_into_view_if_needed()
    before = card.bounding_box()["y"]
    page.get_by_role("button", name=f"Mark “{step.title}” done").click()
    expect(card.locator("[data-outcome]")).to_have_text(f"Done: {step.title}")
    after = card.bounding_box()["y"]
    assert abs(after - before) < 40, (before, after)
    assert nav_height - 1 <= after < PHONE["height"] - TAP  # below the nav, on the screen
    expect(card.locator("[data-outcome]")).to_be_in_viewport()
    snap(page, "phone-after-step-done")

    machine = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle").order_by("position")[
        1
    ]
    row = page.locator(f"#step-{machine.id}")
    row.scroll_into_view_if_needed()
    before = row.bounding_box()["y"]
    row.get_by_text("Exclude…").click()
    page.locator(f"#skip-{machine.id}").fill("retired")
    page.get_by_role("button", name=f"Confirm skipping “{machine.title}”").click()
    expect(row.locator("[data-outcome]")).to_have_text(re.compile(r"^Skipped: "))
    after = row.bounding_box()["y"]
    assert abs(after - before) < 40, (before, after)
    assert 0 <= after < PHONE["height"]
    expect(row.locator("[data-outcome]")).to_be_in_viewport()
    assert_nothing_wider_than_the_screen(page, PHONE)
    snap(page, "phone-after-machine-excluded")
