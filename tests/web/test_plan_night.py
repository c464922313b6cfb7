"""Running the night from the plan page: actions answer in place (and, without JavaScript, at
the step's anchor), per-machine instructions, bulk actions on everything a filter matches,
and polling that stops when there is nothing more to follow."""

import re

import pytest

from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Step, StepDependency

pytestmark = pytest.mark.django_db


def first_ready(plan):
    return (
        Step.objects.filter(plan=plan, state=StepState.READY, tentacle="")
        .order_by("position")
        .first()
    )


def sent_with_actions(body: str) -> dict[str, str]:
    """What the page's #fingerprints sends along with every action."""
    return dict(re.findall(r'<input type="hidden" name="((?:fp-[\w-]+)|seen)" value="(\w+)"', body))


def test_an_htmx_done_answers_with_its_card_the_outcome_inside_and_the_unblocked_next_step(
    client,
):
    created = create_plan(tentacles=fleet(3))
    step = first_ready(created.plan)
    dependents = set(
        StepDependency.objects.filter(prerequisite=step).values_list("step_id", flat=True)
    )
    page = client.get(f"/p/{created.edit_token}/").content.decode()

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete",
        sent_with_actions(page),
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    card = re.match(
        rf'\s*<li class="step card state-border-done" id="step-{step.id}">.*?</li>', body, re.S
    )
    assert card, body[:300]
    assert f"Done: {step.title}</p>" in card.group(0)
    assert "HX-Retarget" not in response
    assert '<section id="checklist"' not in body  # the card, not the whole checklist
    for dependent in dependents:
        assert f'id="step-{dependent}" hx-swap-oob="true"' in body
    assert re.search(r'<div id="flash" aria-live="polite" hx-swap-oob="true">.*Done: ', body, re.S)
    assert f'data-version="{created.plan.version + 1}" hx-swap-oob="true"' in body
    assert Step.objects.get(pk=step.pk).state == StepState.DONE


def test_a_blocked_click_in_place_says_what_it_waits_for_inside_the_card(client):
    created = create_plan()
    blocked = Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="").first()
    page = client.get(f"/p/{created.edit_token}/").content.decode()

    response = client.post(
        f"/p/{created.edit_token}/steps/{blocked.id}/complete",
        sent_with_actions(page),
        HTTP_HX_REQUEST="true",
    )

    # The card ends where its own closing tag starts a line (its instructions may hold lists).
    card = re.match(
        rf'\s*<li [^>]*id="step-{blocked.id}">.*?\n</li>', response.content.decode(), re.S
    )
    assert "is blocked. Waiting for:" in card.group(0)
    assert 'class="outcome message message-error' in card.group(0)
    assert Step.objects.get(pk=blocked.pk).state == StepState.BLOCKED


def test_a_stale_click_swaps_every_card_of_its_section_so_the_page_catches_up(client):
    created = create_plan(tentacles=fleet(3))
    step = first_ready(created.plan)
    page = client.get(f"/p/{created.edit_token}/").content.decode()
    services.step_complete(step_id=step.id, plan=created.plan, actor="Ana")  # someone else

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete",
        sent_with_actions(page),
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    assert "is done; it cannot complete from there" in body.split("</li>")[0]
    plan_wide = Step.objects.filter(plan=created.plan, tentacle="").exclude(pk=step.pk)
    for other in plan_wide:
        assert f'id="step-{other.id}" hx-swap-oob="true"' in body


def test_without_javascript_a_click_returns_to_the_steps_anchor_with_the_message_there(client):
    created = create_plan()
    step = first_ready(created.plan)

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete",
        {"next": f"/p/{created.edit_token}/#step-{step.id}"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/#step-{step.id}"
    page = client.get(response["Location"]).content.decode()
    card = re.search(rf'<li [^>]*id="step-{step.id}">.*?</li>', page, re.S).group(0)
    assert f"Done: {step.title}" in card
    flash = re.search(r'<div id="flash".*?</div>', page, re.S).group(0)
    assert "Done:" not in flash


def test_an_action_through_a_replaced_link_is_refused_next_to_its_control(client):
    created = create_plan()
    step = first_ready(created.plan)
    services.link_rotate(plan=created.plan, kind="edit")

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete", HTTP_HX_REQUEST="true"
    )

    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    assert f'hx-swap-oob="beforeend:#controls-{step.id}"' in body
    assert "This link was replaced" in body and "hx-trigger" not in body
    assert Step.objects.get(pk=step.pk).state == StepState.READY


