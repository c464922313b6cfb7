"""The plan page: what it shows, its controls, live updates, and what it costs to render."""

import re

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import create_plan, fleet, tentacle
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Step
from upgrade_planner.web import pages
from upgrade_planner.web.pages import page_number

pytestmark = pytest.mark.django_db


def first_ready(plan):
    return (
        Step.objects.filter(plan=plan, state=StepState.READY, tentacle="")
        .order_by("position")
        .first()
    )


def test_the_page_shows_the_recommendation_path_warnings_and_checklist(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12))

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    assert "Recommended approach: In-place" in body
    assert "· 12 Tentacles" in body
    assert "2.6.5" in body and "3.17.14" in body
    assert 'id="warning-wrong-order-strands-tentacles"' in body
    assert "Install 3.17.14 over the 2.6 server" in body
    assert "point of no return" in body
    assert "Waiting for:" in body


def test_every_step_control_is_named_after_its_step(client):
    created = create_plan()
    ready = first_ready(created.plan)

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    assert f'aria-label="Mark “{ready.title}” done"' in body
    assert f'aria-label="Start “{ready.title}”"' in body


def test_the_read_only_link_renders_no_controls(client):
    created = create_plan()

    body = client.get(f"/v/{created.view_token}/").content.decode()

    assert "read-only" in body
    assert "Mark “" not in body
    assert 'name="csrfmiddlewaretoken"' not in body
    assert "Share this plan" not in body


def test_the_edit_page_shows_both_share_links(client):
    created = create_plan()

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    assert f"/p/{created.edit_token}/" in body
    assert f"/v/{created.view_token}/" in body


def test_completing_a_step_with_a_plain_form_post_redirects_back(client):
    created = create_plan()
    step = first_ready(created.plan)

    response = client.post(f"/p/{created.edit_token}/steps/{step.id}/complete", {"actor": "Ana"})

    assert response.status_code == 302
    step.refresh_from_db()
    assert step.state == StepState.DONE
    assert Activity.objects.filter(step=step, actor="Ana", to_state="done").exists()
    page = client.get(response["Location"]).content.decode()
    assert f"Done: {step.title}" in page


def test_a_blocked_step_is_refused_with_a_message_naming_what_it_waits_for(client):
    created = create_plan()
    blocked = Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="").first()

    response = client.post(f"/p/{created.edit_token}/steps/{blocked.id}/complete", follow=True)

    assert "is blocked. Waiting for:" in response.content.decode()
    blocked.refresh_from_db()
    assert blocked.state == StepState.BLOCKED


def test_an_htmx_click_answers_with_the_card_first_and_the_rest_out_of_band(client):
    created = create_plan()
    step = first_ready(created.plan)

    response = client.post(f"/p/{created.edit_token}/steps/{step.id}/start", HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    # A page that sent no fingerprints gets its checklist whole, the outcome in the card.
    assert response["HX-Retarget"] == "#checklist"
    assert body.lstrip().startswith('<section id="checklist"')
    assert f'id="outcome-{step.id}"' in body
    assert '<div id="poller"' in body and 'id="flash" aria-live="polite" hx-swap-oob="true"' in body
    assert "<html" not in body


def test_a_write_through_the_read_only_link_is_refused(client):
    created = create_plan()
    step = first_ready(created.plan)

    response = client.post(f"/p/{created.view_token}/steps/{step.id}/complete")

    assert response.status_code == 404
    step.refresh_from_db()
    assert step.state == StepState.READY


def test_a_step_of_another_plan_is_404(client):
    mine = create_plan()
    other = create_plan(name="Other")
    step = first_ready(other.plan)

    response = client.post(f"/p/{mine.edit_token}/steps/{step.id}/complete")

    assert response.status_code == 404
    step.refresh_from_db()
    assert step.state == StepState.READY


def test_skipping_asks_for_a_reason(client):
    created = create_plan()
    upgrade = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle").first()

    response = client.post(
        f"/p/{created.edit_token}/steps/{upgrade.id}/skip", {"reason": ""}, follow=True
    )

    assert "a reason is required" in response.content.decode()
    upgrade.refresh_from_db()
    assert upgrade.state != StepState.SKIPPED


def test_bulk_exclusion_of_selected_tentacles(client):
    created = create_plan(tentacles=fleet(5))
    upgrades = list(Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")[:3])

    client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "retired", "step": [str(s.id) for s in upgrades]},
    )

    assert (
        Step.objects.filter(pk__in=[s.id for s in upgrades], state=StepState.SKIPPED).count() == 3
    )


