import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_page_loads_htmx_without_csp_violations(live_server, page, phone_page, screenshot):
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if msg.type == "error" else None)

    response = page.goto(live_server.url + "/")

    assert response is not None and response.status == 200
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.get_by_role("heading", level=1).inner_text().startswith("Upgrade Octopus Deploy")
    assert violations == []
    screenshot(page, "home-laptop")

    phone_page.goto(live_server.url + "/")
    # Nothing on the page is wider than a phone screen.
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone_page, "home-phone")
