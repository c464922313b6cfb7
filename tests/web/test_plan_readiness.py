"""The readiness report on the plan page, on paper and in the Markdown export (product.md §5.6):
inhibitors first, each with its fix; an open inhibitor accepted from the page with a reason;
the step it guards says what inhibits it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import create_plan, finish_prerequisites, fleet
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import Activity, Finding, Job, Step

pytestmark = pytest.mark.django_db

INHIBITORS = ("host-os-below-floor", "sql-server-below-floor")


def modern_plan(**fields):
    """A 2022.1 → 2024.1 upgrade on a host OS and a SQL Server below the target's floors."""
    fields.setdefault("tentacles", ())
    return create_plan(
        server_version="2022.1",
        target_version="2024.1",
        sql_server_version="2014",
        server_os="Windows Server 2012",
        **fields,
    )


def install_step(plan) -> Step:
    return Step.objects.of_plan(plan).filter(kind="upgrade-server-modern").get()


def accept_url(token: str, code: str) -> str:
    return reverse("finding-accept", kwargs={"token": token, "code": code})


def test_the_report_lists_inhibitors_first_each_with_its_fix_and_source(client):
    created = modern_plan()
    findings = list(Finding.objects.filter(plan=created.plan))
    assert {f.code for f in findings if f.severity == "inhibitor"} >= set(INHIBITORS)
    others = [f for f in findings if f.severity != "inhibitor"]

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    report = body[body.index('id="readiness"') :]
    report = report[: report.index("</section>")]
    positions = {f.code: report.index(f'id="finding-{f.code}"') for f in findings}
    last_inhibitor = max(positions[code] for code in INHIBITORS)
    assert all(positions[f.code] > last_inhibitor for f in others)
    sql = Finding.objects.get(plan=created.plan, code="sql-server-below-floor")
    assert sql.what_to_do.split()[0] in report
    assert "Accept with a reason…" in report
    assert '<a href="#readiness">Readiness' in body  # in the section nav
    assert "scan cannot read the live server" in report  # no server URL and key were given


def test_accepting_an_inhibitor_from_the_page_records_who_and_why(client):
    created = modern_plan()
    token = created.edit_token

    response = client.post(
        accept_url(token, "sql-server-below-floor"),
        {
            "reason": "SQL Server 2019 is installed next week",
            "actor": "Ana",
            "next": f"/p/{token}/",
        },
    )

    assert response.status_code == 302
    finding = Finding.objects.get(plan=created.plan, code="sql-server-below-floor")
    assert finding.state == "accepted"
    assert (finding.accepted_by, finding.accepted_reason) == (
        "Ana",
        "SQL Server 2019 is installed next week",
    )
    assert Activity.objects.filter(
        plan=created.plan, action="finding-accepted", actor="Ana"
    ).exists()
    page = client.get(response.url).content.decode()
    assert "Accepted “sql-server-below-floor”" in page
    assert "SQL Server 2019 is installed next week" in page


