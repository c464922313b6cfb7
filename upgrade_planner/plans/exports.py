"""The checklist as a runbook: printed from the plan page, downloaded as Markdown and CSV.

One read (`runbook_for_plan`) gives all three the same content: every step with its
instructions, its state and its latest change (who, when, why), and the per-Tentacle steps
grouped by machine, so that machines with the same instructions share one block.

Names and titles come from users (a plan's name, Tentacle names inside step titles and details,
the names people give themselves): in the CSV no cell starts a spreadsheet formula
(domain/spreadsheet.py, shared with the inventory download), and in the Markdown they are text,
never HTML, links, images or emphasis.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from upgrade_planner.domain.schedule import Forecast, duration_words
from upgrade_planner.domain.sources import cited, source_url
from upgrade_planner.domain.spreadsheet import formula_safe
from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    ActivityAction,
    FindingSeverity,
    FindingState,
    Phase,
    StepState,
)
from upgrade_planner.plans.documents import dependency_map
from upgrade_planner.plans.forecasts import forecast_of, tasks_from_rows
from upgrade_planner.plans.models import Activity, Finding, Plan, Step

# In the instructions a group of machines shares, these stand for each machine's own name and
# host. Each machine's instructions are the shared ones with its name and host put back.
NAME_MARK = "\u2039name\u203a"
HOST_MARK = "\u2039host\u203a"

# Besides the id, always read.
STEP_FIELDS = (
    "position",
    "hop",
    "phase",
    "kind",
    "title",
    "tentacle",
    "optional",
    "canary",
    "method",
    "point_of_no_return",
    "state",
    "source",
    "detail",
    "tentacle_ref__hostname",
    "tentacle_ref__environments",
    "tentacle_ref__roles",
    "estimate_minutes",
    "assignee",
    "started_at",
    "finished_at",
)
# What the printed runbook shows: reading thousands of machines' environments and roles, which
# it does not print, would cost as much as the rest of the read.
PRINTED_STEP_FIELDS = tuple(
    name
    for name in STEP_FIELDS
    if name not in {"tentacle_ref__environments", "tentacle_ref__roles"}
)


STATE_LABELS: dict[str, str] = dict(StepState.choices)


@dataclass(frozen=True)
class Change:
    """The latest change of a step's state: who made it, when, and the reason they gave."""

    action: str
    to_state: str
    actor: str
    at: datetime
    reason: str

    @property
    def verb(self) -> str:
        """ "completed", "skipped", "reopened"… as the activity log says it."""
        if self.action in ActivityAction.values:
            return ActivityAction(self.action).label
        return self.action

    @property
    def when(self) -> str:
        """The time in UTC, to the minute, as printed and exported."""
        return self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(slots=True)  # thousands a plan: slots, and no frozen-dataclass setattr per field
class RunbookStep:
    id: str
    number: int  # 1-based, in plan order
    hop: int
    phase: str
    kind: str
    title: str
    tentacle: str
    optional: bool
    canary: bool
    method: str
    point_of_no_return: bool
    state: str
    source: str
    detail: str
    hostname: str
    environments: tuple[str, ...]
    roles: tuple[str, ...]
    change: Change | None
    estimate_minutes: int | None
    assignee: str
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state in SATISFIED_STATES

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def current_change(self) -> Change | None:
        """The latest change, if it is what put the step in its state: a step blocked again
        because a prerequisite was reopened keeps the change from before, which no longer
        says how it stands."""
        return self.change if self.change and self.change.to_state == self.state else None

    @property
    def optional_marked(self) -> bool:
        """Whether the title does not already say the step is optional."""
        return self.optional and "(optional)" not in self.title.casefold()

    @property
    def timing(self) -> str:
        """“estimate 30 min · started 2026-05-02 21:03 UTC · finished 2026-05-02 21:40 UTC”:
        the step's estimate and the times it actually ran, as printed and exported."""
        parts = []
        if self.estimate_minutes is not None:
            parts.append(f"estimate {duration_words(self.estimate_minutes)}")
        if self.assignee:
            parts.append(f"assigned to {self.assignee}")
        if self.started_at is not None:
            parts.append(f"started {_when(self.started_at)}")
        if self.finished_at is not None and self.finished:
            parts.append(f"finished {_when(self.finished_at)}")
        return " · ".join(parts)

    def generic(self, text: str) -> str:
        """`text` with this machine's host and name replaced by the marks a group shares."""
        pieces = text.split(self.hostname) if self.hostname else [text]
        return HOST_MARK.join(piece.replace(self.tentacle, NAME_MARK) for piece in pieces)