def test_an_unchanged_poll_answers_304_with_one_query(client, django_assert_max_num_queries):
    created = create_plan()
    version = created.plan.version

    with django_assert_max_num_queries(1):
        response = client.get(f"/v/{created.view_token}/poll?v={version}")

    assert response.status_code == 304
    assert response.content == b""


def test_repeated_unchanged_polls_are_answered_from_the_cache(
    client, django_assert_max_num_queries
):
    created = create_plan()
    version = created.plan.version
    client.get(f"/v/{created.view_token}/poll?v={version}")

    with django_assert_max_num_queries(0):
        response = client.get(f"/v/{created.view_token}/poll?v={version}")

    assert response.status_code == 304


def test_a_poll_after_a_change_returns_the_new_state(client):
    created = create_plan()
    step = first_ready(created.plan)
    old_version = created.plan.version
    client.post(f"/p/{created.edit_token}/steps/{step.id}/complete")

    response = client.get(f"/v/{created.view_token}/poll?v={old_version}")

    body = response.content.decode()
    assert response.status_code == 200
    new_version = re.search(r'data-version="(\d+)"', body).group(1)
    assert int(new_version) == old_version + 1
    assert f'id="step-{step.id}"' in body
    assert "Mark “" not in body  # the read-only viewer still gets no controls


def test_the_page_costs_the_same_queries_whatever_the_fleet_size(client, monkeypatch):
    # Both sizes carry the printed runbook inline, so that its reads are counted at both (a
    # plan above the limit prints from its own page: tests/web/test_print_page.py).
    monkeypatch.setattr(pages, "PRINT_INLINE_STEPS", 1_000_000)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    client.session.save()  # this browser has its session already: a one-off cost
    for size in (20, 2000):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/p/{created.edit_token}/")
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    # Two of them read the printed runbook and two the schedule's forecast, one the readiness
    # report; the session on the server remembering the plan is an UPDATE, in a savepoint here.
    assert counts[0] <= 18 + 2 + 2 + 1 + 3


def test_filters_and_search_narrow_the_tentacle_table(client):
    tentacles = (
        *fleet(60, prefix="web"),
        tentacle("db-01", environments=("Staging",), roles=("sql",)),
        tentacle("db-02", environments=("Staging",), communication_style="polling"),
    )
    created = create_plan(tentacles=tentacles)

    staging = client.get(f"/p/{created.edit_token}/?environment=Staging").content.decode()
    polling = client.get(f"/p/{created.edit_token}/?style=polling").content.decode()
    search = client.get(f"/p/{created.edit_token}/?q=web-0042").content.decode()
    second = client.get(f"/p/{created.edit_token}/?page=2").content.decode()

    assert "2 steps match" in staging
    assert "<strong>db-02</strong>" in polling and "<strong>db-01</strong>" not in polling
    assert "1 step match" in search
    assert "page 2 of 2" in second


def test_an_unknown_link_is_404_and_garbage_filters_are_ignored(client):
    created = create_plan()

    assert client.get("/p/nope/").status_code == 404
    response = client.get(f"/p/{created.edit_token}/?page=abc&state=evil&style=<b>")
    assert response.status_code == 200
    # A superscript two passes str.isdigit but not int().
    for query in ("page=%C2%B2", "log=%C2%B2", "page=%D9%A3"):
        assert client.get(f"/p/{created.edit_token}/?{query}").status_code == 200, query


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2", 2),
        ("99999", 99999),
        ("100000", 1),
        ("0", 1),
        ("", 1),
        ("-3", 1),
        ("²", 1),
        ("٣", 1),
        (" 4", 1),
        ("abc", 1),
    ],
)
def test_page_numbers_from_the_query_string(raw, expected):
    assert page_number(raw) == expected


def test_a_point_of_no_return_needs_the_confirmation_box(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12))
    step = (
        Step.objects.filter(plan=created.plan, point_of_no_return=True).order_by("position").first()
    )
    Step.objects.filter(pk=step.pk).update(
        state=StepState.READY
    )  # as if its prerequisites were done
    Step.objects.filter(pk__in=step.depends_on.values("pk")).update(state=StepState.DONE)

    refused = client.post(f"/p/{created.edit_token}/steps/{step.id}/complete", follow=True)
    step.refresh_from_db()
    assert step.state == StepState.READY
    assert "point of no return" in refused.content.decode()

    client.post(f"/p/{created.edit_token}/steps/{step.id}/complete", {"confirm": "yes"})
    step.refresh_from_db()
    assert step.state == StepState.DONE


