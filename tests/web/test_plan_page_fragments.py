"""The plan page's cached pieces (step cards and Tentacle rows kept per content, the printed
runbook, activity and schedule kept per version) never show an old state: every kind of
change shows in the next first view and the next changed poll, through both links, and no
cached piece carries another visitor's CSRF token or another link's token."""

from __future__ import annotations

import dataclasses
import itertools
import re
import uuid
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet
from upgrade_planner.domain.evidence import StepVerdict
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step
from upgrade_planner.web.pages import steps_url

pytestmark = pytest.mark.django_db

views_asked = itertools.count(2)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="(\w+)"')


def first_view(client: Client, url: str) -> str:
    """The page as the first visitor of a view sees it: a Tentacle page no one asked for
    yet (past the last, so it shows the last) misses the whole-page cache."""
    return client.get(url, {"page": next(views_asked)}).content.decode()


def changed_poll(client: Client, url: str) -> str:
    """A poll from a page two versions behind, in a view no one polled yet."""
    return client.get(f"{url}poll", {"v": 0, "page": next(views_asked)}).content.decode()


def card(html: str, step: Step) -> str:
    """A step's card (a list item) or row (a table body) in `html`."""
    end = "</tbody>" if step.tentacle else "</li>"
    found = re.search(rf'id="step-{step.id}".*?{end}', html, re.S)
    assert found, f"no card for {step.title}"
    return found.group(0)


def ready_step(plan) -> Step:
    steps = Step.objects.of_plan(plan).filter(state=StepState.READY, tentacle="")
    return steps.order_by("position").first()


def both_links(created) -> list[tuple[str, str]]:
    return [("edit", f"/p/{created.edit_token}/"), ("view", f"/v/{created.view_token}/")]


def warm(client: Client, created) -> None:
    """Every cached piece of the current version filled, through both links."""
    for _, url in both_links(created):
        first_view(client, url)
        changed_poll(client, url)


def assert_shown(client: Client, created, step: Step, check: Callable[[str], bool]) -> None:
    for kind, url in both_links(created):
        assert check(card(first_view(client, url), step)), f"first view, {kind} link"
        assert check(card(changed_poll(client, url), step)), f"changed poll, {kind} link"


def test_a_transition_shows_in_the_next_first_view_and_poll(client):
    created = create_plan(tentacles=fleet(3))
    step = ready_step(created.plan)
    warm(client, created)

    client.post(f"/p/{created.edit_token}/steps/{step.id}/start")

    assert_shown(client, created, step, lambda html: "badge state-in-progress" in html)


def test_a_reopen_shows_in_the_next_first_view_and_poll(client):
    created = create_plan(tentacles=fleet(3))
    step = ready_step(created.plan)
    client.post(f"/p/{created.edit_token}/steps/{step.id}/complete")
    warm(client, created)
    assert_shown(client, created, step, lambda html: "badge state-done" in html)

    client.post(f"/p/{created.edit_token}/steps/{step.id}/reopen", {"reason": "not really"})

    assert_shown(client, created, step, lambda html: "badge state-ready" in html)


def test_an_assignment_shows_in_the_next_first_view_and_poll(client):
    created = create_plan(tentacles=fleet(3))
    step = ready_step(created.plan)
    warm(client, created)

    client.post(f"/p/{created.edit_token}/steps/{step.id}/assignee", {"assignee": "Bea"})

    assert_shown(client, created, step, lambda html: "Assigned to <strong>Bea</strong>" in html)


def test_a_readiness_change_shows_in_the_next_first_view_and_poll(client):
    created = create_plan(
        server_version="2022.1",
        target_version="2024.1",
        sql_server_version="2014",
        server_os="Windows Server 2012",
        tentacles=(),
    )
    step = Step.objects.of_plan(created.plan).get(kind="upgrade-server-modern")
    warm(client, created)
    assert_shown(client, created, step, lambda html: "Inhibited by:" in html)

    for code in ("host-os-below-floor", "sql-server-below-floor"):
        client.post(f"/p/{created.edit_token}/findings/{code}/accept", {"reason": "planned"})

    assert_shown(client, created, step, lambda html: "Inhibited by:" not in html)