def test_a_finished_plan_renders_no_poller_and_its_last_poll_stops_polling(client):
    created = create_plan(server_version="2019.1.0", target_version="2019.13.7", tentacles=())
    steps = list(Step.objects.filter(plan=created.plan).order_by("position"))
    for step in steps[:-1]:
        services.step_skip(step_id=step.id, plan=created.plan, reason="elsewhere") if (
            step.optional
        ) else services.step_complete(step_id=step.id, plan=created.plan)
    version = (
        Step.objects.get(pk=steps[-1].pk)
        and created.plan.__class__.objects.get(pk=created.plan.pk).version
    )
    assert 'hx-trigger="every 3s"' in client.get(f"/v/{created.view_token}/").content.decode()

    services.step_complete(step_id=steps[-1].id, plan=created.plan)
    poll = client.get(f"/v/{created.view_token}/poll", {"v": version})

    assert poll.status_code == 286
    assert "Every step is finished" in poll.content.decode()
    page = client.get(f"/v/{created.view_token}/").content.decode()
    assert 'hx-trigger="every 3s"' not in page


def test_each_tentacle_row_opens_its_own_instructions_with_its_host_filled_in(client):
    created = create_plan(
        tentacles=(tentacle("app-01", hostname="app-01.corp", service_account="CORP\\svc-app"),)
    )
    steps = Step.objects.filter(plan=created.plan, tentacle="app-01")

    page = client.get(f"/p/{created.edit_token}/").content.decode()

    for step in steps:
        row = re.search(rf'<tbody id="step-{step.id}".*?</tbody>', page, re.S).group(0)
        assert "What to do on app-01" in row
        assert "app-01.corp" in step.detail
        assert "app-01.corp" in row.split("machine-instructions")[1]
    account = steps.get(kind="reconfigure-service-account")
    assert "CORP\\svc-app" in account.detail and "CORP\\svc-app" in page


def test_a_fleet_card_names_its_first_machines_and_links_to_the_table_filtered_to_it(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(30))

    page = client.get(f"/p/{created.edit_token}/").content.decode()

    other = re.search(
        r'<li class="step card fleet" id="fleet-[^"]*-upgrade-tentacle-all".*?</li>', page, re.S
    ).group(0)
    assert "and " in other and " more" in other
    link = re.search(r'href="([^"]*kind=upgrade-tentacle[^"]*)"', other).group(1)
    filtered = client.get(link.replace("&amp;", "&")).content.decode()
    canaries = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle", canary=True)
    shown = re.findall(r'<tbody id="step-', filtered)
    others = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle", canary=False)
    assert len(shown) == others.count()
    assert not any(f'id="step-{c.id}"' in filtered for c in canaries)
    assert "Upgrade the other Tentacles" in filtered


def test_the_bulk_form_holds_no_other_form_and_rows_join_it_by_the_form_attribute(client):
    created = create_plan(tentacles=fleet(3))

    page = client.get(f"/p/{created.edit_token}/").content.decode()

    bulk = re.search(r'<form id="bulk-form".*?</form>', page, re.S).group(0)
    assert "<form" not in bulk[5:]
    rows = Step.objects.filter(plan=created.plan).exclude(tentacle="").count()
    assert page.count('form="bulk-form"') == rows  # a checkbox on each per-Tentacle row