def test_overriding_the_approach_re_plans_and_keeps_shared_progress(client):
    created = create_plan(tentacles=fleet(12))
    plan = created.plan
    assert plan.approach == "new-server"
    first = first_ready(plan)
    client.post(f"/p/{created.edit_token}/steps/{first.id}/complete")

    response = client.post(
        f"/p/{created.edit_token}/approach", {"approach": "in-place"}, follow=True
    )

    plan.refresh_from_db()
    assert plan.approach == "in-place" and plan.approach_overridden
    assert "Re-planned with the in-place approach" in response.content.decode()
    first.refresh_from_db()
    assert first.state == StepState.DONE and not first.retired
    assert Step.objects.filter(plan=plan, kind="install-server-new-machine", retired=True).exists()
    assert Step.objects.current().filter(plan=plan, kind="install-server-in-place").exists()
    assert Activity.objects.filter(plan=plan, action="approach-changed").exists()

    client.post(f"/p/{created.edit_token}/approach", {"approach": ""})
    plan.refresh_from_db()
    assert plan.approach == "new-server" and not plan.approach_overridden
    assert Step.objects.current().filter(plan=plan, kind="install-server-new-machine").exists()


def test_the_activity_log_is_newest_first_and_paginated(client):
    created = create_plan(tentacles=fleet(20))
    upgrades = list(Step.objects.filter(plan=created.plan, kind="upgrade-tentacle"))
    client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "retired", "step": [str(s.id) for s in upgrades]},
    )

    first = client.get(f"/p/{created.edit_token}/").content.decode()
    second = client.get(f"/p/{created.edit_token}/?log=2").content.decode()

    log = first.split('id="activity"', 1)[1]
    assert "Older →" in log and "Page 1 of 2" in log
    assert "created the plan" not in log  # the oldest entry is on the last page
    assert "created the plan" in second.split('id="activity"', 1)[1]


