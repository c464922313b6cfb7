"""A team on the plan page: who does each step (set from its card), who finished it and when,
a name asked once per browser before its first change (also without JavaScript), and the
“my steps” filter."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import ActivityAction, StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Step
from upgrade_planner.web import pages

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def ready_steps(plan, count=1):
    return list(
        Step.objects.filter(plan=plan, state=StepState.READY, tentacle="").order_by("position")[
            :count
        ]
    )


def upgrades(plan, count):
    return list(
        Step.objects.filter(plan=plan, kind="upgrade-tentacle").order_by("position")[:count]
    )


def card_of(body, step):
    """The HTML of `step`'s card on a page."""
    start = body.index(f'id="step-{step.id}"')
    return body[start : body.index("</li>", start)]


def named(client, created, name="Ana"):
    client.post(f"/p/{created.edit_token}/actor", {"actor": name})


# --- Assignee ---------------------------------------------------------------------------------


def test_an_assignee_set_from_the_card_is_saved_logged_and_shown_on_the_card(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    named(client, created)

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/assignee",
        {"assignee": "  Bo ", "next": f"/p/{created.edit_token}/#step-{step.id}"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/#step-{step.id}"
    assert Step.objects.get(pk=step.pk).assignee == "Bo"
    entry = Activity.objects.get(step=step, action=ActivityAction.STEP_PLANNED)
    assert entry.actor == "Ana" and entry.details["summary"] == "assignee Bo"
    card = card_of(client.get(f"/p/{created.edit_token}/").content.decode(), step)
    assert "Assigned to <strong>Bo</strong>" in card
    assert f"Assigned to Bo: {step.title}" in card  # the outcome, next to the control
    assert 'value="Bo"' in card and "Reassign…" in card


def test_an_assignment_by_htmx_answers_with_the_card_in_place(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    named(client, created)

    page = client.get(f"/p/{created.edit_token}/").content.decode()
    shown = page[page.index('<div id="fingerprints"') :]
    shown = dict(
        re.findall(r'name="(seen|fp-[^"]+)" value="([^"]*)"', shown[: shown.index("</div>")])
    )

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/assignee", {"assignee": "Bo", **shown}, **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<li class="step card')  # the card alone is the answer
    assert "Assigned to <strong>Bo</strong>" in card_of(body, step)
    assert 'id="flash" aria-live="polite"' in body  # the outcome also in the live region
    assert Step.objects.get(pk=step.pk).assignee == "Bo"


def test_a_blank_assignee_leaves_the_step_to_nobody(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    services.step_update(plan=created.plan, step_id=step.id, assignee="Bo")
    named(client, created)

    client.post(f"/p/{created.edit_token}/steps/{step.id}/assignee", {"assignee": "   "})

    assert Step.objects.get(pk=step.pk).assignee == ""
    card = card_of(client.get(f"/p/{created.edit_token}/").content.decode(), step)
    assert "Assigned to" not in card.split("Nobody is assigned")[0]
    assert f"Nobody is assigned: {step.title}" in card


@pytest.mark.parametrize(
    ("assignee", "said"),
    [
        ("B" * 101, "The assignee&#x27;s name is too long: at most 100 characters (it has 101)."),
        ("Bo\x00", "Assignee: Remove the NUL character"),
    ],
    ids=["too-long", "nul"],
)
def test_a_bad_assignee_is_refused_naming_the_field_and_nothing_is_saved(client, assignee, said):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    named(client, created)
    version = created.plan.version

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/assignee", {"assignee": assignee}, **HTMX
    )

    assert response.status_code == 200
    assert said in card_of(response.content.decode(), step)
    assert Step.objects.get(pk=step.pk).assignee == ""
    assert not Activity.objects.filter(step=step, action=ActivityAction.STEP_PLANNED).exists()
    created.plan.refresh_from_db()
    assert created.plan.version == version


def test_the_read_only_link_can_neither_assign_nor_see_the_assignee_form(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    services.step_update(plan=created.plan, step_id=step.id, assignee="Bo")

    refused = client.post(f"/p/{created.view_token}/steps/{step.id}/assignee", {"assignee": "Cy"})
    page = client.get(f"/v/{created.view_token}/").content.decode()

    assert refused.status_code == 404
    assert Step.objects.get(pk=step.pk).assignee == "Bo"
    assert "Assigned to <strong>Bo</strong>" in card_of(page, step)  # shown, not editable
    assert "/assignee" not in page and "Show only my steps" not in page


def test_an_unknown_step_cannot_be_assigned(client):
    created = create_plan()
    other = create_plan(name="Other")
    step = ready_steps(other.plan)[0]

    response = client.post(f"/p/{created.edit_token}/steps/{step.id}/assignee", {"assignee": "Bo"})

    assert response.status_code == 404
    assert Step.objects.get(pk=step.pk).assignee == ""


# --- Who finished it --------------------------------------------------------------------------


def test_a_done_step_shows_who_finished_it_and_when(client):
    created = create_plan()
    first, second = ready_steps(created.plan, 2)
    named(client, created, "Ana")
    client.post(f"/p/{created.edit_token}/steps/{first.id}/complete")
    services.step_complete(step_id=second.id, plan=created.plan, actor="")

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    finished = Step.objects.get(pk=first.pk).finished_at
    done_card = card_of(body, first)
    assert "Done by <strong>Ana</strong>" in done_card
    assert f"{finished:%-d %b %H:%M} UTC" in done_card
    assert f'datetime="{finished.isoformat()}"' in done_card or "<time datetime=" in done_card
    assert "by <strong>someone who gave no name</strong>" in card_of(body, second)


def test_a_step_not_finished_names_no_finisher(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]

    card = card_of(client.get(f"/p/{created.edit_token}/").content.decode(), step)

    assert "finished-by" not in card


# --- A name asked once per browser ------------------------------------------------------------


def test_a_page_for_a_browser_without_a_name_asks_for_one(client):
    created = create_plan()

    asking = client.get(f"/p/{created.edit_token}/").content.decode()
    named(client, created)
    told = client.get(f"/p/{created.edit_token}/").content.decode()

    assert "data-ask-name" in asking and 'name="asking" value="1"' in asking
    assert 'id="name-dialog"' in asking
    assert "data-ask-name" not in told and 'name="asking"' not in told


def test_a_first_change_without_a_name_is_refused_with_the_name_box_next_to_it(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    back = f"/p/{created.edit_token}/#step-{step.id}"

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete", {"asking": "1", "next": back}
    )
    page = client.get(f"/p/{created.edit_token}/").content.decode()

    assert response.status_code == 302 and response["Location"] == back
    assert Step.objects.get(pk=step.pk).state == StepState.READY
    assert not Activity.objects.filter(step=step).exists()
    card = card_of(page, step)
    assert "Before your first change, say who you are" in card
    form = re.search(r'<form class="name-prompt.*?</form>', card, re.S).group(0)
    assert f'action="/p/{created.edit_token}/actor"' in form
    assert f'name="next" value="/p/{created.edit_token}/#step-{step.id}"' in form
    assert 'name="actor"' in form and 'name="anonymous"' in form


def test_the_name_given_in_the_refusal_box_is_kept_and_the_change_then_goes_through(client):
    created = create_plan()
    step = ready_steps(created.plan)[0]
    back = f"/p/{created.edit_token}/#step-{step.id}"
    client.post(f"/p/{created.edit_token}/steps/{step.id}/complete", {"asking": "1"})

    saved = client.post(f"/p/{created.edit_token}/actor", {"actor": "Ana", "next": back})
    client.post(f"/p/{created.edit_token}/steps/{step.id}/complete", {"asking": "1"})

    assert saved["Location"] == back
    assert Step.objects.get(pk=step.pk).state == StepState.DONE
    assert Activity.objects.get(step=step, to_state=StepState.DONE).actor == "Ana"


def test_a_name_sent_with_the_first_change_lets_it_through_and_is_remembered(client):
    created = create_plan()
    first, second = ready_steps(created.plan, 2)

    client.post(
        f"/p/{created.edit_token}/steps/{first.id}/complete", {"asking": "1", "actor": "Ana"}
    )
    client.post(f"/p/{created.edit_token}/steps/{second.id}/complete", {"asking": "1"})

    assert Activity.objects.get(step=first, to_state=StepState.DONE).actor == "Ana"
    assert Activity.objects.get(step=second, to_state=StepState.DONE).actor == "Ana"


def test_carrying_on_without_a_name_is_asked_only_once(client):
    created = create_plan()
    first, second = ready_steps(created.plan, 2)

    client.post(
        f"/p/{created.edit_token}/steps/{first.id}/complete", {"asking": "1", "anonymous": "on"}
    )
    client.post(f"/p/{created.edit_token}/steps/{second.id}/complete", {"asking": "1"})
    page = client.get(f"/p/{created.edit_token}/").content.decode()

    assert Step.objects.get(pk=first.pk).state == StepState.DONE
    assert Step.objects.get(pk=second.pk).state == StepState.DONE
    assert Activity.objects.get(step=second, to_state=StepState.DONE).actor == ""
    assert "data-ask-name" not in page


def test_an_assignment_and_a_bulk_action_also_wait_for_a_name(client):
    created = create_plan(tentacles=fleet(3))
    step = ready_steps(created.plan)[0]
    machines = upgrades(created.plan, 2)

    client.post(
        f"/p/{created.edit_token}/steps/{step.id}/assignee", {"assignee": "Bo", "asking": "1"}
    )
    bulk = client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "gone", "step": [str(m.id) for m in machines], "asking": "1"},
        **HTMX,
    )

    assert Step.objects.get(pk=step.pk).assignee == ""
    assert all(Step.objects.get(pk=m.pk).state != StepState.SKIPPED for m in machines)
    assert "Before your first change" in bulk.content.decode()
    assert 'class="name-prompt' in bulk.content.decode()


# --- My steps ---------------------------------------------------------------------------------


def test_my_steps_shows_only_the_steps_assigned_to_this_browsers_name(client):
    created = create_plan(tentacles=fleet(4))
    mine, theirs = ready_steps(created.plan, 2)
    my_machine, their_machine = upgrades(created.plan, 2)
    for step, who in ((mine, "ana"), (theirs, "Bo"), (my_machine, "Ana"), (their_machine, "Bo")):
        services.step_update(plan=created.plan, step_id=step.id, assignee=who)
    named(client, created, "Ana")

    everything = client.get(f"/p/{created.edit_token}/").content.decode()
    only_mine = client.get(f"/p/{created.edit_token}/?mine=1").content.decode()

    assert f'href="/p/{created.edit_token}/?mine=1#checklist"' in everything
    assert f'id="step-{theirs.id}"' in everything
    assert f'id="step-{mine.id}"' in only_mine  # the name matched whatever its case
    assert f'id="step-{theirs.id}"' not in only_mine
    assert f'id="step-{my_machine.id}"' in only_mine
    assert f'id="step-{their_machine.id}"' not in only_mine
    assert "Only the 1 step assigned to <strong>Ana</strong>" in only_mine
    assert 'name="mine" value="1"' in only_mine  # the table's filters keep it


def test_my_steps_without_a_name_shows_nobodys_steps_and_says_why(client):
    created = create_plan(tentacles=fleet(2))
    step = ready_steps(created.plan)[0]
    services.step_update(plan=created.plan, step_id=step.id, assignee="Bo")

    page = client.get(f"/p/{created.edit_token}/?mine=1").content.decode()

    assert f'id="step-{step.id}"' not in page
    assert "“My steps” needs your name" in page
    assert "No Tentacle steps match these filters." in page


def test_bulk_on_all_matching_my_steps_acts_only_on_mine(client):
    created = create_plan(tentacles=fleet(4))
    machines = upgrades(created.plan, 4)
    for step in machines[:2]:
        services.step_update(plan=created.plan, step_id=step.id, assignee="Ana")
    named(client, created, "Ana")

    client.post(
        f"/p/{created.edit_token}/steps/bulk?mine=1",
        {"action": "skip", "reason": "retired", "scope": "matching", "mine": "1"},
    )

    states = [Step.objects.get(pk=m.pk).state for m in machines]
    assert states[:2] == [StepState.SKIPPED] * 2
    assert StepState.SKIPPED not in states[2:]


def test_the_page_with_assignees_and_finished_steps_costs_the_same_queries_at_any_size(
    client, monkeypatch
):
    # Both sizes carry the printed runbook inline, so that its reads are counted at both (a
    # plan above the limit prints from its own page: tests/web/test_print_page.py).
    monkeypatch.setattr(pages, "PRINT_INLINE_STEPS", 1_000_000)
    counts = []
    client.session.save()
    for size in (20, 1000):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        named(client, created, "Ana")
        for step in ready_steps(created.plan, 2):
            services.step_update(plan=created.plan, step_id=step.id, assignee="Ana")
            services.step_complete(step_id=step.id, plan=created.plan, actor="Ana")
        for machine in upgrades(created.plan, 3):
            services.step_update(plan=created.plan, step_id=machine.id, assignee="Ana")
        for query in ("", "?mine=1"):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/p/{created.edit_token}/{query}")
            assert response.status_code == 200
            assert "Done by <strong>Ana</strong>" in response.content.decode()
            counts.append(len(queries))

    assert counts[:2] == counts[2:], counts