def test_an_evidence_record_shows_in_the_next_first_view_and_poll(client):
    created = create_plan(tentacles=fleet(3))
    step = Step.objects.of_plan(created.plan).exclude(tentacle="").order_by("position").first()
    warm(client, created)

    with transaction.atomic():
        services.evidence_record(
            plan=created.plan,
            check="tentacle-version",
            verdicts=[StepVerdict(step_id=step.id, ok=True, detail="Tentacle 8.1.2 answers")],
        )

    assert_shown(client, created, step, lambda html: "Tentacle 8.1.2 answers" in html)


def test_a_changed_host_name_shows_in_the_next_first_view_and_poll(client):
    """The row shows the Tentacle's own row, not only the step's: a new host name is a
    change of the Tentacle alone."""
    created = create_plan(tentacles=fleet(3))
    step = Step.objects.of_plan(created.plan).exclude(tentacle="").order_by("position").first()
    warm(client, created)

    inventory = [t.as_input() for t in created.plan.installation.tentacles.all()]
    changed = [
        dataclasses.replace(t, hostname="renamed-host.example") if t.name == step.tentacle else t
        for t in inventory
    ]
    services.inventory_replace(plan=created.plan, tentacles=changed)

    assert_shown(client, created, step, lambda html: "renamed-host.example" in html)


def test_a_step_in_progress_for_too_long_shows_as_stale_without_a_new_version(client, settings):
    created = create_plan(tentacles=fleet(3))
    step = ready_step(created.plan)
    client.post(f"/p/{created.edit_token}/steps/{step.id}/start")
    warm(client, created)
    assert_shown(client, created, step, lambda html: "still on it?" not in html)

    # Only time passes: neither the plan's version nor the step changes.
    settings.STEP_STALE_AFTER_MINUTES = 0

    assert_shown(client, created, step, lambda html: "still on it?" in html)


