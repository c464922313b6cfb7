"""The timed runbook's part of the plan page: the window, the forecast end and whether it fits,
the timeline (web/timeline.py), a banner offering the go/no-go decision when the forecast
passes the window's end, a form to set the window, and the rehearsal's buttons.

`schedule_panel` is the presenter (for `templates/plans/_schedule.html`); the views render that
partial on its own (`GET`, for htmx or a page that includes it; `?part=now` for the part that
moves with the clock), set the window and apply a rehearsal's measured times (`POST`, which
also works as a plain form post without JavaScript)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST, require_safe

from upgrade_planner.domain.schedule import duration_words
from upgrade_planner.plans import services
from upgrade_planner.plans.access import client_address, link_for_token
from upgrade_planner.plans.forms import ScheduleForm, problems
from upgrade_planner.plans.models import LinkKind, Plan, PlanLink
from upgrade_planner.web.timeline import DONE, NoReturn, Timeline, cached_timeline, timeline_svg

SCHEDULE_PARTIAL = "plans/_schedule.html"
SCHEDULE_PAGE = "plans/schedule.html"
SCHEDULE_NOW = "plans/_schedule.html#schedule-now"


def _moment(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


@dataclass(frozen=True)
class SchedulePanel:
    window_start: datetime | None
    window_end: datetime | None
    forecast_end: datetime | None
    fits_window: bool | None
    slack_minutes: int | None
    remaining_minutes: int
    people_at_once: int
    critical_steps: int
    can_edit: bool
    form: ScheduleForm
    action: str
    now: datetime
    anchored: bool
    timeline_svg: str
    no_return: NoReturn | None
    no_return_passed: bool
    refresh_url: str  # "" once every step is finished: nothing moves with the clock then
    is_rehearsal: bool
    has_rehearsal: bool
    rehearsal_url: str
    apply_url: str

    @property
    def overruns(self) -> bool:
        """The forecast passes the window's end: the page shows the banner."""
        return self.fits_window is False

    @property
    def slack_words(self) -> str:
        return duration_words(self.slack_minutes or 0)

    @property
    def remaining_words(self) -> str:
        return duration_words(self.remaining_minutes)


def schedule_panel(
    plan: Plan,
    *,
    token: str,
    can_edit: bool,
    timeline: Timeline | None = None,
    return_to: str = "",
) -> SchedulePanel:
    """What the schedule partial shows of `plan` (two queries, once per version and minute;
    none when given the plan's `timeline`). Its form comes back to `return_to`, else to the
    plan page."""
    timeline = timeline or cached_timeline(plan)
    schedule = timeline.schedule
    page = reverse("plan-edit", kwargs={"token": token})
    form = ScheduleForm(None, page=page)
    form.initial = {
        "window_start": plan.window_start,
        "window_end": plan.window_end,
        "people_at_once": plan.people_at_once,
        "next": return_to or page,
    }
    moving = any(bar.status != DONE for lane in timeline.lanes for bar in lane.bars)
    panel_route = "plan-schedule-panel" if can_edit else "plan-view-schedule-panel"
    return SchedulePanel(
        window_start=plan.window_start,
        window_end=plan.window_end,
        forecast_end=_moment(schedule["forecast_end"]),
        fits_window=schedule["fits_window"],
        slack_minutes=schedule["slack_minutes"],
        remaining_minutes=schedule["remaining_minutes"],
        people_at_once=plan.people_at_once,
        critical_steps=len(schedule["critical_path"]),
        can_edit=can_edit,
        form=form,
        action=reverse("plan-schedule", kwargs={"token": token}),
        now=timeline.now,
        anchored=timeline.anchored,
        timeline_svg=timeline_svg(timeline),
        no_return=timeline.no_return,
        no_return_passed=timeline.no_return_passed,
        refresh_url=reverse(panel_route, kwargs={"token": token}) + "?part=now" if moving else "",
        is_rehearsal=plan.rehearsal_of_id is not None,
        has_rehearsal=plan.latest_rehearsal_id is not None,
        rehearsal_url=reverse("plan-rehearsal", kwargs={"token": token}),
        apply_url=reverse("plan-rehearsal-apply", kwargs={"token": token}),
    )


def _link(request: HttpRequest, token: str, *, edit: bool) -> PlanLink:
    link = link_for_token(token, client=client_address(request.META))
    if edit and link.kind != LinkKind.EDIT:
        raise Http404("No plan has this link.")
    return link


