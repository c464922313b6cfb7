"""The timed runbook drawn: the window, "now", the work done, running and left, and the critical
path, as a server-rendered SVG (no third-party script; colours as presentation attributes,
since the CSP forbids inline styles), beside the other charts of web/charts.py.

`timeline_of` folds the steps and their forecast into lanes, one for each plan-wide step and
one for each fleet of per-Tentacle steps (so a plan of 5,000 Tentacles draws as many lanes as
one of five); `timeline_svg` draws them. `cached_timeline` works a plan's out (from
`version_steps`) once per plan version and minute, and carries the plan document's `schedule`
object too: the page reads the forecast once for the panel, the badges and the drawing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from upgrade_planner.domain.schedule import Forecast
from upgrade_planner.domain.vocabulary import SATISFIED_STATES, StepState
from upgrade_planner.plans.forecasts import forecast_of, schedule_document
from upgrade_planner.plans.models import Plan
from upgrade_planner.web import page_cache
from upgrade_planner.web.labels import FLEET_CANARY_LABELS, FLEET_LABELS
from upgrade_planner.web.version_steps import version_steps

CACHE_SECONDS = 60

DONE, RUNNING, REMAINING = "done", "running", "remaining"
BAR_COLOURS = {DONE: "#1d7a46", RUNNING: "#d49a00", REMAINING: "#8fb0d9"}
CRITICAL_COLOUR = "#a3262a"
BAR_WORDS = {DONE: "done", RUNNING: "running", REMAINING: "to do"}

FleetKey = tuple[int, str, str, bool]  # hop, phase, kind, canary: a fleet of the checklist


@dataclass(frozen=True)
class Bar:
    start: datetime
    end: datetime
    status: str  # DONE, RUNNING or REMAINING


@dataclass(frozen=True)
class Lane:
    label: str
    bars: tuple[Bar, ...]
    critical: bool
    machines: int  # 0 for a plan-wide step


@dataclass(frozen=True)
class NoReturn:
    """The plan's next point of no return: the last moment to decide go or no-go."""

    step_id: str
    title: str
    at: datetime | None  # when it is forecast to start; None when it has started


@dataclass(frozen=True)
class Timeline:
    now: datetime
    window_start: datetime | None
    window_end: datetime | None
    forecast_end: datetime | None
    anchored: bool  # False: not started and no window: drawn as if the work began now
    lanes: tuple[Lane, ...]
    critical_steps: frozenset[str]  # step ids
    critical_fleets: frozenset[FleetKey]
    no_return: NoReturn | None  # None when none is left ahead (or the plan has none)
    no_return_passed: bool  # a point of no return is done or under way
    schedule: dict[str, Any]  # the plan document's `schedule` object


def _fleet_label(kind: str, canary: bool, *, canaries: bool) -> str:
    if kind == "upgrade-tentacle" and canaries:
        return FLEET_CANARY_LABELS[canary]
    return FLEET_LABELS.get(kind, kind)


def _bars(rows: Sequence[Mapping[str, Any]], result: Forecast) -> tuple[Bar, ...]:
    """A lane's bars: its finished work as it ran, its running and its remaining work as
    forecast (each the span of its members')."""
    spans: dict[str, tuple[datetime, datetime]] = {}

    def widen(status: str, start: datetime, end: datetime) -> None:
        low, high = spans.get(status, (start, end))
        spans[status] = (min(low, start), max(high, end))

    for row in rows:
        finished = row["state"] in SATISFIED_STATES
        if finished:
            if row["finished_at"] is not None and row["state"] == StepState.DONE:
                widen(DONE, row["started_at"] or row["finished_at"], row["finished_at"])
            continue
        timing = result.timings.get(row["id"])
        if timing is None:
            continue
        if row["state"] == StepState.IN_PROGRESS and row["started_at"] is not None:
            widen(RUNNING, row["started_at"], result.at(timing.end))
        else:
            widen(REMAINING, result.at(timing.start), result.at(timing.end))
    return tuple(Bar(start, end, status) for status, (start, end) in spans.items())


