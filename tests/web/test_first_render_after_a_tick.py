"""The first render of a new plan version (what every viewer's poll meets after a tick): the
statements it reads stay few and flat in plan size, and what those statements now fold
together (the state counts, the activity log's size, what blocked steps wait for) shows
exactly what it showed when each was read on its own."""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter, defaultdict

import pytest
from django.db import connection
from django.db.models import Count, Min
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Step, StepDependency
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.web.pages import ACTIVITY_SHOWN, FleetWait, PlanPage, waiting_text

pytestmark = pytest.mark.django_db

views_asked = itertools.count(2)


def changed_poll(client: Client, url: str) -> str:
    """A poll from a page behind the plan, in a view no one polled yet."""
    return client.get(f"{url}poll", {"v": 0, "page": next(views_asked)}).content.decode()


def first_view(client: Client, url: str) -> str:
    return client.get(url, {"page": next(views_asked)}).content.decode()


def cycle_a_step(created, times: int) -> None:
    """`times` transitions of one plan-wide step (start, complete, reopen, …): a log entry
    and a new version each."""
    plan = created.plan
    step = Step.objects.of_plan(plan).filter(state=StepState.READY, tentacle="").first()
    actions = itertools.cycle(["start", "complete", "reopen"])
    for _ in range(times):
        action = next(actions)
        if action == "start":
            services.step_start(step_id=step.id, plan=plan, actor="Ana")
        elif action == "complete":
            services.step_complete(step_id=step.id, plan=plan, actor="Ana")
        else:
            services.step_reopen(step_id=step.id, plan=plan, actor="Ana", reason="again")


def test_the_first_poll_of_a_version_reads_the_same_statements_whatever_the_fleet_size(
    client,
):
    counts = []
    for size in (20, 2000):
        created = create_plan(name=f"Fleet of {size}", tentacles=fleet(size))
        cycle_a_step(created, 1)
        with CaptureQueriesContext(connection) as queries:
            body = changed_poll(client, f"/v/{created.view_token}/")
        assert 'id="checklist"' in body
        counts.append(len(queries))
        # The Tentacle count shows only in the full page's heading: a poll does not read it.
        assert not any(
            "COUNT(*)" in q["sql"] and '"installations_tentacle"' in q["sql"]
            for q in queries.captured_queries
        )

    assert counts[0] == counts[1], counts
    assert counts[0] <= 17, counts


def test_the_full_page_still_shows_how_many_tentacles_the_plan_has(client):
    created = create_plan(tentacles=fleet(7))

    body = first_view(client, f"/v/{created.view_token}/")

    assert "· 7 Tentacles" in body


def test_the_progress_counts_every_step_of_the_plan_by_state(client):
    created = create_plan(tentacles=fleet(5))
    cycle_a_step(created, 2)  # one plan-wide step done
    states = dict(
        Step.objects.of_plan(created.plan)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )

    body = changed_poll(client, f"/v/{created.view_token}/")

    progress = body[
        body.index('id="progress"') : body.index("</section>", body.index('id="progress"'))
    ]
    total = sum(states.values())
    assert f"<strong>1 of {total}</strong> steps finished" in progress
    for state, n in states.items():
        assert f'<span class="badge state-{state}">{state}</span> {n}</li>' in progress


@pytest.mark.parametrize(("entries", "pages"), [(ACTIVITY_SHOWN - 1, 1), (ACTIVITY_SHOWN, 2)])
def test_the_activity_logs_first_page_counts_the_whole_log(client, entries, pages):
    created = create_plan(tentacles=fleet(2))
    cycle_a_step(created, entries)  # and the creation's own entry: one more
    logged = Activity.objects.filter(plan=created.plan).count()
    assert logged == entries + 1

    for url in (f"/p/{created.edit_token}/", f"/v/{created.view_token}/"):
        for body in (first_view(client, url), changed_poll(client, url)):
            log = body[body.index('id="activity"') :]
            log = log[: log.index("</section>")]
            assert log.count("<li>") == min(logged, ACTIVITY_SHOWN)
            if pages == 1:
                assert "Page 1 of" not in log
            else:
                assert f"Page 1 of {pages}" in log
                assert "?log=2#activity" in log


