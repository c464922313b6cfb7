"""Small server-rendered SVG charts: no third-party script, no inline styles (the CSP forbids
them), colours as SVG presentation attributes."""

from __future__ import annotations

from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

STATE_COLOURS = {
    "blocked": "#9aa5b4",
    "ready": "#1f5fa8",
    "in-progress": "#d49a00",
    "done": "#1d7a46",
    "skipped": "#6b7685",
    "failed": "#a3262a",
}
STATE_LABELS = {
    "blocked": "Blocked",
    "ready": "Ready",
    "in-progress": "In progress",
    "done": "Done",
    "skipped": "Excluded / skipped",
    "failed": "Failed",
}


def state_bar_chart(counts: list[tuple[str, int]], *, title: str) -> SafeString:
    """One horizontal bar per state, labelled with its count."""
    rows = [(state, n) for state, n in counts if n]
    if not rows:
        return mark_safe("")
    width, bar_left, row_height = 420, 130, 26
    biggest = max(n for _, n in rows)
    height = row_height * len(rows) + 8
    parts = [
        format_html(
            '<svg class="chart" role="img" viewBox="0 0 {} {}" width="100%" '
            'preserveAspectRatio="xMinYMin meet" aria-labelledby="{}">'
            '<title id="{}">{}</title>',
            width,
            height,
            "chart-" + title.replace(" ", "-").lower(),
            "chart-" + title.replace(" ", "-").lower(),
            title + ": " + ", ".join(f"{STATE_LABELS.get(s, s)} {n}" for s, n in rows),
        )
    ]
    for index, (state, n) in enumerate(rows):
        y = 4 + index * row_height
        bar = max(2, round((width - bar_left - 60) * n / biggest))
        parts.append(
            format_html(
                '<text x="0" y="{}" font-size="13" fill="#1b2330">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="16" rx="3" fill="{}"/>'
                '<text x="{}" y="{}" font-size="13" fill="#1b2330">{}</text>',
                y + 13,
                STATE_LABELS.get(state, state),
                bar_left,
                y + 1,
                bar,
                STATE_COLOURS.get(state, "#888"),
                bar_left + bar + 6,
                y + 13,
                f"{n:,}",
            )
        )
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308 - parts are escaped


def progress_over_time_chart(
    points: list[tuple[datetime, int]], *, total: int, title: str = "Steps finished over time"
) -> SafeString:
    """A step line of finished steps over time."""
    if len(points) < 2 or total <= 0:
        return mark_safe("")
    width, height, pad = 420, 140, 28
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return pad + (width - 2 * pad) * (moment - start).total_seconds() / span

    def y(value: int) -> float:
        return height - pad - (height - 2 * pad) * value / total

    path = [f"M{x(points[0][0]):.1f},{y(points[0][1]):.1f}"]
    for moment, value in points[1:]:
        path.append(f"H{x(moment):.1f}V{y(value):.1f}")
    label = f"{title}: {points[-1][1]} of {total} by {end:%Y-%m-%d %H:%M} UTC"
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="100%" aria-label="{label}">'
        '<line x1="{p}" y1="{base}" x2="{right}" y2="{base}" stroke="#9aa5b4"/>'
        '<line x1="{p}" y1="{top}" x2="{right}" y2="{top}" stroke="#d9dee7"'
        ' stroke-dasharray="4 4"/>'
        '<text x="{p}" y="{toplabel}" font-size="11" fill="#4a5566">{total} steps</text>'
        '<path d="{d}" fill="none" stroke="#1d7a46" stroke-width="2.5"/>'
        '<text x="{p}" y="{h}" font-size="11" fill="#4a5566">{start}</text>'
        '<text x="{right}" y="{h}" font-size="11" fill="#4a5566" text-anchor="end">{end}</text>'
        "</svg>",
        w=width,
        h=height - 4,
        label=label,
        p=pad,
        right=width - pad,
        base=height - pad,
        top=pad,
        toplabel=pad - 6,
        total=total,
        d=" ".join(path),
        start=f"{start:%d %b %H:%M}",
        end=f"{end:%d %b %H:%M}",
    )
