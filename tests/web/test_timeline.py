"""The timeline on the plan page (web/timeline.py): the drawing of hand-made forecasts, the
critical path's badges, the go/no-go banner, rehearsals from the page, and the exports."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.factories import create_plan, fleet
from upgrade_planner.domain.schedule import Task, Window, forecast
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans import services
from upgrade_planner.plans.forecasts import plan_schedule
from upgrade_planner.plans.models import Activity, Plan, Step
from upgrade_planner.web.timeline import timeline_of, timeline_svg

SATURDAY_20 = datetime(2026, 5, 2, 20, 0, tzinfo=UTC)
NOW = SATURDAY_20 + timedelta(hours=1)
NO_WINDOW = Window()


def row(step_id: str, title: str, *, minutes: int, state: str = "ready", **more):
    return {
        "id": step_id,
        "kind": more.pop("kind", step_id),
        "method": more.pop("method", ""),
        "state": state,
        "estimate_minutes": minutes,
        "started_at": more.pop("started_at", None),
        "finished_at": more.pop("finished_at", None),
        "title": title,
        "hop": 0,
        "phase": "prepare",
        "tentacle": more.pop("tentacle", ""),
        "canary": False,
        "point_of_no_return": more.pop("point_of_no_return", False),
    }


def drawn(rows, *, window=NO_WINDOW, people=2):
    tasks = [
        Task(
            id=r["id"],
            estimate_minutes=r["estimate_minutes"],
            depends_on=r.get("depends_on", ()),
            finished=r["state"] in ("done", "skipped"),
            started_at=r["started_at"] if r["state"] == "in-progress" else None,
            finished_at=r["finished_at"],
        )
        for r in rows
    ]
    plan = SimpleNamespace(window_start=window.start, window_end=window.end, people_at_once=people)
    result = forecast(tasks, now=NOW, people=people, window=window)
    return timeline_of(plan, rows, result)  # type: ignore[arg-type]


def fork_join():
    """backup (done) → install (running, started 20:00, 90 min) → migrate (120 min); and a
    short side step after the backup (10 min). The path runs through install and migrate."""
    rows = [
        row("backup", "Back up", minutes=15, state="done", started_at=SATURDAY_20,
            finished_at=SATURDAY_20 + timedelta(minutes=20)),
        row("install", "Install", minutes=90, state="in-progress", started_at=SATURDAY_20),
        row("side", "Side step", minutes=10),
        row("migrate", "Migrate", minutes=120, point_of_no_return=True),
    ]  # fmt: skip
    rows[1]["depends_on"] = ("backup",)
    rows[2]["depends_on"] = ("backup",)
    rows[3]["depends_on"] = ("install",)
    return rows


def lanes_of(svg: str) -> dict[str, str]:
    """Each lane's label → its markup."""
    return {
        re.search(r"<text [^>]*>(?:◆ )?([^<]+)</text>", group).group(1): group
        for group in re.findall(r'<g class="timeline-lane[^"]*">.*?</g>', svg)
    }


def test_the_critical_path_s_lanes_are_marked_and_the_others_not():
    timeline = drawn(fork_join(), window=Window(SATURDAY_20, SATURDAY_20 + timedelta(hours=4)))

    lanes = lanes_of(str(timeline_svg(timeline)))

    assert timeline.critical_steps == {"install", "migrate"}
    assert 'class="timeline-lane critical"' in lanes["Install"]
    assert 'class="timeline-lane critical"' in lanes["Migrate"]
    assert "critical" not in lanes["Side step"] and "critical" not in lanes["Back up"]
    assert "bar-done" in lanes["Back up"] and "bar-running" in lanes["Install"]
    assert "bar-remaining" in lanes["Migrate"]


