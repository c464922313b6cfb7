"""The plan page reads in order: one heading per phase of a hop, fleets where they belong, and
what a blocked step waits for with the canary machines named apart from the others."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step
from upgrade_planner.web.schedule import duration_words

pytestmark = pytest.mark.django_db

PHASE_HEADING = re.compile(
    r'<h3 class="phase-title">(?:<span class="hop-label">(Hop \d+)</span> )?([^<]+)</h3>'
)


def headings(body: str) -> list[tuple[str, str]]:
    return PHASE_HEADING.findall(body)


def new_server_plan():
    """A 2.6 new-server plan with a canary, a polling machine upgraded by hand, the 3.0.1
    reinstall and a custom service account: every kind of Tentacle work."""
    return create_plan(
        can_provision_new_server=True,
        target_version="3.0.1",
        uses_builtin_feed=True,
        tentacles=(
            *fleet(10),
            tentacle(
                "poll-01",
                communication_style="polling",
                restricted_permissions=True,
                service_account="CORP\\svc",
            ),
        ),
        new_server_url="https://octopus3.corp",
        old_server_url="https://octopus2.corp",
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"can_provision_new_server": False},
        {"can_provision_new_server": False, "approach": "manual"},
        {"server_version": "1.6", "target_version": "2.6.5"},
        {"server_version": "2019.3.1", "target_version": "2023.4.1", "ha_nodes": ("a", "b")},
    ],
    ids=["new-server", "in-place", "manual", "1.6", "ha-modern"],
)
def test_each_phase_heading_appears_once_per_hop(client, fields):
    created = create_plan(**fields) if fields else new_server_plan()

    found = headings(client.get(f"/p/{created.edit_token}/").content.decode())

    assert found
    assert len(found) == len(set(found)), found


def test_the_tentacle_phase_lists_the_canary_its_check_then_the_rest(client):
    created = new_server_plan()

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    section = body[body.index('id="checklist"') : body.index('id="tentacles"')]
    tentacles = section[section.index(">Upgrade the Tentacles</h3>") :]
    tentacles = tentacles[: tentacles.index('<h3 class="phase-title">')]
    order = [
        tentacles.index(marker)
        for marker in (
            "Set up Hydra on the 2.6 server",
            "Upgrade the canary Tentacles",
            "Verify the 2 canary machines before upgrading the rest",
            "Upgrade the other Tentacles",
            "Check the 2.6 server",
            "Re-point the polling Tentacles upgraded by hand",
        )
    ]
    assert order == sorted(order)


def test_waiting_for_names_canary_and_other_machines_apart(client):
    created = create_plan(can_provision_new_server=True, tentacles=fleet(12))
    canaries = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle", canary=True)
    others = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle", canary=False)
    first_canary = canaries.order_by("position").first()
    first_other = others.order_by("position").first()

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    cut_off = Step.objects.get(plan=created.plan, kind="verify-old-server-cut-off")
    card = body[body.index(f'id="step-{cut_off.id}"') :]
    waiting = re.search(r"<strong>Waiting for:</strong> ([^<]+)</p>", card).group(1)
    assert waiting == (
        f"Upgrade the {canaries.count()} canary machines ({first_canary.tentacle}, …); "
        f"Upgrade {others.count()} other machines ({first_other.tentacle}, …)"
    )


def test_once_the_canaries_are_done_the_wait_counts_only_the_rest(client):
    created = create_plan(can_provision_new_server=True, tentacles=fleet(12))
    plan = created.plan
    canaries = Step.objects.filter(plan=plan, kind="upgrade-tentacle", canary=True)
    for step in Step.objects.filter(plan=plan).order_by("position"):
        if step.kind == "upgrade-tentacle" and not step.canary:
            break
        step.refresh_from_db()
        if step.state == StepState.READY:
            services.step_complete(step_id=step.id, plan=plan, actor="Ana", confirmed=True)
    assert all(s.state == StepState.DONE for s in canaries.all())
    others = Step.objects.filter(plan=plan, kind="upgrade-tentacle", canary=False)

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    cut_off = Step.objects.get(plan=plan, kind="verify-old-server-cut-off")
    card = body[body.index(f'id="step-{cut_off.id}"') :]
    waiting = re.search(r"<strong>Waiting for:</strong> ([^<]+)</p>", card).group(1)
    first_other = others.order_by("position").first()
    assert waiting == f"Upgrade {others.count()} machines ({first_other.tentacle}, …)"
    assert "canary" not in waiting


def test_the_waiting_words_cost_the_same_queries_whatever_the_fleet_size(client):
    counts = []
    client.session.save()
    for size in (20, 600):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        with CaptureQueriesContext(connection) as queries:
            body = client.get(f"/p/{created.edit_token}/").content.decode()
        assert "canary machines (" in body
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


def test_sources_on_the_page_link_to_their_public_pages_in_a_new_tab(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12))
    backup = Step.objects.get(plan=created.plan, kind="backup-master-key")

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    card = body[body.index(f'id="step-{backup.id}"') :]
    card = card[: card.index("\n</li>")]
    url = "https://octopus.com/docs/" + backup.source.removeprefix("docs/").removesuffix(".md")
    assert f'<a href="{url}" target="_blank" rel="noopener"><code>{backup.source}</code>' in card
    warning = body[body.index('id="warning-wrong-order-strands-tentacles"') :]
    warning = warning[: warning.index("</li>")]
    assert 'target="_blank" rel="noopener"' in warning
    assert 'href="https://octopus.com/docs/' in warning
    printed = body[body.index('id="print-runbook"') :]
    assert f'<a href="{url}" target="_blank" rel="noopener">' in printed


def test_sources_in_the_markdown_export_are_links(client):
    created = create_plan()
    backup = Step.objects.get(plan=created.plan, kind="backup-master-key")

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    url = "https://octopus.com/docs/" + backup.source.removeprefix("docs/").removesuffix(".md")
    assert f"]({url})" in markdown


def test_the_migration_shows_one_duration_its_steps_estimate(client):
    created = create_plan(backup_size_mb=4000, tentacles=fleet(3))
    migrate = Step.objects.get(plan=created.plan, kind="migrate-data")
    low = created.plan.migration["duration_low_hours"]

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    words = duration_words(migrate.estimate_minutes)
    assert words != "0 min"
    path_card = body[
        body.index('id="path-heading"') : body.index("</section>", body.index('id="path-heading"'))
    ]
    assert f"Estimate: {words} — The upper end" in path_card
    card = body[body.index(f'id="step-{migrate.id}"') :]
    card = card[: card.index("\n</li>")]
    assert f"<strong>Estimate:</strong> {words} — The upper end" in card
    # The wording no longer states a duration of its own: only the estimate does.
    assert f"{low:g} hours" not in migrate.detail and "roughly" not in migrate.detail
    warning = body[body.index('id="warning-slow-migration"') :]
    warning = warning[: warning.index("</li>")]
    assert f"{low:g}" not in warning


def test_a_team_estimate_says_whose_it_is(client):
    created = create_plan()
    step = Step.objects.get(plan=created.plan, kind="backup-database")
    services.step_update(step_id=step.id, plan=created.plan, estimate_minutes=50, actor="Ana")

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    card = body[body.index(f'id="step-{step.id}"') :]
    assert "<strong>Estimate:</strong> 50 min — set by the team" in card[: card.index("\n</li>")]
