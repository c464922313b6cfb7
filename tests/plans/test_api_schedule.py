"""The timed runbook through the API (product.md §5.7): the window, a step's estimate and
assignee, the forecast in the plan document, and rehearsals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import create_plan, fleet
from upgrade_planner.domain.vocabulary import ActivityAction, StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Plan, Step

pytestmark = pytest.mark.django_db

SATURDAY_20 = datetime(2026, 5, 2, 20, 0, tzinfo=UTC)


class Clock:
    """`timezone.now()` for the services and the forecast, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
        self.at = at
        monkeypatch.setattr(timezone, "now", lambda: self.at)

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def patch(client, path: str, body: Any):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def post(client, path: str, body: Any = None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def read(client, token: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/plans/{token}")
    assert response.status_code == 200
    return response.json()


def ready_step(plan: Plan) -> Step:
    return Step.objects.filter(plan=plan, state=StepState.READY, optional=False).first()


def act(client, token: str, step: Step | str, action: str):
    step_id = step if isinstance(step, str) else step.id
    return post(client, f"/api/v1/plans/{token}/steps/{step_id}/{action}", {"reason": "r"})


# --- The window ------------------------------------------------------------------------------


def test_setting_the_window_bumps_the_version_logs_it_and_gives_a_forecast(client, monkeypatch):
    Clock(monkeypatch, SATURDAY_20 - timedelta(hours=2))
    created = create_plan(backup_size_mb=300)  # a migration of at most 5.5 hours
    version = created.plan.version

    response = patch(
        client,
        f"/api/v1/plans/{created.edit_token}/schedule",
        {
            "window_start": "2026-05-02T20:00:00Z",
            "window_end": "2026-05-03T06:00:00Z",
            "people_at_once": 3,
            "actor": "Ana",
        },
    )

    assert response.status_code == 200
    schedule = response.json()
    assert schedule["window_start"] == "2026-05-02T20:00:00Z"
    assert schedule["people_at_once"] == 3
    assert schedule["forecast_end"] is not None
    assert schedule["fits_window"] is True
    assert schedule["critical_path"]
    created.plan.refresh_from_db()
    assert created.plan.version == version + 1
    assert created.plan.people_at_once == 3
    entry = Activity.objects.filter(plan=created.plan).first()
    assert (entry.action, entry.actor) == (ActivityAction.SCHEDULE_SET, "Ana")
    assert read(client, created.view_token)["schedule"] == schedule


def test_the_forecast_waits_for_the_window_to_open(client, monkeypatch):
    Clock(monkeypatch, SATURDAY_20 - timedelta(hours=2))
    created = create_plan()
    path = f"/api/v1/plans/{created.edit_token}/schedule"

    before = read(client, created.view_token)["schedule"]
    patch(client, path, {"window_start": "2026-05-02T20:00:00Z"})
    after = read(client, created.view_token)["schedule"]

    assert before["forecast_end"] is None  # no window and nothing started yet
    end = datetime.fromisoformat(after["forecast_end"])
    assert end == SATURDAY_20 + timedelta(minutes=after["remaining_minutes"])


def test_a_key_left_out_stays_and_null_clears_it(client):
    created = create_plan()
    path = f"/api/v1/plans/{created.edit_token}/schedule"
    patch(client, path, {"window_start": "2026-05-02T20:00:00Z", "window_end": None})

    patch(client, path, {"window_end": "2026-05-03T06:00:00Z"})
    created.plan.refresh_from_db()
    assert created.plan.window_start == SATURDAY_20

    patch(client, path, {"window_start": None})
    created.plan.refresh_from_db()
    assert created.plan.window_start is None
    assert created.plan.window_end == SATURDAY_20 + timedelta(hours=10)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"window_start": "2026-05-02T20:00:00Z", "window_end": "2026-05-02T19:00:00Z"},
            "window_end",
        ),
        ({"window_start": "2026-05-02T20:00:00"}, "window_start"),
        ({"window_start": "Saturday evening"}, "window_start"),
        ({"people_at_once": 0}, "people_at_once"),
        ({"people_at_once": None}, "people_at_once"),
        ({"window": "tonight"}, "window"),
    ],
)
def test_a_bad_window_is_422_naming_the_field_and_saves_nothing(client, body, field):
    created = create_plan()
    version = created.plan.version

    response = patch(client, f"/api/v1/plans/{created.edit_token}/schedule", body)

    assert response.status_code == 422
    assert field in response.json()["errors"]
    created.plan.refresh_from_db()
    assert created.plan.version == version
    assert created.plan.window_start is None and created.plan.window_end is None
    assert not Activity.objects.filter(plan=created.plan, action="schedule-set").exists()


