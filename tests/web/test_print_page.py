"""The printable runbook on a page of its own (/p/<token>/print, /v/<token>/print): the same
runbook the plan page prints, behind the same links, following the plan's version; and the plan
page of a big plan pointing there instead of carrying the runbook inline."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from tests.factories import create_plan, fleet
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step
from upgrade_planner.web import pages

pytestmark = pytest.mark.django_db

RUNBOOK = re.compile(r'<section id="print-runbook".*?</section>', re.S)


def runbook_of(html: str) -> str:
    found = RUNBOOK.search(html)
    assert found is not None, "no printed runbook"
    return found.group(0)


def test_the_print_page_answers_for_the_edit_link_and_the_read_only_link(client: Client):
    created = create_plan(tentacles=fleet(3))
    for url in (
        f"/p/{created.edit_token}/print",
        f"/v/{created.view_token}/print",
        f"/v/{created.edit_token}/print",  # as the plan page: /v/ takes either link
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert created.plan.name in body
        # Shown on screen: the section is not hidden as the plan page's is.
        assert re.search(r'<section id="print-runbook" class="print-runbook" data-version', body)
        assert "css/print.css" in body and 'media="screen"' in body
        assert "<form" not in body


def test_the_addresses_are_the_named_routes():
    assert reverse("plan-print", kwargs={"token": "abc"}) == "/p/abc/print"
    assert reverse("plan-view-print", kwargs={"token": "abc"}) == "/v/abc/print"


def test_unknown_and_replaced_links_answer_as_the_plan_page_does(client: Client):
    created = create_plan(tentacles=fleet(2))
    assert client.get("/p/not-a-plan-token-at-all-here/print").status_code == 404
    assert client.get("/v/not-a-plan-token-at-all-here/print").status_code == 404
    # /p/ is for edit links only: a read-only token is unknown there.
    assert client.get(f"/p/{created.view_token}/print").status_code == 404
    assert client.get(f"/p/{created.edit_token}/print").status_code == 200

    services.link_rotate(plan=created.plan, kind="edit")
    services.link_rotate(plan=created.plan, kind="view")

    for url in (f"/p/{created.edit_token}/print", f"/v/{created.view_token}/print"):
        assert client.get(url).status_code == 410, url
        assert client.get(url.removesuffix("print")).status_code == 410, url
    # A replaced read-only link on /p/ is still unknown there, as on the plan page.
    assert client.get(f"/p/{created.view_token}/print").status_code == 404


def test_the_print_page_holds_every_step_and_every_machine_by_name(client: Client):
    created = create_plan(tentacles=fleet(7, prefix="app"))
    printed = runbook_of(client.get(f"/v/{created.view_token}/print").content.decode())

    for step in Step.objects.filter(plan=created.plan, tentacle=""):
        assert escape(step.title) in printed
    for number in range(1, 8):
        assert f"app-{number:04d}" in printed
    # The same runbook the plan page prints, but for the attribute that hides it on screen.
    inline = runbook_of(client.get(f"/p/{created.edit_token}/").content.decode())
    assert printed == inline.replace(' hidden data-version="', ' data-version="', 1)


def test_the_print_page_follows_the_plans_version(client: Client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/print"
    before = runbook_of(client.get(url).content.decode())
    step = Step.objects.filter(plan=created.plan, tentacle="", state="ready").first()
    assert step is not None
    version = created.plan.version
    assert f'data-version="{version}"' in before
    client.get(url)  # a second view of the version: from the cache

    services.step_complete(step_id=step.id, plan=created.plan, actor="Ana")

    for after_url in (url, f"/v/{created.view_token}/print"):
        after = runbook_of(client.get(after_url).content.decode())
        assert f'data-version="{version + 1}"' in after
        assert re.search(rf"{re.escape(step.title)}</h4>\s*<p class=\"print-status\">.*?☑", after)
        assert "completed by Ana" in after


def test_the_print_page_costs_the_same_queries_whatever_the_fleet_size(client: Client):
    first, again = [], []
    for size in (20, 2000):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        url = f"/v/{created.view_token}/print"
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert f"web-{size:04d}" in response.content.decode()
        first.append(len(queries))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        again.append(len(queries))

    assert first[0] == first[1], first
    assert again[0] == again[1], again
    # A second view of a version reads the link and the plan, not the runbook again.
    assert again[0] < first[0]
    assert again[0] <= 3, again


def test_a_big_plans_page_prints_a_notice_and_links_to_the_print_page(client: Client, monkeypatch):
    monkeypatch.setattr(pages, "PRINT_INLINE_STEPS", 10)
    created = create_plan(tentacles=fleet(12))
    assert Step.objects.filter(plan=created.plan).count() > 10

    for url, print_url in (
        (f"/p/{created.edit_token}/", f"/p/{created.edit_token}/print"),
        (f"/v/{created.view_token}/", f"/v/{created.view_token}/print"),
    ):
        body = client.get(url).content.decode()
        assert 'id="print-runbook"' not in body
        notice = re.search(r'<section id="print-elsewhere".*?</section>', body, re.S)
        assert notice is not None
        assert " hidden>" in notice.group(0)  # on paper only (static/css/print.css)
        assert f'href="{print_url}"' in notice.group(0)
        exports = re.search(r'<div class="exports no-print">.*?</div>', body, re.S)
        assert exports is not None
        assert f'<a class="button secondary small" href="{print_url}">Printable runbook</a>' in (
            exports.group(0)
        )
    # The print page of that plan has the whole runbook.
    printed = runbook_of(client.get(f"/v/{created.view_token}/print").content.decode())
    assert "web-0012" in printed


def test_a_small_plans_page_keeps_its_runbook_and_gains_the_link(client: Client):
    created = create_plan(tentacles=fleet(12))
    body = client.get(f"/p/{created.edit_token}/").content.decode()

    assert 'id="print-runbook"' in body
    assert 'id="print-elsewhere"' not in body
    assert f'href="/p/{created.edit_token}/print">Printable runbook</a>' in body
    view = client.get(f"/v/{created.view_token}/").content.decode()
    assert f'href="/v/{created.view_token}/print">Printable runbook</a>' in view


def test_the_threshold_is_the_steps_of_the_plan_not_the_page_shown(client: Client, monkeypatch):
    created = create_plan(tentacles=fleet(12))
    steps = Step.objects.filter(plan=created.plan).count()
    monkeypatch.setattr(pages, "PRINT_INLINE_STEPS", steps)
    assert 'id="print-runbook"' in client.get(f"/p/{created.edit_token}/").content.decode()
    monkeypatch.setattr(pages, "PRINT_INLINE_STEPS", steps - 1)
    # Another view of the page (the whole-page cache holds the first).
    body = client.get(f"/p/{created.edit_token}/", {"page": 2}).content.decode()
    assert 'id="print-runbook"' not in body and 'id="print-elsewhere"' in body