def test_a_new_log_entry_shows_first_in_the_next_first_view_and_poll(client):
    created = create_plan(tentacles=fleet(2))
    cycle_a_step(created, ACTIVITY_SHOWN + 2)
    urls = (f"/p/{created.edit_token}/", f"/v/{created.view_token}/")
    for url in urls:
        first_view(client, url)
        changed_poll(client, url)

    step = Step.objects.of_plan(created.plan).filter(state=StepState.READY, tentacle="").last()
    services.step_start(step_id=step.id, plan=created.plan, actor="Bea")
    logged = Activity.objects.filter(plan=created.plan).count()

    for url in urls:
        for body in (first_view(client, url), changed_poll(client, url)):
            log = body[body.index('id="activity"') :]
            first_entry = re.search(r"<li>.*?</li>", log, re.S).group(0)
            assert "<strong>Bea</strong>" in first_entry and step.title in first_entry
            pages = -(-logged // ACTIVITY_SHOWN)
            assert f"Page 1 of {pages}" in log


def test_the_activity_logs_later_pages_are_still_numbered_from_the_whole_log(client):
    created = create_plan(tentacles=fleet(2))
    cycle_a_step(created, ACTIVITY_SHOWN + 3)

    body = client.get(f"/v/{created.view_token}/", {"log": 2}).content.decode()

    log = body[body.index('id="activity"') :]
    assert "Page 2 of 2" in log
    assert "?log=1#activity" in log


def waiting_as_it_was_read(plan, step_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """What blocked steps wait for, read as it was before it became one grouped statement:
    the plan-wide prerequisites in plan order, then each fleet's count and first machine."""
    pending = StepDependency.objects.unsatisfied(step_ids)
    singles: dict[uuid.UUID, list[str]] = defaultdict(list)
    for step_id, title in (
        pending.filter(prerequisite__tentacle="")
        .order_by("prerequisite__position")
        .values_list("step_id", "prerequisite__title")
    ):
        singles[step_id].append(title)
    counted: dict[uuid.UUID, list[tuple[str, bool, int, int]]] = defaultdict(list)
    for step_id, kind, canary, count, first in (
        pending.exclude(prerequisite__tentacle="")
        .values("step_id", "prerequisite__kind", "prerequisite__canary")
        .annotate(count=Count("id"), first=Min("prerequisite__position"))
        .values_list("step_id", "prerequisite__kind", "prerequisite__canary", "count", "first")
    ):
        counted[step_id].append((kind, canary, count, first))
    firsts = {
        step.position: (step.title, step.tentacle)
        for step in Step.objects.filter(plan=plan)
        if any(step.position == first for runs in counted.values() for *_, first in runs)
    }
    fleets = {
        step_id: [
            FleetWait(
                kind=kind,
                canary=canary,
                count=count,
                first_title=firsts[first][0],
                first_machine=firsts[first][1],
                others=any(c for _, c, _, _ in runs) and not canary,
            )
            for kind, canary, count, first in sorted(runs, key=lambda run: (not run[1], run[3]))
        ]
        for step_id, runs in counted.items()
    }
    return {
        step_id: waiting_text(singles.get(step_id, []), fleets.get(step_id, []))
        for step_id in set(singles) | set(fleets)
    }


@pytest.mark.parametrize("finished", [0, 3, 8, 30])
def test_what_blocked_steps_wait_for_is_what_it_was_when_read_apart(rf, finished):
    created = create_plan(can_provision_new_server=True, tentacles=fleet(12))
    plan = created.plan
    for step in Step.objects.filter(plan=plan).order_by("position")[:finished]:
        step.refresh_from_db()
        if step.state == StepState.READY:
            services.step_complete(step_id=step.id, plan=plan, actor="Ana", confirmed=True)
    steps = list(Step.objects.of_plan(plan))
    not_finished = [step.id for step in steps if step.state not in SATISFIED_STATES]
    page = PlanPage(
        link=created.plan.links.get(kind="edit"),
        token=created.edit_token,
        can_edit=True,
        filters=None,  # type: ignore[arg-type] - _waiting_for reads no filter
        request=rf.get("/"),
    )

    waiting = page._waiting_for(not_finished)

    assert waiting == waiting_as_it_was_read(plan, not_finished)
    if finished == 0:
        # The plan exercises both kinds: fleets counted, and several plan-wide prerequisites.
        assert any("machines" in text for text in waiting.values())
        assert any(";" in text for text in waiting.values())


def test_a_step_done_shows_no_wait_even_when_a_prerequisite_is_reopened(client):
    created = create_plan(tentacles=fleet(2))
    plan = created.plan
    first, second = Step.objects.of_plan(plan).filter(tentacle="").order_by("position")[:2]
    services.step_complete(step_id=first.id, plan=plan, actor="Ana", confirmed=True)
    second.refresh_from_db()
    if second.state != StepState.READY:
        pytest.skip("the first two steps are not a prerequisite and its dependent")
    services.step_complete(step_id=second.id, plan=plan, actor="Ana", confirmed=True)
    services.step_reopen(step_id=first.id, plan=plan, actor="Ana", reason="redo")

    for url in (f"/p/{created.edit_token}/", f"/v/{created.view_token}/"):
        body = changed_poll(client, url)
        card = body[body.index(f'id="step-{second.id}"') :]
        card = card[: card.index("</li>")]
        assert "badge state-done" in card
        assert "Waiting for:" not in card


def test_a_renamed_step_shows_its_new_title_in_every_log_entry_at_once(client):
    created = create_plan(tentacles=fleet(2))
    cycle_a_step(created, ACTIVITY_SHOWN + 3)  # entries on both pages of the log
    urls = (f"/p/{created.edit_token}/", f"/v/{created.view_token}/")
    for url in urls:
        first_view(client, url)
        changed_poll(client, url)
        client.get(url, {"log": 2})
    moved = Activity.objects.filter(plan=created.plan, step__isnull=False).first().step
    # What a new plan content does to a step (and, as every change, to the version).
    Step.objects.filter(pk=moved.pk).update(title="Back up the master key twice")
    plan_lock(plan=created.plan)  # the version moves, as with every change

    for url in urls:
        for body in (
            first_view(client, url),
            changed_poll(client, url),
            client.get(url, {"log": 2}).content.decode(),
        ):
            log = body[body.index('id="activity"') :]
            log = log[: log.index("</section>")]
            assert "“Back up the master key twice”" in log
            assert f"“{moved.title}”" not in log


def test_an_entry_whose_step_is_gone_shows_no_title(client):
    created = create_plan(tentacles=fleet(2))
    cycle_a_step(created, 2)
    url = f"/v/{created.view_token}/"
    first_view(client, url)
    entry = Activity.objects.filter(plan=created.plan, step__isnull=False).first()
    title = entry.step.title
    Activity.objects.filter(step=entry.step).update(step=None)
    plan_lock(plan=created.plan)  # the version moves, as with every change

    for body in (first_view(client, url), changed_poll(client, url)):
        log = body[body.index('id="activity"') :]
        assert f"“{title}”" not in log[: log.index("</section>")]


def progress_of(body: str) -> str:
    start = body.index('id="progress"')
    return body[start : body.index("</section>", start)]


def test_what_every_view_of_a_version_shares_is_read_once_for_the_version(client):
    """The counts, fleets, readiness, finishers, facets and progress chart are the same for
    every link and view of a version: the first view reads them, the others (another link,
    another filter, a poll) only what is theirs."""
    created = create_plan(tentacles=fleet(6))
    first_view(client, f"/p/{created.edit_token}/")

    def statements(url: str, poll: bool = False) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            changed_poll(client, url) if poll else first_view(client, url)
        return [query["sql"] for query in captured]

    for sql in [
        *statements(f"/v/{created.view_token}/"),
        *statements(f"/p/{created.edit_token}/?state=ready"),
        *statements(f"/v/{created.view_token}/", poll=True),
    ]:
        assert 'MIN("plans_step"."position")' not in sql  # no fleet counts
        assert "ROW_NUMBER" not in sql  # no fleets' machine names
        assert '"plans_finding"' not in sql
        assert "DISTINCT" not in sql  # no facets
        assert '"finished_steps" IS NOT NULL' not in sql  # no progress chart


def test_a_new_version_is_never_shown_with_the_facts_of_the_last_one(client):
    created = create_plan(tentacles=fleet(5))
    before = progress_of(first_view(client, f"/v/{created.view_token}/"))

    cycle_a_step(created, 2)  # one plan-wide step done: a new version
    after = progress_of(first_view(client, f"/v/{created.view_token}/"))

    total = Step.objects.of_plan(created.plan).count()
    assert f"<strong>0 of {total}</strong> steps finished" in before
    assert f"<strong>1 of {total}</strong> steps finished" in after
    assert "Done by <strong>Ana</strong>" in first_view(client, f"/p/{created.edit_token}/")


@pytest.mark.parametrize("view", ["", "state=skipped", "kind=upgrade-tentacle", "q=web-0"])
def test_the_tentacle_tables_counts_are_those_of_its_steps_with_or_without_a_filter(rf, view):
    """With no filter the table's counts come from the fleets' counts of the version; with
    one, from a count of what it matches: both are what a count of the steps gives."""
    from django.contrib.sessions.backends.cache import SessionStore

    from upgrade_planner.web.pages import TentacleFilters, bulk_actions

    created = create_plan(tentacles=fleet(60))  # two pages of the table
    plan = created.plan
    upgrades = list(Step.objects.of_plan(plan).filter(kind="upgrade-tentacle")[:7])
    services.steps_bulk(
        plan=plan, step_ids=[s.id for s in upgrades], action="skip", reason="retired", actor="A"
    )
    request = rf.get(f"/p/{created.edit_token}/?{view}")
    request.session = SessionStore()
    filters = TentacleFilters.from_query(request.GET)
    plan.refresh_from_db()
    page = PlanPage(
        link=plan.links.get(kind="edit"),
        token=created.edit_token,
        can_edit=True,
        filters=filters,
        request=request,
    )

    context = page.context()

    matching = Step.objects.of_plan(plan).per_tentacle().matching(**filters.matching(me=""))
    states = {state: n for state, n in matching.state_counts().items() if n}
    assert context["tentacle_page"].paginator.count == sum(states.values()) > 0
    assert context["bulk_actions"] == bulk_actions(Counter(states))