def test_the_activity_log_reads_of_each_step_only_its_title(client):
    """A step's row holds its instructions, evidence and machine list: the log shows only the
    title, so only the title is read with each entry."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    created = create_plan(tentacles=fleet(2))
    step = first_ready(created.plan)
    services.step_start(plan=created.plan, step_id=step.pk, actor="Ana")

    with CaptureQueriesContext(connection) as captured:
        body = client.get(f"/p/{created.edit_token}/").content.decode()

    log_reads = [
        query["sql"]
        for query in captured
        if 'FROM "plans_activity" LEFT OUTER JOIN "plans_step"' in query["sql"]
    ]
    assert log_reads, "the activity log was not read"
    for sql in log_reads:
        assert '"plans_step"."title"' in sql
        assert '"plans_step"."detail"' not in sql and '"plans_step"."evidence"' not in sql
    assert f"“{step.title}”" in body.split('id="activity"', 1)[1]


def test_a_repeat_visit_is_served_from_the_cache_with_the_visitors_own_csrf_token(
    client, django_assert_max_num_queries
):
    from django.test import Client

    created = create_plan(tentacles=fleet(4))
    first = client.get(f"/p/{created.edit_token}/").content.decode()

    with django_assert_max_num_queries(1):
        again = client.get(f"/p/{created.edit_token}/")
    assert again.status_code == 200
    assert again.content.decode().count("Checklist") == first.count("Checklist")

    # Another browser gets the cached page with a token that works for its own cookie.
    other = Client(enforce_csrf_checks=True)
    page = other.get(f"/p/{created.edit_token}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert "__plan_page_csrf_token__" not in page
    step = first_ready(created.plan)
    response = other.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete", {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.state == StepState.DONE

    # The change shows at once: the cached page belonged to the previous version.
    after = client.get(f"/p/{created.edit_token}/").content.decode()
    assert f"Done: {step.title}" not in after  # that flash was the other browser's
    assert after.count('class="badge state-done"') > first.count('class="badge state-done"')


def test_a_poll_sends_only_the_sections_that_changed(client):
    created = create_plan(tentacles=fleet(3))
    step = first_ready(created.plan)
    old = created.plan.version
    first = client.get(f"/v/{created.view_token}/poll?v={old - 1}").content.decode()
    fingerprints = dict(re.findall(r'name="(fp-[\w-]+)" value="(\w+)"', first))
    assert set(fingerprints) == {
        "fp-progress", "fp-readiness", "fp-stop-now", "fp-schedule", "fp-verification",
        "fp-checklist", "fp-tentacle-table", "fp-activity", "fp-shape-checklist",
        "fp-shape-tentacle-table", "fp-shape-critical",
    }  # fmt: skip

    # Nothing changed since those fingerprints: only the poller and fingerprints come back.
    same = client.get(f"/v/{created.view_token}/poll", {"v": old - 1, **fingerprints})
    assert 'id="checklist"' not in same.content.decode()

    client.post(f"/p/{created.edit_token}/steps/{step.id}/start")
    cache.clear()  # what the change's commit does (this test's transaction never commits)
    changed = client.get(f"/v/{created.view_token}/poll", {"v": old, **fingerprints})
    body = changed.content.decode()
    assert 'id="checklist"' in body and 'id="activity"' in body and 'id="progress"' in body
    assert 'id="tentacles"' not in body  # no Tentacle step changed


def test_visitors_at_one_version_share_its_rendered_sections(client, django_assert_max_num_queries):
    created = create_plan(tentacles=fleet(3))
    poll = f"/p/{created.edit_token}/poll?v=0"
    first = client.get(poll).content.decode()
    other = Client(enforce_csrf_checks=True)

    # At most the version lookup, should its one-second cache have expired: no rendering.
    with django_assert_max_num_queries(1):
        second = other.get(poll).content.decode()

    csrf = re.compile(r'name="csrfmiddlewaretoken" value="(\w+)"')
    assert csrf.sub("", first) == csrf.sub("", second) and 'id="checklist"' in second
    # The cached sections carry each visitor's own CSRF token, which its own POSTs pass with.
    token = csrf.search(second).group(1)
    assert token not in first
    step = first_ready(created.plan)
    started = other.post(
        f"/p/{created.edit_token}/steps/{step.id}/start", {"csrfmiddlewaretoken": token}
    )
    assert started.status_code == 302


def test_an_action_answers_with_the_sections_of_the_version_it_made(client):
    created = create_plan(tentacles=fleet(3))
    step = first_ready(created.plan)
    client.get(f"/p/{created.edit_token}/poll?v=0")  # this version's sections are now cached

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/complete", HTTP_HX_REQUEST="true"
    )

    body = response.content.decode()
    assert f'data-version="{created.plan.version + 1}"' in body
    step_html = re.search(rf'id="step-{step.id}".*?</li>', body, re.S).group(0)
    assert "state-done" in step_html


def test_forms_in_live_sections_return_to_the_page_not_the_poll(client):
    created = create_plan(tentacles=fleet(3))

    body = client.get(f"/p/{created.edit_token}/poll?v=0&state=ready&log=2&fp-x=1").content.decode()

    returns = {n.split("#")[0] for n in re.findall(r'name="next" value="([^"]*)"', body)}
    assert returns == {f"/p/{created.edit_token}/?state=ready&amp;log=2"}
    poller = re.search(r'<div id="poller" hx-get="([^"]*)"', body).group(1)
    assert poller.endswith("&amp;state=ready&amp;log=2")


def test_a_failed_step_offers_done_again_and_reopen_as_the_lifecycle_allows(client):
    created = create_plan()
    ready = first_ready(created.plan)
    services.step_fail(step_id=ready.id, plan=created.plan, reason="the check found 2.6.5")

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    assert f'aria-label="Mark “{ready.title}” done"' in body
    assert f'aria-label="Reopen “{ready.title}”"' in body
    assert f'aria-label="Start “{ready.title}”"' not in body
    assert Step.objects.get(pk=ready.pk).state == StepState.FAILED


def test_a_blocked_required_step_offers_no_action_at_all(client):
    created = create_plan()
    blocked = (
        Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="", optional=False)
        .order_by("position")
        .first()
    )

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    for label in ("Mark “{}” done", "Start “{}”", "Reopen “{}”", "Skip “{}”"):
        assert f'aria-label="{label.format(blocked.title)}"' not in body
    assert "Locked until its prerequisites are done." in body