def test_exclude_all_matching_acts_on_every_page_of_the_filter_and_counts_exactly(client):
    created = create_plan(
        tentacles=fleet(120, environments=("Production",))
        + fleet(7, prefix="test", environments=("Test",))
    )
    upgrades = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")

    response = client.post(
        f"/p/{created.edit_token}/steps/bulk?environment=Production&kind=upgrade-tentacle",
        {
            "scope": "matching",
            "action": "skip",
            "reason": "retired",
            "environment": "Production",
            "kind": "upgrade-tentacle",
        },
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    assert "120 excluded." in body
    assert upgrades.filter(state=StepState.SKIPPED).count() == 120
    assert not upgrades.filter(tentacle__startswith="test", state=StepState.SKIPPED).exists()
    assert Activity.objects.filter(action="skip", reason="retired").count() == 120


def test_mark_done_on_a_filter_with_blocked_steps_counts_the_refusals_and_why(client):
    created = create_plan(tentacles=fleet(4))
    upgrades = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")

    client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"scope": "matching", "action": "complete", "kind": "upgrade-tentacle"},
    )
    page = client.get(f"/p/{created.edit_token}/?kind=upgrade-tentacle").content.decode()

    outcome = re.search(r'id="bulk-outcome"[^>]*>([^<]*)', page).group(1)
    assert outcome.startswith("0 marked done; 4 refused: 4 are blocked, waiting for “")
    assert not upgrades.filter(state=StepState.DONE).exists()
    # The bar offers for all of them only what every one allows: excluding, not marking done.
    assert 'name="scope" value="matching" data-actions="skip"' in page


def test_a_bulk_done_on_10000_tentacles_runs_in_a_bounded_number_of_queries(
    django_assert_max_num_queries,
):
    created = create_plan(tentacles=fleet(10_000))
    plan = created.plan
    # Everything before the upgrades is done; the upgrades wait for nothing.
    Step.objects.filter(plan=plan).exclude(kind="upgrade-tentacle").update(state=StepState.DONE)
    Step.objects.filter(plan=plan, kind="upgrade-tentacle").update(state=StepState.READY)

    # A fixed number, plus one INSERT per 1,000 activity entries on SQLite (PostgreSQL COPYs
    # them in one) and one UPDATE per 5,000 steps.
    with django_assert_max_num_queries(20 + 10 + 2):
        outcome = services.steps_bulk(
            plan=plan, action="complete", tentacles_matching={"kind": "upgrade-tentacle"}
        )

    # The canary machines' upgrades are points of no return: each is confirmed on its own.
    canaries = Step.objects.filter(plan=plan, kind="upgrade-tentacle", canary=True).count()
    assert canaries and canaries == outcome.refused
    assert outcome.refusals == [
        f"{canaries} are a point of no return: confirm each on its own step"
    ]
    assert outcome.changed == 10_000 - canaries
    done = Step.objects.filter(plan=plan, kind="upgrade-tentacle", state="done").count()
    assert done == outcome.changed
    plan.refresh_from_db()
    assert plan.finished_steps == outcome.changed  # counted from 0: the setup above bypassed it
    assert Activity.objects.filter(plan=plan, action="complete").count() == outcome.changed


def test_a_rows_offered_actions_are_listed_in_one_order_whatever_the_hash_seed(client):
    # Two gunicorn workers have different hash seeds; a row listing a frozenset in its own
    # order would render differently in each, and a poll would see the table as changed.
    created = create_plan(tentacles=fleet(3))
    page = client.get(f"/p/{created.edit_token}/").content.decode()

    listed = re.findall(r'name="step" value="[^"]+" form="bulk-form" data-actions="([^"]*)"', page)
    assert listed
    assert all(actions.split() == sorted(actions.split()) for actions in listed)
    # A Tentacle step whose prerequisites are done offers several: the order is put to the test.
    upgrades = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")
    for _ in range(60):
        if upgrades.filter(state=StepState.READY).exists():
            break
        services.step_complete(plan=created.plan, step_id=first_ready(created.plan).id, actor="t")
    page = client.get(f"/p/{created.edit_token}/").content.decode()
    listed = re.findall(r'name="step" value="[^"]+" form="bulk-form" data-actions="([^"]*)"', page)
    assert any(len(actions.split()) > 1 for actions in listed)
    assert all(actions.split() == sorted(actions.split()) for actions in listed)
