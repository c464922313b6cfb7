"""The timed runbook's part of the plan page: the window, the forecast end and whether it fits,
with a banner when the forecast passes the window's end, and a form to set the window.

`schedule_panel` is the presenter (for `templates/plans/_schedule.html`); the views render that
partial on its own (`GET`, for htmx or a page that includes it) and set the window (`POST`,
which also works as a plain form post without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST, require_safe

from upgrade_planner.plans import services
from upgrade_planner.plans.access import client_address, link_for_token
from upgrade_planner.plans.forecasts import cached_schedule
from upgrade_planner.plans.forms import ScheduleForm, problems
from upgrade_planner.plans.models import LinkKind, Plan, PlanLink

SCHEDULE_PARTIAL = "plans/_schedule.html"
SCHEDULE_PAGE = "plans/schedule.html"


def _moment(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def duration_words(minutes: int) -> str:
    """“3 h 20 min”, “45 min”, “2 days 4 h”."""
    minutes = abs(minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if mins and not days:
        parts.append(f"{mins} min")
    return " ".join(parts) or "0 min"


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


def schedule_panel(plan: Plan, *, token: str, can_edit: bool) -> SchedulePanel:
    """What the schedule partial shows of `plan` (two queries, once per version and minute)."""
    schedule = cached_schedule(plan)
    page = reverse("plan-edit", kwargs={"token": token})
    form = ScheduleForm(None, page=page)
    form.initial = {
        "window_start": plan.window_start,
        "window_end": plan.window_end,
        "people_at_once": plan.people_at_once,
        "next": page,
    }
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
        return render(request, SCHEDULE_PARTIAL, {"schedule": panel})
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