@dataclass
class MachineGroup:
    """Per-Tentacle steps of one kind whose instructions are the same but for each machine's
    name and host: one block of instructions, then the machines."""

    first: RunbookStep
    machines: list[RunbookStep] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        return len(self.machines) > 1

    @property
    def title(self) -> str:
        return self.first.generic(self.first.title) if self.shared else self.first.title

    @property
    def detail(self) -> str:
        return self.first.generic(self.first.detail) if self.shared else self.first.detail

    @property
    def hop(self) -> int:
        return self.first.hop

    @property
    def phase(self) -> str:
        return self.first.phase

    @property
    def source(self) -> str:
        return self.first.source

    @property
    def finished_count(self) -> int:
        return sum(machine.finished for machine in self.machines)


@dataclass(frozen=True)
class RunbookEntry:
    """A plan-wide step or a group of machines, numbered in the order they can be done."""

    number: int
    step: RunbookStep | None = None
    group: MachineGroup | None = None

    @property
    def hop(self) -> int:
        return self.group.hop if self.group else self.step.hop if self.step else 0

    @property
    def phase(self) -> str:
        return self.group.phase if self.group else self.step.phase if self.step else ""


@dataclass
class RunbookPhase:
    hop: int
    phase: str
    entries: list[RunbookEntry] = field(default_factory=list)

    @property
    def label(self) -> str:
        return Phase(self.phase).label if self.phase in Phase.values else self.phase


@dataclass(frozen=True)
class Runbook:
    plan: Plan
    steps: list[RunbookStep]

    @cached_property
    def phases(self) -> list[RunbookPhase]:
        """Plan-wide steps and machine groups in plan order (a group where its first machine
        is), in runs of one hop and phase."""
        groups: dict[tuple[Any, ...], MachineGroup] = {}
        entries: list[RunbookStep | MachineGroup] = []
        for step in self.steps:
            if not step.tentacle:
                entries.append(step)
                continue
            key = (
                step.hop,
                step.phase,
                step.kind,
                step.canary,
                step.method,
                step.optional,
                step.source,
                step.generic(step.title),
                step.generic(step.detail),
            )
            if key not in groups:
                groups[key] = MachineGroup(first=step)
                entries.append(groups[key])
            groups[key].machines.append(step)
        phases: list[RunbookPhase] = []
        for number, item in enumerate(entries, start=1):
            entry = (
                RunbookEntry(number=number, group=item)
                if isinstance(item, MachineGroup)
                else RunbookEntry(number=number, step=item)
            )
            if not phases or (phases[-1].hop, phases[-1].phase) != (entry.hop, entry.phase):
                phases.append(RunbookPhase(hop=entry.hop, phase=entry.phase))
            phases[-1].entries.append(entry)
        return phases

    @cached_property
    def hop_count(self) -> int:
        return len(self.plan.path)

    @cached_property
    def _dependencies(self) -> dict[str, list[str]]:
        """Step id → its prerequisites' ids (one more query)."""
        return {str(step_id): ids for step_id, ids in dependency_map(self.plan).items()}

    def prerequisites(self) -> dict[str, list[int]]:
        """Step id → the numbers of the steps it waits for (one more query)."""
        numbers = {step.id: step.number for step in self.steps}
        return {
            step_id: sorted(numbers[p] for p in ids if p in numbers)
            for step_id, ids in self._dependencies.items()
        }

    def forecast(self, *, now: datetime | None = None) -> Forecast:
        """The plan's forecast as the plan document has it (plans/forecasts.py), from the steps
        read already and their dependencies (one more query, shared with `prerequisites`)."""
        rows = (
            {
                "id": step.id,
                "kind": step.kind,
                "method": step.method,
                "state": step.state,
                "estimate_minutes": step.estimate_minutes or 0,
                "started_at": step.started_at,
                "finished_at": step.finished_at,
            }
            for step in self.steps
        )
        return forecast_of(self.plan, tasks_from_rows(rows, self._dependencies), now=now)


def runbook_for_plan(plan: Plan, *, fields: tuple[str, ...] = STEP_FIELDS) -> Runbook:
    """The runbook of `plan` in two queries, whatever its size. `plan.installation` and
    `plan.path` are read from `plan` as loaded. With fewer `fields` (PRINTED_STEP_FIELDS),
    the steps leave out what was not read."""
    changes = {
        step_id: Change(action=action, to_state=to_state, actor=actor, at=at, reason=reason)
        for step_id, action, to_state, actor, at, reason in Activity.objects.last_changes(
            plan
        ).values_list("step_id", "action", "to_state", "actor", "at", "reason")
    }
    rows = Step.objects.of_plan(plan).order_by("position").values_list("id", *fields)
    return Runbook(plan=plan, steps=list(_runbook_steps(rows, fields, changes)))