def timeline_of(plan: Plan, rows: Iterable[Mapping[str, Any]], result: Forecast) -> Timeline:
    """The lanes of `rows` (version_steps.STEP_FIELDS, in plan order) with `result`, their
    forecast. Reads nothing."""
    rows = list(rows)
    critical = frozenset(result.critical_path)
    canaries = any(row["tentacle"] and row["canary"] for row in rows)
    groups: dict[str | FleetKey, list[Mapping[str, Any]]] = {}
    for row in rows:
        key: str | FleetKey = (
            (row["hop"], row["phase"], row["kind"], row["canary"] and canaries)
            if row["tentacle"]
            else row["id"]
        )
        groups.setdefault(key, []).append(row)
    lanes = []
    for key, members in groups.items():
        if isinstance(key, tuple):
            label = _fleet_label(key[2], key[3], canaries=canaries)
            label += f" ({len(members):,} machine{'s' if len(members) != 1 else ''})"
        else:
            label = members[0]["title"]
        lanes.append(
            Lane(
                label=label,
                bars=_bars(members, result),
                critical=any(member["id"] in critical for member in members),
                machines=len(members) if isinstance(key, tuple) else 0,
            )
        )
    no_return_rows = [row for row in rows if row["point_of_no_return"]]
    ahead = next(
        (
            row
            for row in no_return_rows
            if row["state"] not in SATISFIED_STATES and row["state"] != StepState.IN_PROGRESS
        ),
        None,
    )
    passed = any(
        row["state"] == StepState.DONE or row["state"] == StepState.IN_PROGRESS
        for row in no_return_rows
    )
    timing = result.timings.get(ahead["id"]) if ahead else None
    anchored = result.end is not None or plan.window_start is not None
    return Timeline(
        now=result.now,
        window_start=plan.window_start,
        window_end=plan.window_end,
        forecast_end=result.end,
        anchored=anchored,
        lanes=tuple(lanes),
        critical_steps=critical,
        critical_fleets=frozenset(
            (row["hop"], row["phase"], row["kind"], row["canary"])
            for row in rows
            if row["tentacle"] and row["id"] in critical
        ),
        no_return=NoReturn(
            step_id=ahead["id"],
            title=ahead["title"],
            at=result.at(timing.start) if timing and anchored else None,
        )
        if ahead and not passed
        else None,
        no_return_passed=passed,
        schedule=schedule_document(plan, result),
    )


def plan_timeline(plan: Plan, *, now: datetime | None = None) -> Timeline:
    """The timeline of `plan` as it stands, from its steps (`version_steps`: two queries, or
    none for a version a transition made from one this process keeps)."""
    steps = version_steps(plan)
    return timeline_of(plan, steps.rows, forecast_of(plan, steps.tasks(), now=now))


def cached_timeline(plan: Plan) -> Timeline:
    """`plan_timeline`, computed at most once a minute per plan version (and kept by each
    process that uses it until it is a minute old)."""
    key = f"timeline:{plan.pk}:{plan.version}"
    return page_cache.remembered(
        key,
        lambda: plan_timeline(plan),
        kind=Timeline,
        seconds=CACHE_SECONDS,
        copy=page_cache.same,  # frozen, and read only
        fresh_for=lambda timeline: CACHE_SECONDS - (timezone.now() - timeline.now).total_seconds(),
    )


# --- The drawing -----------------------------------------------------------------------------

WIDTH = 760
LABEL_WIDTH = 230
RIGHT_PAD = 16
TOP = 34  # the time axis and the markers' labels
LANE_HEIGHT = 20
BAR_HEIGHT = 12
LEGEND_HEIGHT = 34
# Tick spacings, in minutes, from which the axis takes the first giving at most MAX_TICKS.
TICK_STEPS = (15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
MAX_TICKS = 8


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment)


def _span(timeline: Timeline) -> tuple[datetime, datetime]:
    moments = [timeline.now]
    for moment in (timeline.window_start, timeline.window_end, timeline.forecast_end):
        if moment is not None:
            moments.append(moment)
    for lane in timeline.lanes:
        for bar in lane.bars:
            moments += [bar.start, bar.end]
    low, high = min(moments), max(moments)
    if high - low < timedelta(hours=1):
        high = low + timedelta(hours=1)
    margin = (high - low) / 40
    return low - margin, high + margin


