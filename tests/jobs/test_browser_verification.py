"""A step confirmed by a verification job shows up on an open page without a reload."""

import pytest
from playwright.sync_api import expect

from tests.factories import finish_prerequisites, installation
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_verified_step_appears_on_every_open_page(
    live_server, browser, page, screenshot, octopus
):
    created = services.plan_create(
        name="Verified live",
        installation=installation(new_server_url=octopus.url),
        new_server_api_key=octopus.api_key,
    )
    install = Step.objects.get(plan=created.plan, kind="install-server-new-machine")
    finish_prerequisites(created.plan, install)
    viewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    viewer.goto(f"{live_server.url}/v/{created.view_token}/")
    expect(viewer.locator(f"#step-{install.id} .badge").first).to_have_text("Ready")

    page.goto(f"{live_server.url}/p/{created.edit_token}/")
    page.get_by_role("button", name="Check now").click()

    expect(page.locator(f"#step-{install.id} .badge").first).to_have_text("Done")
    expect(viewer.locator(f"#step-{install.id} .badge").first).to_have_text("Done", timeout=10_000)
    expect(viewer.locator(f"#step-{install.id} .evidence")).to_contain_text(
        "reports Octopus 3.17.14"
    )
    screenshot(page, "plan-verified-editor")
    screenshot(viewer, "plan-verified-viewer")
    viewer.context.close()
