"""The start page and the plan page in headless Chromium, as a user goes through them."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.models import Plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def console_errors(page):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def test_filling_the_form_with_typed_rows_makes_a_plan(live_server, page, screenshot):
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Prod Octopus")
    page.get_by_label("Current Octopus Server version").fill("2.6.5.1581")
    page.get_by_label("A SQL Server for Octopus is ready").check()
    page.get_by_label("Tentacle 1 name").fill("web-01")
    page.get_by_label("Tentacle 1 hostname").fill("web-01.corp")
    page.get_by_role("button", name="+ Add a Tentacle").click()
    page.get_by_label("Tentacle 2 name").fill("app-01")
    page.get_by_label("Tentacle 2 communication style").select_option("polling")
    page.get_by_label("Tentacle 2 service account").fill("CORP\\svc-octo")
    screenshot(page, "start-filled")

    page.get_by_role("button", name="Make the plan").click()

    page.wait_for_url(re.compile(r"/p/[\w-]+/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Prod Octopus"
    assert page.get_by_text("Recommended approach").first.is_visible()
    assert errors == []
    screenshot(page, "plan-new-server")


def test_a_bad_csv_shows_line_and_column_and_saves_nothing(live_server, page, screenshot):
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Broken")
    page.get_by_label("Current Octopus Server version").fill("2.6.5")
    page.get_by_label("Paste CSV").fill("name,port\nweb-01,abc\nweb-01,10933\n")

    page.get_by_role("button", name="Make the plan").click()

    alert = page.locator("#csv-errors")
    assert "Line 2" in alert.inner_text()
    assert "Line 3" in alert.inner_text()
    assert page.url.rstrip("/") == live_server.url
    screenshot(page, "start-bad-csv")


def test_an_invalid_version_is_shown_next_to_its_field(live_server, page, phone_page, screenshot):
    for current, name in ((page, "start-bad-version"), (phone_page, "start-bad-version-phone")):
        current.goto(live_server.url + "/")
        current.get_by_label("Plan name").fill("Typo")
        current.get_by_label("Current Octopus Server version").fill("2.6")
        current.get_by_label("Current Octopus Server version").fill("v2.six")
        current.get_by_role("button", name="Make the plan").click()
        assert "v2.six" in current.locator("#server_version-errors").inner_text()
        screenshot(current, name)


def test_a_wrong_typed_row_is_named_beside_it_and_nothing_is_saved(
    live_server, page, phone_page, screenshot
):
    for current, name in ((page, "start-bad-row"), (phone_page, "start-bad-row-phone")):
        current.goto(live_server.url + "/")
        current.get_by_label("Plan name").fill("Typo")
        current.get_by_label("Current Octopus Server version").fill("2.6.5")
        current.get_by_label("Tentacle 1 name").fill("web-01")
        current.get_by_label("Tentacle 1 has restricted permissions").check()
        current.get_by_role("button", name="+ Add a Tentacle").click()
        current.get_by_label("Tentacle 2 name").fill("web-02")
        current.get_by_label("Tentacle 2 port").fill("99999")

        current.get_by_role("button", name="Make the plan").click()

        port = current.get_by_label("Tentacle 2 port")
        expect(port).to_have_value("99999")
        expect(port).to_have_attribute("aria-invalid", "true")
        expect(port).to_have_accessible_description(
            'Tentacle row 2, port: Port "99999" is not a number between 1 and 65535.'
        )
        expect(current.get_by_label("Tentacle 1 name")).to_have_value("web-01")
        expect(current.get_by_label("Tentacle 1 has restricted permissions")).to_be_checked()
        expect(current.get_by_label("Tentacle 1 environments")).to_have_accessible_description(
            "Environments: Separate several with “;”."
        )
        screenshot(current, name)
    assert Plan.objects.count() == 0


def test_rows_are_added_and_removed_without_javascript(live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("No script")
    page.get_by_label("Current Octopus Server version").fill("2.6.5")
    page.get_by_label("Tentacle 1 name").fill("old-01")
    page.get_by_role("button", name="+ Add a Tentacle").click()
    page.get_by_label("Tentacle 2 name").fill("web-01")
    page.get_by_role("button", name="+ Add a Tentacle").click()
    page.get_by_label("Tentacle 3 name").fill("app-01")
    page.get_by_label("Tentacle 3 communication style").select_option("polling")
    page.get_by_role("button", name="Remove Tentacle 1").click()
    expect(page.get_by_label("Tentacle 1 name")).to_have_value("web-01")

    page.get_by_role("button", name="Make the plan").click()

    page.wait_for_url(re.compile(r"/p/[\w-]+/$"))
    context.close()
    assert sorted(Tentacle.objects.values_list("name", "communication_style")) == [
        ("app-01", "polling"),
        ("web-01", "listening"),
    ]


def test_the_in_place_plan_page_with_a_mixed_fleet(live_server, page, phone_page, screenshot):
    tentacles = (
        tentacle("web-01", environments=("Production",)),
        tentacle("web-02", communication_style="polling", service_account="CORP\\svc"),
        tentacle("db-01", hostname="db.corp", roles=("sql",)),
        tentacle("db-01b", hostname="db.corp", roles=("sql",)),
        tentacle("legacy-01", online=False, environments=("Test",)),
        tentacle("locked-01", restricted_permissions=True),
        *fleet(30, prefix="app"),
    )
    created = create_plan(
        can_provision_new_server=False,
        uses_builtin_feed=True,
        backup_size_mb=800,
        tentacles=tentacles,
    )
    errors = console_errors(page)

    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    assert page.get_by_role("heading", name=re.compile("Recommended approach")).is_visible()
    assert page.locator("#warning-wrong-order-strands-tentacles").is_visible()
    assert page.get_by_role("button", name=re.compile("Copy the read-only link")).is_visible()
    assert errors == []
    screenshot(page, "plan-in-place")
    phone_page.goto(f"{live_server.url}/p/{created.edit_token}/")
    screenshot(phone_page, "plan-in-place-phone")


def test_the_plan_page_for_5000_tentacles_filters_searches_and_pages(live_server, page, screenshot):
    many = fleet(4000, prefix="web", environments=("Production",)) + fleet(
        1000, prefix="db", environments=("Staging",), roles=("sql",), communication_style="polling"
    )
    created = create_plan(tentacles=many)

    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    assert "page 1 of" in page.locator("#tentacles").inner_text()

    page.get_by_label("Environment").select_option("Staging")
    expect(page.locator("#tentacles")).to_contain_text("1000 steps match")
    page.get_by_label("Search").fill("db-0999")
    expect(page.locator("#tentacles")).to_contain_text("1 step match")
    assert page.locator(".tentacle-table tbody.machine").count() == 1
    screenshot(page, "plan-5000-filtered")

    page.goto(f"{live_server.url}/p/{created.edit_token}/?page=3")
    assert "page 3 of" in page.locator("#tentacles").inner_text()
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"page=4"))
    assert "page 4 of" in page.locator("#tentacles").inner_text()


def test_a_read_only_viewer_sees_progress_live_and_cannot_write(
    live_server, browser, browser_console, page, screenshot
):
    from upgrade_planner.domain.vocabulary import StepState
    from upgrade_planner.plans.models import Step

    created = create_plan(tentacles=fleet(4))
    viewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    viewer.goto(f"{live_server.url}/v/{created.view_token}/")
    assert viewer.get_by_role("button", name=re.compile("Mark “")).count() == 0
    assert viewer.locator("form[method=post]").count() == 0

    # The editor ticks a step; the viewer's page shows it without a reload.
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    step = Step.objects.filter(plan=created.plan, state=StepState.READY, tentacle="").first()
    page.get_by_role("button", name=f"Mark “{step.title}” done").click()
    expect(page.locator(f"#step-{step.id} .badge").first).to_have_text("Done")
    expect(viewer.locator(f"#step-{step.id} .badge").first).to_have_text("Done", timeout=10_000)
    screenshot(viewer, "plan-read-only-live")

    # A forged POST from the read-only page is refused, and nothing changes.
    # (CSRF refuses it before the link is looked up, as for any link.)
    browser_console.expect(r"Failed to load resource: .* status of 403")
    other = Step.objects.filter(plan=created.plan, state=StepState.READY, tentacle="").first()
    status = viewer.evaluate(
        "async (url) => (await fetch(url, {method: 'POST'})).status",
        f"/p/{created.view_token}/steps/{other.id}/complete",
    )
    assert status == 403
    other.refresh_from_db()
    assert other.state == StepState.READY
    viewer.context.close()


def test_pasting_csv_and_uploading_a_file_make_one_inventory(
    live_server, page, tmp_path, screenshot
):
    from upgrade_planner.installations.models import Tentacle

    upload = tmp_path / "fleet.csv"
    upload.write_text('name;communication_style;environments\napp-01;polling;"Prod;Test"\n')
    page.goto(live_server.url + "/")
    page.get_by_label("Plan name").fill("Mixed sources")
    page.get_by_label("Current Octopus Server version").fill("2.6.5")
    page.get_by_label("Paste CSV").fill("name,roles\ndb-01,sql\ndb-02,sql\n")
    page.get_by_label("Or upload a CSV file").set_input_files(str(upload))

    page.get_by_role("button", name="Make the plan").click()

    page.wait_for_url(re.compile(r"/p/[\w-]+/$"))
    assert sorted(Tentacle.objects.values_list("name", flat=True)) == ["app-01", "db-01", "db-02"]
    assert Tentacle.objects.get(name="app-01").environments == ["Prod", "Test"]
    expect(page.locator("#tentacles")).to_contain_text("app-01")
    screenshot(page, "plan-from-files")


def test_overriding_the_approach_re_plans_in_the_page(live_server, page, screenshot):
    created = create_plan(tentacles=fleet(12))
    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    expect(page.get_by_role("heading", name="Recommended approach: New server")).to_be_visible()

    page.get_by_label("Use another approach").select_option("in-place")
    page.get_by_role("button", name="Re-plan").click()

    expect(page.locator("#flash, .messages").first).to_contain_text(
        "Re-planned with the in-place approach"
    )
    expect(
        page.get_by_text("Your team chose In-place instead of the recommended New server")
    ).to_be_visible()
    expect(page.locator("#checklist")).to_contain_text("Install 3.17.14 over the 2.6 server")
    screenshot(page, "plan-overridden")
