"""Issue 14's advice on the page, in headless Chromium: an HA plan, an in-place plan, and the
start page asking for the new server's polling port only when there is a new server."""

import pytest
from playwright.sync_api import expect

from tests.factories import create_plan, fleet, tentacle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_ha_plan_shows_each_nodes_steps(live_server, page, screenshot):
    created = create_plan(
        server_version="2023.1.0", target_version="2023.3.1", ha_nodes=("octo-a", "octo-b")
    )

    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    expect(page.get_by_text("Stop node octo-a").first).to_be_visible()
    expect(page.get_by_text("Upgrade node octo-a to 2023.3.1 first").first).to_be_visible()
    expect(page.get_by_text("Start node octo-b").first).to_be_visible()
    screenshot(page, "plan-ha-nodes")


def test_an_in_place_plan_has_no_point_of_no_return_on_the_server_install(
    live_server, page, screenshot
):
    tentacles = (*fleet(12), tentacle("locked", restricted_permissions=True))
    created = create_plan(can_provision_new_server=False, tentacles=tentacles)

    page.goto(f"{live_server.url}/p/{created.edit_token}/")

    install = page.locator("li.step", has_text="Install 3.17.14 over the 2.6 server")
    expect(install.first).to_be_visible()
    expect(install.locator(".no-return-badge")).to_have_count(0)
    expect(page.get_by_text("<new-server>")).to_have_count(0)
    screenshot(page, "plan-in-place-no-return")


def test_the_polling_port_is_asked_only_when_there_is_a_new_server(live_server, page, screenshot):
    page.goto(live_server.url + "/")
    port = page.get_by_label("Polling port of the new server")
    expect(port).to_be_visible()

    page.get_by_label("We can provision a new server for Octopus").uncheck()
    expect(port).to_be_hidden()
    screenshot(page, "start-no-new-server")

    page.get_by_label("Approach").select_option("new-server")
    expect(port).to_be_visible()
    page.get_by_label("Approach").select_option("in-place")
    expect(port).to_be_hidden()