def test_accepting_with_htmx_answers_with_the_report_and_the_changed_sections(client):
    created = modern_plan()

    response = client.post(
        accept_url(created.edit_token, "host-os-below-floor"),
        {"reason": "Host replaced during the window", "actor": "Ana"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#readiness"
    body = response.content.decode()
    assert body.startswith('\n<section id="readiness"') or body.lstrip().startswith(
        '<section id="readiness"'
    )
    assert "Host replaced during the window" in body
    assert 'id="activity"' in body  # the activity log changed: out of band
    assert Finding.objects.get(plan=created.plan, code="host-os-below-floor").state == "accepted"


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_reason_is_refused_naming_the_field(client, reason):
    created = modern_plan()
    token = created.edit_token

    response = client.post(accept_url(token, "sql-server-below-floor"), {"reason": reason})

    assert response.status_code == 302
    assert Finding.objects.get(plan=created.plan, code="sql-server-below-floor").state == "open"
    assert not Activity.objects.filter(plan=created.plan, action="finding-accepted").exists()
    page = client.get(response.url).content.decode()
    report = page[page.index('id="readiness"') :]
    assert "The reason is required" in report[: report.index("</section>")]


def test_an_unknown_finding_is_404(client):
    created = modern_plan()

    response = client.post(accept_url(created.edit_token, "no-such-finding"), {"reason": "x"})

    assert response.status_code == 404


def test_the_read_only_link_shows_no_accept_form_and_cannot_accept(client):
    created = modern_plan()

    page = client.get(f"/v/{created.view_token}/").content.decode()
    refused = client.post(accept_url(created.view_token, "sql-server-below-floor"), {"reason": "x"})

    assert 'id="readiness"' in page
    assert "Accept with a reason" not in page and "Scan the servers" not in page
    assert refused.status_code == 404
    assert Finding.objects.get(plan=created.plan, code="sql-server-below-floor").state == "open"


def test_the_inhibited_install_step_says_what_inhibits_it_and_its_refusal_what_to_do(client):
    created = modern_plan()
    step = install_step(created.plan)
    finish_prerequisites(created.plan, step)
    sql = Finding.objects.get(plan=created.plan, code="sql-server-below-floor")

    page = client.get(f"/p/{created.edit_token}/").content.decode()
    card = page[page.index(f'id="step-{step.id}"') :]
    card = card[: card.index("</li>")]
    assert "Inhibited by:" in card and sql.text in card

    refused = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/start", {"next": f"/p/{created.edit_token}/"}
    )
    shown = client.get(refused.url).content.decode()
    assert "is inhibited by the readiness report" in shown
    assert "What to do:" in shown
    step.refresh_from_db()
    assert step.state == "ready"


def test_once_every_inhibitor_is_accepted_the_install_step_starts(client):
    created = modern_plan()
    step = install_step(created.plan)
    finish_prerequisites(created.plan, step)
    for code in INHIBITORS:
        client.post(accept_url(created.edit_token, code), {"reason": "Accepted by the board"})

    page = client.get(f"/p/{created.edit_token}/").content.decode()
    client.post(f"/p/{created.edit_token}/steps/{step.id}/start")

    card = page[page.index(f'id="step-{step.id}"') :]
    assert "Inhibited by:" not in card[: card.index("</li>")]
    step.refresh_from_db()
    assert step.state == "in-progress"


def test_scanning_without_a_server_url_and_key_says_so(client):
    created = modern_plan()

    response = client.post(reverse("readiness-scan", kwargs={"token": created.edit_token}))

    page = client.get(response.url).content.decode()
    assert "URL and an API key (of a user who may view the server" in page
    assert not Job.objects.filter(plan=created.plan).exists()


def test_scanning_with_a_server_url_and_key_queues_a_read_only_scan(client):
    created = modern_plan()
    Installation.objects.filter(pk=created.plan.installation_id).update(
        old_server_url="http://127.0.0.1:9", old_server_api_key=api_keys.encrypt("API-TEST")
    )

    response = client.post(reverse("readiness-scan", kwargs={"token": created.edit_token}))

    assert Job.objects.filter(plan=created.plan, kind="readiness-scan").count() == 1
    page = client.get(response.url).content.decode()
    assert "Scanning the server (read-only)" in page


def test_the_page_with_findings_costs_the_same_queries_whatever_the_fleet_size(client):
    counts = []
    client.session.save()
    for size in (5, 400):
        created = modern_plan(tentacles=fleet(size))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/p/{created.edit_token}/")
        assert response.status_code == 200
        assert "Inhibited by:" in response.content.decode() or 'id="readiness"' in (
            response.content.decode()
        )
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


def test_the_markdown_export_carries_the_report_inhibitors_first_with_who_accepted_why(client):
    created = modern_plan()
    client.post(
        accept_url(created.edit_token, "host-os-below-floor"),
        {"reason": "New host is racked", "actor": "Ana"},
    )

    markdown = client.get(reverse("api:export_markdown", args=[created.edit_token])).content
    text = markdown.decode()

    report = text[text.index("## Readiness report") : text.index("## Schedule")]
    lines = [line for line in report.splitlines() if line.startswith("- **")]
    severities = [line.split("**")[1] for line in lines]
    assert severities == sorted(severities, key=["Inhibitor", "Warning", "Info"].index)
    assert "- **Inhibitor** (accepted)" in report
    assert "Accepted by Ana" in report and "because: New host is racked" in report
    assert "- **Inhibitor** (open)" in report
    assert "What to do:" in report
    assert text.index("## Readiness report") < text.index("## Checklist")


def test_the_printed_runbook_carries_the_report_with_who_accepted_why(client):
    created = modern_plan()
    client.post(
        accept_url(created.edit_token, "sql-server-below-floor"),
        {"reason": "Upgrade of SQL booked", "actor": "Ana"},
    )

    page = client.get(f"/p/{created.edit_token}/").content.decode()

    printed = page[page.index('id="print-runbook"') :]
    report = printed[
        printed.index('class="print-readiness"') : printed.index('class="print-phase"')
    ]
    assert report.index("Inhibitor") < report.index("What to do:")
    assert "Accepted by Ana" in report and "Upgrade of SQL booked" in report