def test_a_read_only_link_cannot_set_the_window_or_plan_a_step(client):
    created = create_plan()
    step = ready_step(created.plan)

    window = patch(
        client,
        f"/api/v1/plans/{created.view_token}/schedule",
        {"window_start": "2026-05-02T20:00:00Z"},
    )
    planned = patch(
        client, f"/api/v1/plans/{created.view_token}/steps/{step.id}", {"estimate_minutes": 5}
    )
    rehearsal = post(client, f"/api/v1/plans/{created.view_token}/rehearsal")
    applied = post(client, f"/api/v1/plans/{created.view_token}/rehearsal/apply")

    assert {window.status_code, planned.status_code, rehearsal.status_code} == {403}
    assert applied.status_code == 403
    created.plan.refresh_from_db()
    assert created.plan.window_start is None
    assert created.plan.latest_rehearsal_id is None
    step.refresh_from_db()
    assert step.estimate_basis != "team"


# --- A step's estimate and assignee ------------------------------------------------------------


def test_a_step_takes_the_team_s_estimate_and_assignee(client):
    created = create_plan()
    step = ready_step(created.plan)
    version = created.plan.version

    response = patch(
        client,
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}",
        {"estimate_minutes": 45, "assignee": "Bo", "actor": "Ana"},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["estimate_minutes"], body["estimate_basis"], body["assignee"]) == (
        45,
        "team",
        "Bo",
    )
    step.refresh_from_db()
    assert (step.estimate_minutes, step.assignee) == (45, "Bo")
    created.plan.refresh_from_db()
    assert created.plan.version == version + 1
    entry = Activity.objects.filter(plan=created.plan).first()
    assert (entry.action, entry.step_id, entry.actor) == (
        ActivityAction.STEP_PLANNED,
        step.id,
        "Ana",
    )


def test_either_field_alone_leaves_the_other(client):
    created = create_plan()
    step = ready_step(created.plan)
    path = f"/api/v1/plans/{created.edit_token}/steps/{step.id}"
    planned_minutes = step.estimate_minutes

    patch(client, path, {"assignee": "Bo"})
    step.refresh_from_db()
    assert (step.estimate_minutes, step.assignee) == (planned_minutes, "Bo")

    response = patch(client, path, {"assignee": None})
    assert response.json()["assignee"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"estimate_minutes": -1}, "estimate_minutes"),
        ({"estimate_minutes": "soon"}, "estimate_minutes"),
        ({"estimate_minutes": None}, "estimate_minutes"),
        ({"estimate_minutes": 10_000_000}, "estimate_minutes"),
        ({"assignee": "x" * 101}, "assignee"),
        ({"assignee": "B\x00o"}, "assignee"),
        ({}, "body"),
    ],
)
def test_a_bad_step_change_is_422_naming_the_field_and_saves_nothing(client, body, field):
    created = create_plan()
    step = ready_step(created.plan)

    response = patch(client, f"/api/v1/plans/{created.edit_token}/steps/{step.id}", body)

    assert response.status_code == 422
    assert field in response.json()["errors"]
    saved = Step.objects.get(pk=step.pk)
    assert (saved.estimate_minutes, saved.assignee) == (step.estimate_minutes, step.assignee)


def test_a_step_of_another_plan_is_404(client):
    mine, other = create_plan(), create_plan(name="Other")

    response = patch(
        client,
        f"/api/v1/plans/{mine.edit_token}/steps/{ready_step(other.plan).id}",
        {"estimate_minutes": 5},
    )

    assert response.status_code == 404


