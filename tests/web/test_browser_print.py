"""The plan page printed to PDF by Chromium (A4 and Letter), read back with pypdf: a runbook
with every step's instructions, every machine by name, who did what and when, and lines for
initials; no controls, filters, share boxes or forms."""

import io
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.factories import create_plan, fleet, tentacle
from tests.web.test_browser_flows import console_errors
from upgrade_planner.plans import services
from upgrade_planner.plans.exports import runbook_for_plan
from upgrade_planner.plans.models import Plan, Step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = "test-artifacts/screenshots"


def squeezed(text: str) -> str:
    """`text` without whitespace, and with the PDF's ligatures (ﬁ) as letters: a PDF breaks
    lines where the page does, not where the text did."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def shown_lines(detail: str) -> list[str]:
    """The lines of a step's instructions as the page shows them: without the list numbers,
    the ``` fences, the backticks and the ** of the plain-text source."""
    lines = []
    for line in detail.splitlines():
        line = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line).replace("`", "").replace("**", "")
        if line.strip() and not line.startswith("```"):
            lines.append(line)
    return lines


def pdf_text(page, paper: str) -> tuple[str, int]:
    """The text of the page printed on `paper`, in the order it reads on the sheets (pypdf's
    layout mode; its plain mode puts a page's commands after its prose), and the sheet count."""
    reader = PdfReader(io.BytesIO(page.pdf(format=paper, print_background=False)))
    pages = [sheet.extract_text(extraction_mode="layout") for sheet in reader.pages]
    return "\n".join(pages), len(pages)


def plan_for_the_night(machines: int) -> tuple[Plan, str]:
    """A new-server plan for `machines` Tentacles plus a polling one and two with custom
    service accounts: the license key backed up by Ana, the SQL Server check skipped by Bo."""
    created = create_plan(
        name="Weekend upgrade",
        tentacles=(
            *fleet(machines, prefix="web"),
            tentacle("db-01", communication_style="polling", service_account="CORP\\svc-db"),
            tentacle("db-02", service_account="CORP\\svc-db"),
        ),
    )
    plan = created.plan
    steps = {s.kind: s for s in Step.objects.filter(plan=plan, tentacle="")}
    services.step_complete(step_id=steps["backup-license-key"].id, plan=plan, actor="Ana")
    services.step_skip(
        step_id=steps["prepare-sql-server"].id, plan=plan, actor="Bo", reason="DBA checked it"
    )
    plan.refresh_from_db()
    return plan, created.edit_token


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_printed_plan_holds_every_instruction_and_every_machine_by_name(
    live_server, browser, paper
):
    plan, token = plan_for_the_night(500)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = console_errors(page)
    page.goto(f"{live_server.url}/p/{token}/")

    text, pages = pdf_text(page, paper)

    printed = squeezed(text)
    runbook = runbook_for_plan(plan)
    groups = [e.group for phase in runbook.phases for e in phase.entries if e.group]
    names = {machine.tentacle for group in groups for machine in group.machines}
    assert len(names) == 502
    for step in runbook.steps:
        if not step.tentacle:
            assert squeezed(step.title) in printed, step.title
            for line in shown_lines(step.detail):
                assert squeezed(line) in printed, (step.title, line)
        assert squeezed(step.tentacle) in printed  # every machine, none left on another page
    for group in groups:
        for line in shown_lines(group.detail):
            assert squeezed(line) in printed, (group.title, line)
    # Who did what and when, and a line for initials where a step is not finished.
    assert squeezed("Done — completed by Ana,") in printed
    assert squeezed("Skipped — skipped by Bo,") in printed and "DBAcheckedit" in printed
    unfinished = sum(not step.finished for step in runbook.steps)
    assert printed.count("InitialsTime") == unfinished > 500
    # No controls, filters, share boxes or forms.
    for control in ("Share this plan", "Replace this link", "Mark selected done", "Your name"):
        assert squeezed(control) not in printed
    assert "Filter" not in text and "Re-plan" not in text
    assert pages > 3
    assert errors == []


def test_the_first_printed_pages_read_well(live_server, browser, screenshot):
    _, token = plan_for_the_night(12)
    page = browser.new_page(viewport={"width": 794, "height": 1123})  # A4 at 96 dpi
    page.goto(f"{live_server.url}/p/{token}/")

    page.emulate_media(media="print")

    runbook = page.locator("#print-runbook")
    assert runbook.is_visible()
    for hidden in ("#checklist", "#tentacles", ".share", ".actor", "#inventory-update"):
        assert not page.locator(hidden).first.is_visible(), hidden
    assert page.locator("#stop-now details p").first.is_visible()  # closed on screen
    screenshot(page, "paper-print-emulated")
    # The real pages, to look at: the PDF, and its first pages as pictures where poppler's
    # pdftoppm is installed.
    folder = Path(SCREENSHOTS)
    for paper in ("A4", "Letter"):
        pdf = folder / f"paper-print-{paper.lower()}.pdf"
        pdf.write_bytes(page.pdf(format=paper))
        if shutil.which("pdftoppm"):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "4", pdf, pdf.with_suffix("")],
                check=True,
            )


def test_a_page_left_open_says_on_paper_when_the_plan_has_moved_on(live_server, browser):
    plan, token = plan_for_the_night(3)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/p/{token}/")
    page.emulate_media(media="print")
    assert not page.locator(".print-stale-note").is_visible()

    master_key = Step.objects.get(plan=plan, kind="backup-master-key")
    services.step_complete(step_id=master_key.id, plan=plan, actor="Cy")
    expect(page.locator("#print-runbook")).to_have_attribute("data-stale", "true", timeout=10_000)

    assert page.locator(".print-stale-note").is_visible()