def _ticks(low: datetime, high: datetime) -> list[datetime]:
    minutes = (high - low).total_seconds() / 60
    step = next((s for s in TICK_STEPS if minutes / s <= MAX_TICKS), TICK_STEPS[-1])
    local = _local(low)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (local - midnight).total_seconds() / 60
    first = midnight + timedelta(minutes=math.ceil(elapsed / step) * step)
    ticks = []
    moment = first
    while moment <= high:
        ticks.append(moment)
        moment += timedelta(minutes=step)
    return ticks


def timeline_svg(timeline: Timeline) -> SafeString:
    """The timeline as an SVG figure, or "" when there is nothing to draw."""
    if not any(lane.bars for lane in timeline.lanes):
        return mark_safe("")
    low, high = _span(timeline)
    seconds = (high - low).total_seconds()
    plot = WIDTH - LABEL_WIDTH - RIGHT_PAD
    lanes_bottom = TOP + LANE_HEIGHT * len(timeline.lanes)
    height = lanes_bottom + LEGEND_HEIGHT

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + plot * (moment - low).total_seconds() / seconds, 1)

    critical = [lane.label for lane in timeline.lanes if lane.critical]
    summary = _summary(timeline, critical)
    parts: list[str] = [
        format_html(
            '<svg class="chart timeline" role="img" viewBox="0 0 {} {}" '
            'preserveAspectRatio="xMinYMin meet" aria-labelledby="timeline-title timeline-desc">'
            '<title id="timeline-title">Timeline of the work</title>'
            '<desc id="timeline-desc">{}</desc>'
            '<defs><clipPath id="timeline-labels"><rect x="0" y="0" width="{}" height="{}"/>'
            "</clipPath></defs>",
            WIDTH,
            height,
            summary,
            LABEL_WIDTH - 8,
            height,
        )
    ]
    if timeline.window_start is not None or timeline.window_end is not None:
        start = max(timeline.window_start or low, low)
        end = min(timeline.window_end or high, high)
        parts.append(
            format_html(
                '<rect class="timeline-window" x="{}" y="{}" width="{}" height="{}" '
                'fill="#e3f0e6" data-start="{}" data-end="{}"/>',
                x(start),
                TOP - 4,
                max(1.0, x(end) - x(start)),
                lanes_bottom - TOP + 8,
                start.isoformat(),
                end.isoformat(),
            )
        )
    for tick in _ticks(low, high):
        label = f"{tick:%a %H:%M}" if tick.hour == 0 and tick.minute == 0 else f"{tick:%H:%M}"
        parts.append(
            format_html(
                '<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#d9dee7"/>'
                '<text x="{x}" y="{label_y}" font-size="10" fill="#4a5566" '
                'text-anchor="middle">{label}</text>',
                x=x(tick),
                top=TOP - 4,
                bottom=lanes_bottom,
                label_y=TOP - 8,
                label=label,
            )
        )
    for index, lane in enumerate(timeline.lanes):
        y = TOP + index * LANE_HEIGHT
        words = ", ".join(
            f"{BAR_WORDS[bar.status]} {_local(bar.start):%H:%M} to {_local(bar.end):%H:%M}"
            for bar in lane.bars
        )
        parts.append(
            format_html(
                '<g class="timeline-lane{}"><title>{}</title>'
                '<text x="0" y="{}" font-size="11" fill="{}" font-weight="{}" '
                'clip-path="url(#timeline-labels)">{}{}</text>',
                " critical" if lane.critical else "",
                # The label itself is the lane's text (clipped to its column, not cut short),
                # so that a search of the page's text finds it once, where it shows.
                "; ".join(
                    part
                    for part in ("on the critical path" if lane.critical else "", words)
                    if part
                )
                or "nothing to draw",
                y + BAR_HEIGHT,
                CRITICAL_COLOUR if lane.critical else "#1b2330",
                "bold" if lane.critical else "normal",
                "◆ " if lane.critical else "",
                lane.label,
            )
        )
        for bar in sorted(lane.bars, key=lambda bar: bar.status != REMAINING):
            left = x(max(bar.start, low))
            critical_edge = lane.critical and bar.status != DONE
            parts.append(
                format_html(
                    '<rect class="bar-{}" x="{}" y="{}" width="{}" height="{}" rx="2" '
                    'fill="{}"{}/>',
                    bar.status,
                    left,
                    y + 3,
                    max(2.0, x(bar.end) - left),
                    BAR_HEIGHT,
                    BAR_COLOURS[bar.status],
                    format_html(' stroke="{}" stroke-width="2"', CRITICAL_COLOUR)
                    if critical_edge
                    else "",
                )
            )
        parts.append(mark_safe("</g>"))
    parts.append(_marker(x(timeline.now), "now", "#1b2330", lanes_bottom, dashed=False))
    if timeline.forecast_end is not None and low <= timeline.forecast_end <= high:
        late = timeline.window_end is not None and timeline.forecast_end > timeline.window_end
        parts.append(
            _marker(
                x(timeline.forecast_end),
                "forecast end",
                CRITICAL_COLOUR if late else "#1d7a46",
                lanes_bottom,
                dashed=True,
            )
        )
    if timeline.window_end is not None and low <= timeline.window_end <= high:
        parts.append(_marker(x(timeline.window_end), "window ends", "#2d6a3e", lanes_bottom))
    parts.append(_legend(lanes_bottom + 24))
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308 - parts are escaped