def test_a_re_plan_keeps_the_team_s_estimate(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12))
    backup = Step.objects.get(plan=created.plan, kind="backup-database")
    services.step_update(plan=created.plan, step_id=backup.id, estimate_minutes=90)

    services.plan_change_approach(plan=created.plan, approach="manual")

    backup.refresh_from_db()
    assert (backup.estimate_minutes, backup.estimate_basis) == (90, "team")


# --- The forecast follows what happens -----------------------------------------------------


def test_starting_and_finishing_steps_late_moves_the_forecast_and_the_window_no_longer_fits(
    client, monkeypatch
):
    clock = Clock(monkeypatch, SATURDAY_20)
    created = create_plan()
    token = created.edit_token
    plan_minutes = read(client, token)["schedule"]["remaining_minutes"]
    end = SATURDAY_20 + timedelta(minutes=plan_minutes + 60)
    patch(
        client,
        f"/api/v1/plans/{token}/schedule",
        {"window_start": SATURDAY_20.isoformat(), "window_end": end.isoformat()},
    )
    on_time = read(client, token)["schedule"]
    assert on_time["fits_window"] is True
    assert on_time["slack_minutes"] == 60

    first = ready_step(created.plan)
    act(client, token, first, "start")
    clock.advance(minutes=first.estimate_minutes + 50)  # still running, 50 minutes late
    running_late = read(client, token)["schedule"]
    clock.advance(minutes=30)
    act(client, token, first, "complete")  # finished 80 minutes late
    finished_late = read(client, token)["schedule"]

    def ends(schedule: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(schedule["forecast_end"])

    # At least as late as the step, which was on the critical path (the other person may
    # take other steps in another order meanwhile, so the shift need not be exact).
    assert ends(running_late) >= ends(on_time) + timedelta(minutes=50)
    assert ends(finished_late) >= ends(running_late) + timedelta(minutes=30)
    assert running_late["slack_minutes"] <= 10
    assert finished_late["fits_window"] is False and finished_late["slack_minutes"] < 0
    step = read(client, token)["steps"][0]
    assert step["started_at"] == (SATURDAY_20).isoformat().replace("+00:00", "Z")
    assert step["finished_at"] == clock.at.isoformat().replace("+00:00", "Z")


def test_a_longer_estimate_on_the_critical_path_moves_the_forecast(client, monkeypatch):
    Clock(monkeypatch, SATURDAY_20)
    created = create_plan()
    token = created.edit_token
    patch(client, f"/api/v1/plans/{token}/schedule", {"window_start": SATURDAY_20.isoformat()})
    before = read(client, token)["schedule"]
    critical = before["critical_path"][0]
    minutes = Step.objects.get(pk=critical).estimate_minutes

    patch(client, f"/api/v1/plans/{token}/steps/{critical}", {"estimate_minutes": minutes + 120})

    after = read(client, token)["schedule"]
    moved = datetime.fromisoformat(after["forecast_end"]) - datetime.fromisoformat(
        before["forecast_end"]
    )
    assert moved == timedelta(minutes=120)


# --- Rehearsals ------------------------------------------------------------------------------


def test_a_rehearsal_is_a_new_plan_from_the_same_input_linked_both_ways(client):
    created = create_plan(tentacles=fleet(4), old_server_url="http://10.0.0.1", backup_size_mb=800)
    version = created.plan.version

    response = post(client, f"/api/v1/plans/{created.edit_token}/rehearsal", {"actor": "Ana"})

    assert response.status_code == 201
    rehearsal = response.json()
    assert rehearsal["rehearsal_of"] == str(created.plan.id)
    assert rehearsal["edit_token"] != created.edit_token
    assert rehearsal["edit_url"].endswith(f"/p/{rehearsal['edit_token']}/")
    assert len(rehearsal["instance"]["tentacles"]) == 4
    assert rehearsal["instance"]["backup_size_mb"] == 800
    # A rehearsal runs on a test instance: never against the production servers.
    assert rehearsal["instance"]["old_server_url"] == ""
    live = read(client, created.view_token)
    assert live["latest_rehearsal"] == rehearsal["id"]
    assert live["rehearsal_of"] is None
    assert live["version"] == version + 1
    assert Activity.objects.filter(plan=created.plan, action="rehearsal-created").exists()
    assert read(client, rehearsal["view_token"])["id"] == rehearsal["id"]


def test_a_rehearsal_of_a_rehearsal_rehearses_the_live_plan(client):
    created = create_plan()
    first = post(client, f"/api/v1/plans/{created.edit_token}/rehearsal").json()

    second = post(client, f"/api/v1/plans/{first['edit_token']}/rehearsal").json()

    assert second["rehearsal_of"] == str(created.plan.id)
    assert read(client, created.view_token)["latest_rehearsal"] == second["id"]


def test_applying_a_rehearsal_sets_measured_times_per_kind_and_shows_the_forecast_move(
    client, monkeypatch
):
    clock = Clock(monkeypatch, SATURDAY_20)
    created = create_plan(can_provision_new_server=False, tentacles=fleet(4), approach="manual")
    token = created.edit_token
    patch(client, f"/api/v1/plans/{token}/schedule", {"window_start": SATURDAY_20.isoformat()})
    rehearsal = post(client, f"/api/v1/plans/{token}/rehearsal").json()
    rehearsal_plan = Plan.objects.get(pk=rehearsal["id"])
    # Run the rehearsal to its Tentacle upgrades, then time two of them: 50 and 70 minutes.
    upgrades = list(Step.objects.filter(plan=rehearsal_plan, kind="upgrade-tentacle"))
    from tests.factories import finish_prerequisites

    finish_prerequisites(rehearsal_plan, upgrades[0])
    for minutes, upgrade in zip((50, 70), upgrades[:2], strict=True):
        act(client, rehearsal["edit_token"], upgrade, "start")
        clock.advance(minutes=minutes)
        act(client, rehearsal["edit_token"], upgrade, "complete")
    planned = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle").first()

    response = post(client, f"/api/v1/plans/{token}/rehearsal/apply", {"actor": "Ana"})

    assert response.status_code == 200
    body = response.json()
    measured = {(m["kind"], m["method"]): m for m in body["applied"]}
    upgrade = measured[("upgrade-tentacle", "manual")]
    assert (upgrade["minutes"], upgrade["measured_steps"], upgrade["steps_changed"]) == (60, 2, 4)
    live_upgrades = Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")
    assert {(s.estimate_minutes, s.estimate_basis) for s in live_upgrades} == {(60, "rehearsal")}
    # Four hand upgrades, two people: two turns, each now 60 minutes instead of the planned.
    shift = 2 * (60 - planned.estimate_minutes)
    before = datetime.fromisoformat(body["before"]["forecast_end"])
    after = datetime.fromisoformat(body["after"]["forecast_end"])
    assert after - before >= timedelta(minutes=shift)
    assert Activity.objects.filter(plan=created.plan, action="rehearsal-applied").exists()


def test_a_rehearsal_with_nothing_measured_is_409_and_changes_nothing(client):
    created = create_plan()
    post(client, f"/api/v1/plans/{created.edit_token}/rehearsal")
    version = Plan.objects.get(pk=created.plan.pk).version

    response = post(client, f"/api/v1/plans/{created.edit_token}/rehearsal/apply")

    assert response.status_code == 409
    assert response.json()["error"] == "nothing-measured"
    assert Plan.objects.get(pk=created.plan.pk).version == version


def test_another_plan_s_rehearsal_cannot_be_applied(client):
    mine, other = create_plan(), create_plan(name="Other")
    theirs = post(client, f"/api/v1/plans/{other.edit_token}/rehearsal").json()

    response = post(
        client, f"/api/v1/plans/{mine.edit_token}/rehearsal/apply", {"rehearsal": theirs["id"]}
    )

    assert response.status_code == 404


@pytest.mark.parametrize("tentacles", [10, 400])
def test_the_forecast_adds_no_query_to_reading_a_plan(client, django_assert_num_queries, tentacles):
    created = create_plan(tentacles=fleet(tentacles))
    services.schedule_set(plan=created.plan, window_start=SATURDAY_20)

    with django_assert_num_queries(7):  # two read the readiness report
        response = client.get(f"/api/v1/plans/{created.view_token}")

    assert response.json()["schedule"]["forecast_end"] is not None
