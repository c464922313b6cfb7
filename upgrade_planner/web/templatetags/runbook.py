"""The printed runbook's list of machines, rendered in Python: a group can hold 10,000 of them,
and the template language would spend seconds on what this does in milliseconds."""

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from upgrade_planner.plans.exports import MachineGroup, RunbookStep

register = template.Library()

# A line for initials and the time, where a step is not finished yet.
SIGN_OFF = "<i>Initials <u></u> Time <u></u></i>"


def change_text(step: RunbookStep) -> str:
    """— completed by Ana, 2026-05-02 21:03 UTC: “reason” (escaped), or ""."""
    change = step.current_change
    if change is None:
        return ""
    reason = f": “{escape(change.reason)}”" if change.reason else ""
    who = escape(change.actor) if change.actor else "someone"
    return f' <span class="print-change">— {change.verb} by {who}, {change.when}{reason}</span>'


@register.filter
def machine_lines(group: MachineGroup) -> SafeString:
    """One <li> a machine: its name, its host, its state, who changed it last and when, and a
    line for initials while it is not finished."""
    lines = []
    # The standard library's escape, which Django's wraps: the same text, without a SafeString
    # made for every piece.
    for machine in group.machines:
        host = (
            f" {escape(machine.hostname)}"
            if machine.hostname and machine.hostname != machine.tentacle
            else ""
        )
        state = f' class="{machine.state}"' if machine.finished else ""
        sign_off = "" if machine.finished else SIGN_OFF
        lines.append(
            f"<li{state}><b>{escape(machine.tentacle)}</b>{host} · {machine.state_label}"
            f"{change_text(machine)}{sign_off}</li>"
        )
    return mark_safe("".join(lines))  # noqa: S308 - every piece of user text is escaped above


@register.filter
def step_change(step: RunbookStep) -> SafeString:
    """A plan-wide step's latest change and, while it is not finished, its sign-off line."""
    return mark_safe(change_text(step) + ("" if step.finished else SIGN_OFF))  # noqa: S308