def test_a_cached_card_carries_the_visitors_own_csrf_token_and_no_other(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    first = first_view(client, url)
    other = Client(enforce_csrf_checks=True)

    page = first_view(other, url)  # every card and row from the cache

    tokens = set(CSRF.findall(page))
    header = re.search(r'"X-CSRFToken": "(\w+)"', page).group(1)
    assert tokens == {header}, "one token for the whole response"
    assert not tokens & set(CSRF.findall(first))
    secret = other.cookies["csrftoken"].value  # the secret itself, unmasked
    assert _unmask_cipher_token(header) == secret
    assert "__plan_page_" not in page and "__plan_page_" not in first
    step = ready_step(created.plan)
    started = other.post(
        f"{steps_url(created.edit_token)}{step.id}/start", {"csrfmiddlewaretoken": header}
    )
    assert started.status_code == 302


def test_the_read_only_page_holds_no_edit_token_after_the_edit_page_was_cached(client):
    created = create_plan(tentacles=fleet(3))
    warm(client, created)

    page = first_view(client, f"/v/{created.view_token}/")
    poll = changed_poll(client, f"/v/{created.view_token}/")

    assert created.edit_token not in page and created.edit_token not in poll
    assert "csrfmiddlewaretoken" not in page


def test_cached_cards_keep_each_views_own_return_address_and_filters(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    first_view(client, url)

    page = client.get(url, {"state": "ready"}).content.decode()

    step = ready_step(created.plan)
    controls = card(page, step)
    assert f'hx-post="{url}steps/{step.id}/start?state=ready"' in controls
    assert f'value="{url}?state=ready#step-{step.id}"' in controls
    assert "__plan_page_" not in page


def test_a_page_from_cached_pieces_is_the_page_rendered_afresh(client):
    created = create_plan(tentacles=fleet(3))
    step = ready_step(created.plan)
    client.post(f"/p/{created.edit_token}/steps/{step.id}/start")
    client.get(f"/p/{created.edit_token}/", {"log": "1"})  # shows (and uses up) the outcome
    for _, url in both_links(created):
        # "01" is page 1 too: the same view of the page, which misses the whole-page cache.
        fresh = client.get(url, {"page": "1"}).content.decode()
        cached = client.get(url, {"page": "01"}).content.decode()

        def normal(html: str) -> str:
            html = CSRF.sub("", html)
            html = re.sub(r'"X-CSRFToken": "\w+"', "", html)
            return re.sub(r'nonce="[^"]+"', "", html)

        assert normal(fresh) == normal(cached)


def test_the_step_controls_address_prefix_is_what_reverse_gives(client):
    from django.urls import reverse

    created = create_plan(tentacles=fleet(1))
    step = ready_step(created.plan)
    token = created.edit_token
    for action in ("start", "complete", "skip", "reopen"):
        kwargs = {"token": token, "step_id": step.id, "action": action}
        assert f"{steps_url(token)}{step.id}/{action}" == reverse("step-action", kwargs=kwargs)
    kwargs = {"token": token, "step_id": step.id}
    assert f"{steps_url(token)}{step.id}/assignee" == reverse("step-assign", kwargs=kwargs)


def test_the_printed_runbook_of_a_version_is_rendered_once_and_follows_the_next(client):
    created = create_plan(tentacles=fleet(3))
    url = f"/p/{created.edit_token}/"
    client.session.save()
    first_view(client, url)

    with CaptureQueriesContext(connection) as again:
        page = first_view(client, url)
    step = ready_step(created.plan)
    client.post(f"{url}steps/{step.id}/complete")
    after = first_view(client, url)

    runbook = re.compile(r'<section id="print-runbook".*?</section>', re.S)
    assert not any("plans_activity" in q["sql"] and "DISTINCT" in q["sql"] for q in again)
    assert f'data-version="{created.plan.version}"' in runbook.search(page).group(0)
    printed = runbook.search(after).group(0)
    assert f'data-version="{created.plan.version + 1}"' in printed
    assert re.search(rf"{re.escape(step.title)}</h4>\s*<p class=\"print-status\">.*?☑", printed)


def test_another_first_view_of_a_version_reuses_its_pieces_whatever_the_fleet_size(client):
    """The printed runbook, the activity log and what blocked steps wait for are read once
    per version: a second view of it (here the same view under another address, which the
    whole-page cache does not know) reads only what the page works out for each view."""
    counts = []
    client.session.save()
    for size in (20, 2000):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        client.get(f"/p/{created.edit_token}/")
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/p/{created.edit_token}/", {"log": "1"})
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert counts[0] <= 14


def test_a_cards_key_changes_with_every_value_it_can_show_and_only_then():
    from upgrade_planner.web.fragments import _step_inputs

    created = create_plan(tentacles=fleet(2))
    steps = list(Step.objects.of_plan(created.plan).select_related("tentacle_ref"))
    row = next(step for step in steps if step.tentacle_ref_id is not None)
    card_step = next(step for step in steps if step.tentacle_ref_id is None)
    for step in (row, card_step):
        again = Step.objects.select_related("tentacle_ref").get(pk=step.pk)
        assert _step_inputs(again) == _step_inputs(step)  # the same content, the same key
        before = _step_inputs(step)
        changes: list[Callable[[Step], None]] = [
            lambda s: setattr(s, "title", s.title + "!"),
            lambda s: setattr(s, "plan_id", uuid.uuid4()),  # a UUID is keyed by its value
            lambda s: setattr(s, "assignee", "Ana"),
            lambda s: setattr(s, "waiting_for", "the server"),  # what the page adds to it
            lambda s: setattr(s, "critical", True),
        ]
        for change in changes:
            changed = Step.objects.select_related("tentacle_ref").get(pk=step.pk)
            change(changed)
            assert _step_inputs(changed) != before
    # Two values swapped between attributes make another key.
    a = Step.objects.get(pk=card_step.pk)
    b = Step.objects.get(pk=card_step.pk)
    a.waiting_for, a.estimate_text = "x", ""
    b.waiting_for, b.estimate_text = "", "x"
    assert _step_inputs(a) != _step_inputs(b)
    # A Tentacle's own fields are part of its row's key.
    host = Step.objects.select_related("tentacle_ref").get(pk=row.pk)
    host.tentacle_ref.hostname = "elsewhere.example"
    assert _step_inputs(host) != _step_inputs(row)