def test_now_sits_between_the_window_s_start_and_its_end_where_the_clock_says():
    window = Window(SATURDAY_20, SATURDAY_20 + timedelta(hours=4))
    svg = str(timeline_svg(drawn(fork_join(), window=window)))

    band = re.search(r'class="timeline-window" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    now = float(re.search(r'data-marker="now"><line x1="([\d.]+)"', svg).group(1))
    left, width = float(band.group(1)), float(band.group(2))

    # Now is an hour into a four-hour window: a quarter of the way along its band.
    assert now == pytest.approx(left + width / 4, abs=1.5)


def test_a_forecast_past_the_window_s_end_draws_its_end_after_the_window_s():
    short = Window(SATURDAY_20, SATURDAY_20 + timedelta(hours=2))
    timeline = drawn(fork_join(), window=short)
    svg = str(timeline_svg(timeline))

    end = float(re.search(r'data-marker="forecast end"><line x1="([\d.]+)"', svg).group(1))
    closes = float(re.search(r'data-marker="window ends"><line x1="([\d.]+)"', svg).group(1))

    # Install runs until 21:30, then migrate two hours: 23:30, past the window's 22:00.
    assert timeline.forecast_end == SATURDAY_20 + timedelta(hours=3, minutes=30)
    assert end > closes
    assert timeline.no_return is not None and timeline.no_return.title == "Migrate"
    assert timeline.no_return.at == SATURDAY_20 + timedelta(minutes=90)


def test_a_fleet_of_machines_draws_as_one_lane_however_many_there_are():
    machines = [
        row(f"m{i}", f"Upgrade web-{i}", minutes=5, kind="upgrade-tentacle", tentacle=f"web-{i}")
        for i in range(500)
    ]

    timeline = drawn([row("prep", "Prepare", minutes=30), *machines])

    assert len(timeline.lanes) == 2
    assert timeline.lanes[1].machines == 500
    assert "(500 machines)" in timeline.lanes[1].label


def test_names_in_the_drawing_are_text_never_markup():
    rows = [row("x", "<script>alert(1)</script>", minutes=5)]

    svg = str(timeline_svg(drawn(rows)))

    assert "<script>" not in svg and "&lt;script&gt;" in svg


# --- On the page ------------------------------------------------------------------------------


@pytest.fixture
def saturday_evening(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: SATURDAY_20 - timedelta(hours=1))


def late_plan() -> services.CreatedPlan:
    created = create_plan(backup_size_mb=300, tentacles=fleet(4))
    services.schedule_set(
        plan=created.plan, window_start=SATURDAY_20, window_end=SATURDAY_20 + timedelta(hours=2)
    )
    return created


@pytest.mark.django_db
def test_the_page_shows_the_timeline_and_the_go_no_go_banner_with_the_rollback_card(
    client, saturday_evening
):
    created = late_plan()

    html = client.get(f"/p/{created.edit_token}/").content.decode()

    assert '<svg class="chart timeline"' in html
    banner = re.search(
        r'<div class="message message-error go-no-go" role="alert".*?</div>', html, re.S
    )
    assert banner and "Go or no-go?" in banner.group()
    first_no_return = (
        Step.objects.of_plan(created.plan).filter(point_of_no_return=True).order_by("position")
    ).first()
    assert first_no_return.title in banner.group()
    assert 'id="schedule-rollback"' in html and "If we stop now" in html


@pytest.mark.django_db
def test_a_plan_that_fits_shows_no_banner_and_offers_a_rehearsal(client, saturday_evening):
    created = create_plan(backup_size_mb=300)
    services.schedule_set(
        plan=created.plan, window_start=SATURDAY_20, window_end=SATURDAY_20 + timedelta(days=2)
    )

    html = client.get(f"/p/{created.edit_token}/").content.decode()

    assert 'id="schedule-overrun"' not in html
    assert "Make a rehearsal plan" in html
    assert "Apply the latest rehearsal" not in html


@pytest.mark.django_db
def test_the_steps_on_the_critical_path_carry_a_badge_in_the_checklist(client, saturday_evening):
    created = late_plan()
    path = set(plan_schedule(created.plan)["critical_path"])

    html = client.get(f"/p/{created.edit_token}/").content.decode()

    cards = dict(
        re.findall(r'<li class="step card[^"]*" id="step-([\w-]+)">(.*?)</li>', html, re.S)
    )
    marked = {step_id for step_id, card in cards.items() if "critical-badge" in card}
    assert marked and marked == path & set(cards)


@pytest.mark.django_db
def test_the_read_only_page_shows_the_timeline_but_no_rehearsal_buttons(client, saturday_evening):
    created = late_plan()

    html = client.get(f"/v/{created.view_token}/").content.decode()
    refused = client.post(f"/p/{created.view_token}/rehearsal")

    assert '<svg class="chart timeline"' in html
    assert "Make a rehearsal plan" not in html
    assert refused.status_code == 404
    assert not Plan.objects.filter(rehearsal_of=created.plan).exists()


@pytest.mark.django_db
def test_the_rehearsal_button_makes_a_linked_plan_and_opens_it(client):
    created = create_plan(backup_size_mb=300)

    response = client.post(f"/p/{created.edit_token}/rehearsal")

    rehearsal = Plan.objects.get(rehearsal_of=created.plan)
    created.plan.refresh_from_db()
    assert created.plan.latest_rehearsal_id == rehearsal.pk
    assert response.status_code == 302 and response["Location"].startswith("/p/")
    page = client.get(response["Location"]).content.decode()
    assert "This is a rehearsal of" in page
    assert "Apply these durations to the live plan" in page
    htmx = client.post(f"/p/{created.edit_token}/rehearsal", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx["HX-Redirect"].startswith("/p/")


def finish_in_rehearsal(rehearsal: Plan, kind: str, minutes: int) -> int:
    """Mark the rehearsal's steps of `kind` done, each measured at `minutes`."""
    start = timezone.now() - timedelta(hours=5)
    return (
        Step.objects.of_plan(rehearsal)
        .filter(kind=kind)
        .update(
            state=StepState.DONE, started_at=start, finished_at=start + timedelta(minutes=minutes)
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_applying_a_rehearsal_from_its_page_changes_the_live_forecast_and_shows_both(client, htmx):
    created = create_plan(backup_size_mb=300)
    services.schedule_set(plan=created.plan, window_start=timezone.now() + timedelta(hours=1))
    response = client.post(f"/p/{created.edit_token}/rehearsal")
    rehearsal_token = response["Location"].split("/")[2]
    rehearsal = Plan.objects.get(rehearsal_of=created.plan)
    estimate = Step.objects.of_plan(created.plan).get(kind="migrate-data").estimate_minutes
    assert finish_in_rehearsal(rehearsal, "migrate-data", estimate + 600) == 1
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    answer = client.post(f"/p/{rehearsal_token}/rehearsal/apply", follow=not htmx, **headers)

    html = unescape(answer.content.decode())
    migrate = Step.objects.of_plan(created.plan).get(kind="migrate-data")
    assert migrate.estimate_minutes == estimate + 600
    assert "Applied the rehearsal's measured times to 1 step" in html
    assert "→" in html
    if htmx:
        assert "<table" in html and "Before" in html and "After" in html
    assert Activity.objects.filter(plan=created.plan, action="rehearsal-applied").exists()


@pytest.mark.django_db
def test_applying_a_rehearsal_that_measured_nothing_says_so_and_changes_nothing(client):
    created = create_plan(backup_size_mb=300)
    client.post(f"/p/{created.edit_token}/rehearsal")
    version = Plan.objects.get(pk=created.plan.pk).version

    answer = client.post(f"/p/{created.edit_token}/rehearsal/apply", follow=True)

    assert "no measured step yet" in answer.content.decode()
    assert Plan.objects.get(pk=created.plan.pk).version == version


@pytest.mark.django_db
def test_the_markdown_export_carries_the_window_the_forecast_and_the_times_steps_ran(client):
    created = create_plan(backup_size_mb=300)
    services.schedule_set(
        plan=created.plan,
        window_start=timezone.now() - timedelta(hours=1),
        window_end=timezone.now() + timedelta(hours=1),
    )
    step = Step.objects.of_plan(created.plan).filter(state=StepState.READY).order_by("position")[0]
    services.step_act(plan=created.plan, step_id=step.id, action="start")

    text = client.get(f"/api/v1/plans/{created.view_token}/export.md").content.decode()

    schedule = text.split("## Schedule", 1)[1].split("## Checklist", 1)[0]
    assert "- Window: " in schedule and "- Forecast end: 20" in schedule
    assert "- Fits the window: no," in schedule and "late" in schedule
    assert "- Critical path: steps " in schedule
    assert f"Estimate {step.estimate_minutes} min · started 20" in text
    assert "◆ *critical path*" in text


@pytest.mark.django_db
def test_the_schedule_is_a_live_section_sent_when_a_step_moves_the_forecast(client):
    created = create_plan(backup_size_mb=300)
    services.schedule_set(plan=created.plan, window_start=timezone.now())
    version = Plan.objects.get(pk=created.plan.pk).version
    first = client.get(f"/v/{created.view_token}/poll?v={version - 1}").content.decode()
    assert 'id="schedule"' in first and 'hx-swap-oob="true"' in first
    step = Step.objects.of_plan(created.plan).filter(state=StepState.READY).order_by("position")[0]
    fingerprints = dict(re.findall(r'name="(fp-[\w-]+)" value="(\w+)"', first))

    services.step_update(plan=created.plan, step_id=step.id, estimate_minutes=600)
    cache.clear()  # the poll's one-second memory of the version
    after = client.get(f"/v/{created.view_token}/poll", {"v": version, **fingerprints})

    assert 'id="schedule"' in after.content.decode()


@pytest.mark.django_db
def test_the_clock_part_of_the_schedule_refreshes_alone(client, saturday_evening):
    created = late_plan()

    part = client.get(
        f"/v/{created.view_token}/schedule/panel?part=now", HTTP_HX_REQUEST="true"
    ).content.decode()

    assert part.lstrip().startswith('<div id="schedule-now"')
    assert "<svg" in part and 'role="alert"' in part and "<form" not in part