def _runbook_steps(
    rows: Iterable[tuple[Any, ...]], fields: tuple[str, ...], changes: dict[Any, Change]
) -> Iterable[RunbookStep]:
    for number, (step_id, *row) in enumerate(rows, start=1):
        values = dict(zip(fields, row, strict=True))
        yield RunbookStep(
            id=str(step_id),
            number=number,
            hop=values["hop"],
            phase=values["phase"],
            kind=values["kind"],
            title=values["title"],
            tentacle=values["tentacle"],
            optional=values["optional"],
            canary=values["canary"],
            method=values["method"],
            point_of_no_return=values["point_of_no_return"],
            state=values["state"],
            source=values["source"],
            detail=values["detail"],
            hostname=values["tentacle_ref__hostname"] or "",
            environments=tuple(values.get("tentacle_ref__environments") or ()),
            roles=tuple(values.get("tentacle_ref__roles") or ()),
            change=changes.get(step_id),
            estimate_minutes=values["estimate_minutes"],
            assignee=values["assignee"] or "",
            started_at=values["started_at"],
            finished_at=values["finished_at"],
        )


# --- CSV -------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    """A time in UTC, to the minute, as printed and exported."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _timestamp(moment: datetime | None) -> str:
    """A time as the API writes it (UTC, ISO 8601), or an empty cell."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else ""


CSV_COLUMNS = (
    "number",
    "id",
    "hop",
    "phase",
    "kind",
    "title",
    "tentacle",
    "optional",
    "state",
    "depends_on",
    "source",
    # Added after the columns above, which stay where they were.
    "hostname",
    "environments",
    "roles",
    "method",
    "instructions",
    "who",
    "when",
    "reason",
    "estimate_minutes",
    "assignee",
    "started_at",
    "finished_at",
)


def checklist_csv(runbook: Runbook) -> str:
    """One row a step, in plan order, header first. `who`, `when` and `reason` are of the
    step's latest change of state (a skip's reason, or why it was reopened)."""
    prerequisites = runbook.prerequisites()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for step in runbook.steps:
        change = step.current_change
        writer.writerow(
            [
                step.number,
                step.id,
                step.hop,
                step.phase,
                step.kind,
                formula_safe(step.title),
                formula_safe(step.tentacle),
                "yes" if step.optional else "no",
                step.state,
                " ".join(str(number) for number in prerequisites.get(step.id, [])),
                formula_safe(step.source),
                formula_safe(step.hostname),
                formula_safe(";".join(step.environments)),
                formula_safe(";".join(step.roles)),
                step.method,
                formula_safe(step.detail),
                formula_safe(change.actor) if change else "",
                change.at.astimezone(UTC).isoformat().replace("+00:00", "Z") if change else "",
                formula_safe(change.reason) if change else "",
                step.estimate_minutes if step.estimate_minutes is not None else "",
                formula_safe(step.assignee),
                _timestamp(step.started_at),
                _timestamp(step.finished_at),
            ]
        )
    return out.getvalue()


# --- Markdown --------------------------------------------------------------------------------

# Characters that start Markdown syntax inside a line (emphasis, code, links and images, a
# heading's closing #, table cells, strikethrough) are escaped with a backslash. HTML's are
# written as entities, which every Markdown flavour shows as the character: a backslash before
# "<" is not an escape in the original Markdown, and the tag would pass through as HTML.
_MARKDOWN_SYNTAX = re.compile(r"[\\`*_\[\]#|~!]")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_SYNTAX = re.compile("[&<>]")
# A line break would let a name start a block of its own: a heading, a list item, raw HTML.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# A step's instructions: prose with ``` fenced commands (see templatetags/plan_text.py).
_FENCE = re.compile(r"```[a-zA-Z]*\n?(.*?)```", re.DOTALL)
_BACKTICKS = re.compile(r"`+")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
STATE_MARKS = {"done": "x", "skipped": "-"}
INDENT = "  "


def markdown_text(text: str) -> str:
    """`text` as Markdown that shows exactly that text, on one line."""
    text = _LINE_BREAKS.sub(" ", text)
    text = _MARKDOWN_SYNTAX.sub(lambda match: "\\" + match.group(), text)
    return _HTML_SYNTAX.sub(lambda match: _HTML_ENTITIES[match.group()], text)


def markdown_source(source: str) -> str:
    """A cited source as a Markdown link to its public page (its text alone if it has none);
    a citation of several sources links each."""
    return "; ".join(_markdown_one_source(part) for part in cited(source))


def _markdown_one_source(source: str) -> str:
    url = source_url(source)
    text = markdown_text(source)
    return f"[{text}]({url})" if url else text


def markdown_instructions(detail: str, indent: str = INDENT) -> list[str]:
    """A step's instructions as Markdown lines under a list item: the prose as text (one
    paragraph a paragraph), the commands as fenced code blocks, which show their content as
    it is. A fence is longer than any run of backticks inside it, so nothing closes it early."""
    lines: list[str] = []
    last = 0
    for match in _FENCE.finditer(detail):
        lines += _markdown_prose(detail[last : match.start()], indent)
        command = match.group(1).rstrip()
        longest = max((len(run) for run in _BACKTICKS.findall(command)), default=0)
        fence = "`" * max(3, longest + 1)
        lines += [
            "",
            indent + fence,
            *(indent + line for line in command.splitlines()),
            indent + fence,
        ]
        last = match.end()
    lines += _markdown_prose(detail[last:], indent)
    return lines


def _markdown_prose(text: str, indent: str) -> list[str]:
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph_lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        if paragraph_lines:
            lines.append("")
            lines += [indent + _markdown_line(line) for line in paragraph_lines]
    return lines


def _markdown_line(line: str) -> str:
    """A line of instructions: `code` stays code (Markdown shows a code span's content as it
    is, and it holds no backtick to end it early); the rest is text."""
    pieces, last = [], 0
    for match in _INLINE_CODE.finditer(line):
        pieces.append(markdown_text(line[last : match.start()]))
        pieces.append(match.group())
        last = match.end()
    pieces.append(markdown_text(line[last:]))
    return "".join(pieces)


def _markdown_change(step: RunbookStep) -> str:
    """ " (completed by Ana, 2026-05-02 21:03 UTC)", with the reason given if any."""
    change = step.current_change
    if change is None:
        return ""
    who = markdown_text(change.actor) if change.actor else "someone"
    said = f": {markdown_text(change.reason)}" if change.reason else ""
    return f" ({change.verb} by {who}, {change.when}{said})"


def _markdown_step(step: RunbookStep, critical: frozenset[str]) -> list[str]:
    mark = STATE_MARKS.get(step.state, " ")
    optional = " *(optional)*" if step.optional_marked else ""
    no_return = " **point of no return**" if step.point_of_no_return else ""
    on_path = " ◆ *critical path*" if step.id in critical else ""
    lines = [
        f"- [{mark}] **{markdown_text(step.title)}**{optional}{no_return}{on_path} — "
        f"{step.state_label.lower()}{_markdown_change(step)}"
    ]
    if step.timing:
        lines += ["", f"{INDENT}{markdown_text(step.timing[:1].upper() + step.timing[1:])}"]
    lines += markdown_instructions(step.detail)
    lines += ["", f"{INDENT}Source: {markdown_source(step.source)}", ""]
    return lines


def _markdown_group(group: MachineGroup, critical: frozenset[str]) -> list[str]:
    first = group.first
    count = len(group.machines)
    optional = " *(optional)*" if first.optional_marked else ""
    on_path = " ◆ *critical path*" if any(m.id in critical for m in group.machines) else ""
    estimates = sorted({m.estimate_minutes for m in group.machines if m.estimate_minutes})
    each = (
        f" · estimate {duration_words(estimates[0])} a machine"
        if len(estimates) == 1
        else f" · estimate {duration_words(estimates[0])} to {duration_words(estimates[-1])} a "
        "machine"
        if estimates
        else ""
    )
    lines = [
        f"- **{markdown_text(group.title)}**{optional}{on_path} — {group.finished_count} of "
        f"{count} machine{'s' if count != 1 else ''} finished{each}"
    ]
    if group.shared:
        lines += [
            "",
            f"{INDENT}{NAME_MARK} and {HOST_MARK} stand for each machine's name and host below.",
        ]
    lines += markdown_instructions(group.detail)
    lines += ["", f"{INDENT}Source: {markdown_source(group.source)}", ""]
    for machine in group.machines:
        mark = STATE_MARKS.get(machine.state, " ")
        host = f" ({markdown_text(machine.hostname)})" if machine.hostname else ""
        ran = " · ".join(
            part
            for part in (
                f"started {_when(machine.started_at)}" if machine.started_at else "",
                f"finished {_when(machine.finished_at)}"
                if machine.finished_at and machine.finished
                else "",
            )
            if part
        )
        lines.append(
            f"{INDENT}- [{mark}] {markdown_text(machine.tentacle)}{host} — "
            f"{machine.state_label.lower()}{_markdown_change(machine)}"
            + (f" · {ran}" if ran else "")
        )
    lines.append("")
    return lines


def _markdown_schedule(runbook: Runbook, forecast: Forecast) -> list[str]:
    """The window, the forecast end and whether it fits, the work left and the critical path
    (each step's estimate and actual times are with the step)."""
    plan = runbook.plan
    start, end = plan.window_start, plan.window_end
    window = (
        f"{_when(start) if start else 'open start'} → {_when(end) if end else 'open end'}"
        if start or end
        else "not set"
    )
    slack = duration_words(forecast.slack_minutes or 0)
    fits = {None: "—", True: f"yes, {slack} to spare", False: f"no, {slack} late"}
    numbers = {step.id: step.number for step in runbook.steps}
    path = ", ".join(str(numbers[step_id]) for step_id in forecast.critical_path)
    people = plan.people_at_once
    return [
        f"- Window: {window}",
        "- Forecast end: "
        + (
            _when(forecast.end)
            if forecast.end
            else "known once the window's start is set or a step has started"
        )
        + f" (as of {_when(forecast.now)})",
        f"- Fits the window: {fits[forecast.fits_window]}",
        f"- Work left: {duration_words(forecast.remaining_minutes)} with {people} "
        f"{'person' if people == 1 else 'people'} at once",
        "- Critical path: "
        + (f"steps {path} (marked ◆ below)" if path else "none: every step is finished"),
    ]


def _markdown_readiness(plan: Plan) -> list[str]:
    """The readiness report (product.md §5.6), inhibitors first, each with its fix, its state
    and who accepted it with what reason; nothing when the plan has no findings."""
    findings = list(Finding.objects.in_report_order(plan))
    if not findings:
        return []
    scanned_at = plan.installation.scanned_at
    lines = [
        "",
        "## Readiness report",
        "",
        f"Last scan of the server: {_when(scanned_at)}."
        if scanned_at
        else "Based on what the plan was told; the server has not been scanned.",
        "",
    ]
    for finding in findings:
        severity = FindingSeverity(finding.severity).label
        state = FindingState(finding.state).label.lower()
        lines.append(f"- **{severity}** ({state}) — {markdown_text(finding.text)}")
        lines.append(f"  What to do: {markdown_text(finding.what_to_do)}")
        if finding.subjects:
            lines.append(f"  Concerns: {markdown_text(', '.join(map(str, finding.subjects)))}")
        if finding.state == FindingState.ACCEPTED:
            who = markdown_text(finding.accepted_by) or "someone who gave no name"
            when = f" on {_when(finding.accepted_at)}" if finding.accepted_at else ""
            lines.append(
                f"  Accepted by {who}{when}, because: {markdown_text(finding.accepted_reason)}"
            )
        lines.append(f"  Code `{finding.code}` · Source: {markdown_source(finding.source)}")
    return lines


def checklist_markdown(runbook: Runbook) -> str:
    plan = runbook.plan
    installation = plan.installation
    lines = [
        f"# {markdown_text(plan.name)}",
        "",
        f"Octopus {markdown_text(installation.server_version)} → "
        f"{markdown_text(installation.target_version)}"
        + (f" · approach: {plan.approach}" if plan.approach else "")
        + f" · plan version {plan.version}",
        "",
        "## Version path",
        "",
    ]
    for number, hop in enumerate(plan.path, start=1):
        lines.append(
            f"{number}. **{hop['from']} → {hop['to']}** — {markdown_text(hop['reason'])} "
            f"({markdown_source(hop['source'])})"
        )
    if plan.warnings:
        lines += ["", "## Warnings", ""]
        for warning in plan.warnings:
            lines.append(
                f"- **{warning['code']}** ({warning['severity']}): {markdown_text(warning['text'])}"
            )
            lines.append(f"  What to do: {markdown_text(warning['action'])}")
            if warning.get("source"):
                lines.append(f"  Source: {markdown_source(warning['source'])}")
    lines += _markdown_readiness(plan)
    forecast = runbook.forecast()
    critical = frozenset(forecast.critical_path)
    lines += ["", "## Schedule", "", *_markdown_schedule(runbook, forecast)]
    lines += ["", "## Checklist", ""]
    for phase in runbook.phases:
        hop = f"Hop {phase.hop + 1}: " if runbook.hop_count > 1 else ""
        lines += [f"### {hop}{phase.label}", ""]
        for entry in phase.entries:
            if entry.group:
                lines += _markdown_group(entry.group, critical)
            elif entry.step:
                lines += _markdown_step(entry.step, critical)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"