def _marker(at: float, label: str, colour: str, bottom: int, *, dashed: bool | None = None) -> str:
    """A vertical line across the lanes, labelled at its foot."""
    dash = "5 3" if dashed else "2 2" if dashed is None else "none"
    anchor = "end" if at > WIDTH - 60 else "start" if at < LABEL_WIDTH + 40 else "middle"
    return str(
        format_html(
            '<g class="timeline-marker" data-marker="{label}">'
            '<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{colour}" '
            'stroke-width="2" stroke-dasharray="{dash}"/>'
            '<text x="{x}" y="{label_y}" font-size="10" fill="{colour}" text-anchor="{anchor}" '
            'font-weight="bold">{label}</text></g>',
            label=label,
            x=at,
            top=TOP - 4,
            bottom=bottom + 2,
            colour=colour,
            dash=dash,
            label_y=bottom + 12 if label != "now" else TOP - 20,
            anchor=anchor,
        )
    )


def _legend(y: int) -> str:
    items = [
        (BAR_COLOURS[DONE], "", "done"),
        (BAR_COLOURS[RUNNING], "", "running"),
        (BAR_COLOURS[REMAINING], "", "to do"),
        (BAR_COLOURS[REMAINING], CRITICAL_COLOUR, "◆ critical path"),
    ]
    parts = []
    left = 0
    for fill, stroke, words in items:
        edge = format_html(' stroke="{}" stroke-width="2"', stroke) if stroke else ""
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="14" height="10" rx="2" fill="{}"{}/>'
                '<text x="{}" y="{}" font-size="10" fill="#1b2330">{}</text>',
                left,
                y - 1,
                fill,
                edge,
                left + 18,
                y + 8,
                words,
            )
        )
        left += 36 + 6 * len(words)
    return "".join(str(part) for part in parts)


def _summary(timeline: Timeline, critical: list[str]) -> str:
    """The drawing in words, for whoever cannot see it."""
    said = []
    if timeline.window_start or timeline.window_end:
        opens = f"{_local(timeline.window_start):%a %H:%M}" if timeline.window_start else "open"
        closes = f"{_local(timeline.window_end):%a %H:%M}" if timeline.window_end else "open"
        said.append(f"Window {opens} to {closes}.")
    if timeline.forecast_end is not None:
        said.append(f"Forecast end {_local(timeline.forecast_end):%a %H:%M}.")
    elif not timeline.anchored:
        said.append("Not started and no window set: drawn as if the work began now.")
    if critical:
        said.append(
            f"{len(critical)} lane{'s' if len(critical) != 1 else ''} on the critical path, "
            "marked ◆ (and so are their steps in the checklist)."
        )
    return " ".join(said)
