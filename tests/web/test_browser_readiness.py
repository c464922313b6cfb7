"""The readiness report in headless Chromium, at desktop and phone width: a plan with two
inhibitors refuses the install step; a scan of the (fake) live server clears one, a person
accepts the other with a reason; then the install step starts. No console error on the way."""

import pytest
from playwright.sync_api import expect

from tests.factories import create_plan, finish_prerequisites
from tests.fake_octopus import FakeOctopus
from tests.web.test_browser_accessibility import snap
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import Finding, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}

# What the fake server reports: a host OS new enough for the target, and a license in date.
NEWER_HOST = {
    "/api/serverstatus/system-info": lambda q: (
        200,
        {"OSVersion": "Microsoft Windows NT 10.0.17763.0"},
    ),
    "/api/serverstatus": lambda q: (200, {"MaintenanceExpires": "2030-01-01T00:00:00Z"}),
}


@pytest.mark.parametrize("width", VIEWPORTS)
def test_two_inhibitors_one_cleared_by_a_scan_one_accepted_then_the_install_starts(
    live_server, browser, browser_console, eager_tasks, settings, width
):
    settings.VERIFY_HTTP_TIMEOUT = 2
    created = create_plan(
        server_version="2022.1",
        target_version="2024.1",
        sql_server_version="2014",
        server_os="Windows Server 2012",
        tentacles=(),
    )
    plan = created.plan
    install = Step.objects.of_plan(plan).filter(kind="upgrade-server-modern").get()
    finish_prerequisites(plan, install)
    with FakeOctopus(version="2022.1.2000", overrides=NEWER_HOST) as server:
        Installation.objects.filter(pk=plan.installation_id).update(
            old_server_url=server.url, old_server_api_key=api_keys.encrypt(server.api_key)
        )
        page = browser.new_context(viewport=VIEWPORTS[width], is_mobile=width == "phone").new_page()
        page.goto(f"{live_server.url}/p/{created.edit_token}/")

        report = page.locator("#readiness")
        expect(report.locator("#finding-host-os-below-floor")).to_contain_text("Open")
        expect(report.locator("#finding-sql-server-below-floor")).to_contain_text("Open")
        card = page.locator(f"#step-{install.id}")
        expect(card).to_contain_text("Inhibited by:")
        report.scroll_into_view_if_needed()
        snap(page, f"readiness-report-{width}")

        # The install step is refused, saying why and what to do.
        card.scroll_into_view_if_needed()
        card.get_by_role("button", name="Start").click()
        expect(card).to_contain_text("is inhibited by the readiness report")
        snap(page, f"readiness-refused-{width}")

        # A scan of the live server reads a newer host OS: that inhibitor is cleared.
        report.scroll_into_view_if_needed()
        report.get_by_role("button", name="Scan the servers").click()
        expect(report.locator("#finding-host-os-below-floor")).to_contain_text("Cleared")
        expect(report.locator("#finding-sql-server-below-floor")).to_contain_text("Open")

    # The other is accepted with a reason.
    sql = report.locator("#finding-sql-server-below-floor")
    sql.get_by_text("Accept with a reason…").click()
    sql.get_by_label("Why is it safe to go ahead anyway?").fill(
        "SQL Server 2019 goes in first thing in the window; rehearsed on staging"
    )
    sql.get_by_label("Your name").fill("Ana")
    sql.get_by_role("button", name="Accept").click()
    expect(sql).to_contain_text("Accepted by Ana")
    expect(card).not_to_contain_text("Inhibited by:")
    sql.scroll_into_view_if_needed()
    snap(page, f"readiness-accepted-{width}")

    card.scroll_into_view_if_needed()
    card.get_by_role("button", name="Start").click()
    expect(card).to_contain_text("In progress")
    snap(page, f"readiness-allowed-{width}")

    install.refresh_from_db()
    assert install.state == "in-progress"
    states = dict(Finding.objects.filter(plan=plan).values_list("code", "state"))
    assert states["host-os-below-floor"] == "cleared"
    assert states["sql-server-below-floor"] == "accepted"