@require_safe
def schedule_partial(request: HttpRequest, token: str, read_only: bool = False) -> HttpResponse:
    """The schedule partial alone for htmx, else on a page of its own (the /v/ route shows
    it without the form)."""
    link = _link(request, token, edit=not read_only)
    panel = schedule_panel(link.plan, token=token, can_edit=link.can_edit and not read_only)
    if request.headers.get("HX-Request") == "true":
        # The page refreshes the part that moves with the clock (the forecast, the timeline)
        # every minute; the rest changes with the plan's version, which its poll follows.
        template = SCHEDULE_NOW if request.GET.get("part") == "now" else SCHEDULE_PARTIAL
        return render(request, template, {"schedule": panel})
    plan_url = reverse("plan-view" if read_only else "plan-edit", kwargs={"token": token})
    return render(
        request, SCHEDULE_PAGE, {"schedule": panel, "plan": link.plan, "plan_url": plan_url}
    )


@require_POST
def schedule_set(request: HttpRequest, token: str) -> HttpResponse:
    """Set the window and the people from the partial's form, then back to the page."""
    link = _link(request, token, edit=True)
    page = reverse("plan-edit", kwargs={"token": token})
    form = ScheduleForm(request.POST, page=page)
    if not form.is_valid():
        for message in problems(form):
            messages.error(request, message)
        return redirect(form.return_to)
    try:
        services.schedule_set(
            plan=link.plan,
            window_start=form.cleaned_data["window_start"],
            window_end=form.cleaned_data["window_end"],
            people_at_once=form.cleaned_data["people_at_once"],
            actor=str(request.session.get("actor", "")),
        )
    except services.PlanInputInvalid as invalid:
        for field_messages in invalid.errors.values():
            for message in field_messages:
                messages.error(request, message)
    else:
        messages.success(request, "Schedule saved: the forecast now counts with it.")
    return redirect(form.return_to)


@dataclass(frozen=True)
class ForecastShown:
    """One side of a before/after forecast, in words."""

    forecast_end: str
    remaining: str
    fits: str


def forecast_shown(schedule: Mapping[str, Any]) -> ForecastShown:
    end = _moment(schedule["forecast_end"])
    fits = schedule["fits_window"]
    slack = duration_words(schedule["slack_minutes"] or 0)
    return ForecastShown(
        forecast_end=dateformat.format(timezone.localtime(end), "D j M H:i e") if end else "",
        remaining=duration_words(schedule["remaining_minutes"]),
        fits="—" if fits is None else f"yes, {slack} to spare" if fits else f"no, {slack} late",
    )


@require_POST
def rehearsal_apply(request: HttpRequest, token: str) -> HttpResponse:
    """Make a rehearsal's measured times the live plan's estimates: from the live plan (its
    latest rehearsal), or from a rehearsal plan (its own times, to the plan it rehearses),
    whose edit link was made for this by someone holding the live plan's. Answers the
    forecast before and after."""
    link = _link(request, token, edit=True)
    plan = link.plan
    live = plan.rehearsal_of if plan.rehearsal_of_id is not None else plan
    applied: dict[str, ForecastShown] | None = None
    if live is None:  # the live plan is gone: SET_NULL keeps the rehearsal alone
        level, text = "error", "The plan this rehearsal was made for no longer exists."
    else:
        try:
            outcome = services.rehearsal_apply(
                plan=live,
                rehearsal_id=plan.pk if live is not plan else None,
                actor=str(request.session.get("actor", "")),
            )
        except (services.RehearsalNotFound, services.NothingMeasured) as refused:
            level, text = "error", str(refused)
        else:
            changed = sum(measured.steps_changed for measured in outcome.applied)
            before, after = forecast_shown(outcome.before), forecast_shown(outcome.after)
            applied = {"before": before, "after": after}
            level = "success"
            text = (
                f"Applied the rehearsal's measured times to {changed} step"
                f"{'s' if changed != 1 else ''} of “{live.name}”: work left {before.remaining}"
                f" → {after.remaining}"
                + (
                    f"; forecast end {before.forecast_end} → {after.forecast_end}."
                    if after.forecast_end
                    else "."
                )
            )
    if request.headers.get("HX-Request") == "true":
        return render(
            request,
            "plans/_schedule.html#rehearsal-outcome",
            {"outcome": {"level": level, "text": text}, "applied": applied},
        )
    messages.add_message(request, messages.SUCCESS if applied else messages.ERROR, text)
    return redirect(reverse("plan-edit", kwargs={"token": token}) + "#schedule")
