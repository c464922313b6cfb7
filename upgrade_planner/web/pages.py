"""What the plan page shows, read with a fixed number of queries whatever the plan's size."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import pickle
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.contrib.messages.storage.base import Message
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, F, Min, Q, Subquery, When
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import SafeString, mark_safe

from upgrade_planner.domain import rollback
from upgrade_planner.domain.lifecycle import PERSON_ACTIONS, StepAction, allowed_actions
from upgrade_planner.domain.schedule import duration_words
from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    Approach,
    CommunicationStyle,
    FindingSeverity,
    FindingState,
    Phase,
    StepState,
)
from upgrade_planner.installations.api_keys import UNREADABLE, masked
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.access import (
    MovedStep,
    Transition,
    forget_seen_notes,
    link_for_token,
    moved_from,
)
from upgrade_planner.plans.documents import evidence_shown
from upgrade_planner.plans.exports import PRINTED_STEP_FIELDS, runbook_for_plan
from upgrade_planner.plans.models import (
    Activity,
    Finding,
    Job,
    LinkKind,
    Plan,
    PlanLink,
    Step,
    StepDependency,
    hash_token,
    view_token_from_seed,
)
from upgrade_planner.plans.services.schedule import REHEARSAL, TEAM
from upgrade_planner.web import fragments, page_cache, version_steps
from upgrade_planner.web.charts import progress_over_time_chart, state_bar_chart
from upgrade_planner.web.labels import FLEET_CANARY_LABELS, FLEET_LABELS, KIND_LABELS
from upgrade_planner.web.schedule import schedule_panel
from upgrade_planner.web.timeline import Timeline, cached_timeline
from upgrade_planner.web.version_steps import VersionSteps

APPROACH_LABELS = dict(Approach.choices)
CANARY_CHOICES = {"yes": True, "no": False}
TENTACLES_PER_PAGE = 50
# Names a fleet's card lists before "and N more".
FLEET_NAMES_SHOWN = 8
FleetKey = tuple[int, str, str, bool]  # hop, phase, kind, canary
ACTIVITY_SHOWN = 15
JOBS_SHOWN = 8
PROGRESS_POINTS = 500
STATE_ORDER = list(StepState)
PAGE_TEMPLATE = "plans/plan.html"
PRINT_TEMPLATE = fragments.PRINT_TEMPLATE
SCHEDULE_TEMPLATE = fragments.SCHEDULE_TEMPLATE
SAMPLE_STEP = uuid.UUID(int=0)
# Above this many steps the plan page leaves the printed runbook to its own page (the "print"
# routes) and prints a notice pointing there instead: the section is every step's instructions
# and every machine by name, hundreds of KB of HTML at 5,000 Tentacles and megabytes at 20,000,
# which every view of the page would carry (and read, cached or not) for the rare printout.
# Up to this size it stays inline, so that Ctrl-P on the page prints the whole runbook.
PRINT_INLINE_STEPS = 1_000
logger = logging.getLogger(__name__)


def steps_url(token: str) -> str:
    """The address the step controls' addresses start with: `<steps_url><step id>/<action>`
    is what `reverse("step-action", …)` gives, and `…/assignee` what "step-assign" gives."""
    sample = reverse("step-assign", kwargs={"token": token, "step_id": SAMPLE_STEP})
    return sample.removesuffix(f"{SAMPLE_STEP}/assignee")


def page_number(raw: str) -> int:
    """A page number from a query string: ASCII digits from 1 to 99,999, else page 1.
    (`str.isdigit` alone would let through '²', which int() refuses.)"""
    if raw.isascii() and raw.isdigit() and 0 < int(raw) < 100_000:
        return int(raw)
    return 1


def _text(query: QueryDict, name: str) -> str:
    """A free-text filter, without NUL characters (PostgreSQL refuses them in a query)."""
    return query.get(name, "").replace("\x00", "")[:200]


@dataclass(frozen=True)
class TentacleFilters:
    state: str = ""
    environment: str = ""
    role: str = ""
    style: str = ""
    search: str = ""
    # A fleet of the checklist: the kind of per-Tentacle step, and "yes"/"no" for the canary.
    kind: str = ""
    canary: str = ""
    # "1": only the steps assigned to the name this browser goes by (see `matching`).
    mine: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, query: QueryDict) -> TentacleFilters:
        return cls(
            state=query.get("state", "") if query.get("state") in STATE_ORDER else "",
            environment=_text(query, "environment"),
            role=_text(query, "role"),
            style=query.get("style", "") if query.get("style") in CommunicationStyle.values else "",
            search=_text(query, "q").strip(),
            kind=query.get("kind", "") if query.get("kind") in KIND_LABELS else "",
            canary=query.get("canary", "") if query.get("canary") in CANARY_CHOICES else "",
            mine="1" if query.get("mine") == "1" else "",
            page=page_number(query.get("page", "1")),
        )

    def query(self, **changes: str | int) -> str:
        values = {
            "state": self.state,
            "environment": self.environment,
            "role": self.role,
            "style": self.style,
            "q": self.search,
            "kind": self.kind,
            "canary": self.canary,
            "mine": self.mine,
            "page": self.page,
        } | changes
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})

    @property
    def active(self) -> bool:
        return any(
            [self.state, self.environment, self.role, self.style, self.search, self.kind]
        ) or bool(self.canary or self.mine)

    def matching(self, *, me: str) -> dict[str, Any]:
        """These filters as the arguments of `StepQuerySet.matching`; `me` is the name this
        browser goes by, which "my steps" picks."""
        return {
            "state": self.state,
            "environment": self.environment,
            "role": self.role,
            "style": self.style,
            "search": self.search,
            "kind": self.kind,
            "canary": CANARY_CHOICES.get(self.canary),
            "assignee": me if self.mine else None,
        }

    @property
    def group_label(self) -> str:
        """The fleet these filters pick, in the checklist's words ("" when none)."""
        if not self.kind:
            return ""
        if self.kind == "upgrade-tentacle" and self.canary:
            return FLEET_CANARY_LABELS[CANARY_CHOICES[self.canary]]
        return FLEET_LABELS.get(self.kind, self.kind)


def view_query(query: QueryDict) -> str:
    """The part of a plan page's query string that shapes what it shows (Tentacle filters
    and page, activity page), normalised: what the poller sends back, what forms return to,
    and what the cache of live sections is keyed on."""
    log = page_number(query.get("log", "1"))
    parts = [TentacleFilters.from_query(query).query(), f"log={log}" if log > 1 else ""]
    return "&".join(part for part in parts if part)


@dataclass(frozen=True)
class FleetSummary:
    """One line of the checklist standing for many per-Tentacle steps of one kind: its first
    machines' names, and the Tentacle table's address filtered to it (`query`)."""

    hop: int
    phase: str
    kind: str
    label: str
    canary: bool
    total: int
    done: int
    by_state: list[tuple[str, int]]
    machines: list[str] = field(default_factory=list)
    query: str = ""

    @property
    def key(self) -> FleetKey:
        return (self.hop, self.phase, self.kind, self.canary)

    @property
    def dom_id(self) -> str:
        return f"fleet-{self.hop}-{self.phase}-{self.kind}-{'canary' if self.canary else 'all'}"

    @property
    def more_machines(self) -> int:
        return self.total - len(self.machines)


@dataclass(frozen=True)
class Outcome:
    """What became of an action, shown next to the control that asked for it."""

    level: str  # a message level tag: "success", "error", "warning" or "info"
    text: str
    # Refused for want of a name: the place shows the name box (no JavaScript needed).
    ask_name: bool = False


# The extra tag of a flash message about one place of the page: "at:step-<id>" for a step's
# card or row, "at:bulk" for the bulk bar. A page shown again after a plain form post puts the
# message there instead of at the top.
PLACE_TAG = "at:"
BULK_PLACE = "bulk"
# The place of the readiness report: accepting a finding or asking for a scan answers there.
READINESS_PLACE = "readiness"
# The extra tag of a message refusing an action until the person says who they are.
ASK_NAME_TAG = "ask-name"


def step_place(step_id: uuid.UUID | str) -> str:
    """The place (and the HTML id) of a step's card or row."""
    return f"step-{step_id}"


def place_tag(place: str) -> str:
    return PLACE_TAG + place


def split_messages(stored: Iterable[Message]) -> tuple[list[Outcome], dict[str, Outcome]]:
    """The flash messages for the top of the page, and those that belong to a place."""
    flash: list[Outcome] = []
    placed: dict[str, Outcome] = {}
    for message in stored:
        all_tags = str(message.extra_tags or "").split()
        outcome = Outcome(
            level=message.level_tag, text=str(message.message), ask_name=ASK_NAME_TAG in all_tags
        )
        tags = [t for t in all_tags if t.startswith(PLACE_TAG)]
        if tags:
            placed[tags[0].removeprefix(PLACE_TAG)] = outcome
        else:
            flash.append(outcome)
    return flash, placed


@dataclass(frozen=True)
class ReadinessReport:
    """The plan's readiness findings as the page shows them, and the steps they hold back."""

    findings: list[Finding]
    # Step id → the texts of the open inhibitors that guard it.
    inhibited: dict[uuid.UUID, tuple[str, ...]]
    scanned_at: datetime | None
    # The server's URL and an API key are given: a scan can read the live server.
    can_scan: bool

    @property
    def open_inhibitors(self) -> int:
        return sum(
            f.severity == FindingSeverity.INHIBITOR and f.state == FindingState.OPEN
            for f in self.findings
        )


def readiness_report(plan: Plan) -> ReadinessReport:
    """The readiness report of `plan` in one query, whatever the plan's size."""
    findings: dict[int, Finding] = {}
    inhibited: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in Finding.objects.report_rows(plan):
        finding = findings.setdefault(row.pk, row)
        guard_id = getattr(row, "guard_id", None)
        if (
            guard_id is not None
            and finding.severity == FindingSeverity.INHIBITOR
            and finding.state == FindingState.OPEN
        ):
            inhibited[guard_id].append(finding.text)
    installation = plan.installation
    return ReadinessReport(
        findings=list(findings.values()),
        inhibited={step_id: tuple(texts) for step_id, texts in inhibited.items()},
        scanned_at=installation.scanned_at,
        can_scan=bool(installation.old_server_url and installation.old_server_api_key),
    )


@dataclass
class VersionFacts:
    """What the page shows of a plan version the same way to every link and view of it: read
    once for the version (`version_facts`) and shared by every first view and first poll of
    it, whichever link, filter or page of the Tentacle table they ask for. Nothing here depends
    on who looks, on the view, or on the clock."""

    steps: list[Step]  # the plan-wide steps, in plan order
    counts: Counter[str]  # every current step, by state
    fleet_counts: dict[FleetKey, Counter[str]]  # the per-Tentacle steps of each fleet, by state
    fleet_first: dict[FleetKey, int]  # each fleet's first position
    machine_names: dict[FleetKey, list[str]]  # the first FLEET_NAMES_SHOWN machines of each
    finishers: dict[uuid.UUID, Finisher]  # of the plan-wide steps done or skipped
    readiness: ReadinessReport
    facets: tuple[list[str], list[str]]  # the inventory's environments and roles
    progress_chart: str
    # The most recent (time, finished steps) of the activity log, oldest first: the chart's.
    progress_points: tuple[tuple[datetime, int], ...]


def link_at_version(token: str, *, version: int, client: str = "") -> PlanLink:
    """The link for `token`, with its plan and installation, as a page of plan version
    `version` shows them (`version` as `access.polled_link` has just read it): read once by
    each process for each version and link, as `link_for_token` reads it, and kept for as
    long as the page cache keeps pages. Every change of the plan, its installation or its
    links moves the version (what the page cache relies on too), so what is kept is what
    the database holds at that version. Each caller gets objects of its own (unpickled),
    which it may change. Raises like `link_for_token`."""
    key = f"plan-link-at:{hash_token(token)}:{version}"
    kept = page_cache.local_values.get(key)
    if isinstance(kept, bytes):
        link: PlanLink = pickle.loads(kept)  # noqa: S301 - pickled by this process, above
        return link
    link = link_for_token(token, client=client)
    if link.plan.version == version:
        page_cache.local_values.put(key, pickle.dumps(link), page_cache.SECONDS)
    return link


def forget_process_copies() -> None:
    """Forget everything this process keeps of plan versions (pages, sections, facts, cards,
    transition notes, steps), as a process that has shown nothing: for tests and profiling."""
    page_cache.local_pages.clear()
    page_cache.local_values.clear()
    fragments.local_fragments.clear()
    forget_seen_notes()
    version_steps.kept.clear()


def version_facts(plan: Plan) -> VersionFacts:
    """The `VersionFacts` of `plan` at its version: from the cache when a view of this version
    has read them, else read (in seven queries whatever the plan's size, four when the
    version came by transitions from one whose facts are kept) and kept for as long as the
    page cache keeps pages."""
    return page_cache.remembered(
        _facts_key(plan.pk, plan.version),
        functools.partial(_read_version_facts, plan),
        kind=VersionFacts,
        seconds=page_cache.SECONDS,
        copy=_facts_copy,
    )


def _facts_copy(facts: VersionFacts) -> VersionFacts:
    """The facts with copies of their steps, which the page dresses (the rest it only reads)."""
    return dataclasses.replace(facts, steps=[page_cache.model_copy(s) for s in facts.steps])


def _facts_key(plan_id: object, version: int) -> str:
    return f"plan-facts:{FACTS_FORMAT}:{plan_id}:{version}"


# Part of the facts' key: facts of another shape are never read back.
FACTS_FORMAT = 2


def _read_version_facts(plan: Plan) -> VersionFacts:
    # A transition changes no machine's name, no finding and no Tentacle: what the facts of
    # the version it came from hold of those still holds.
    noted = moved_from(plan.pk, plan.version)
    # Only read: _facts_after copies each step it moves.
    before = page_cache.kept(_facts_key(plan.pk, noted[0]), kind=VersionFacts) if noted else None
    transition = noted[1] if noted else None
    if before is not None and transition is not None:
        carried = _facts_after(plan, before, transition)
        if carried is not None:
            return carried
    steps = list(Step.objects.of_plan(plan).plan_wide())
    fleet_counts: dict[FleetKey, Counter[str]] = defaultdict(Counter)
    fleet_first: dict[FleetKey, int] = {}
    # Every current step is plan-wide (read above) or in a fleet (counted here): the plan's
    # state counts are their sum, without a query of their own.
    counts = Counter(step.state for step in steps)
    for hop, phase, kind, canary, state, n, first in Step.objects.of_plan(plan).fleet_counts():
        key = (hop, phase, kind, canary)
        fleet_counts[key][state] += n
        fleet_first[key] = min(first, fleet_first.get(key, first))
        counts[state] += n
    if before is not None:
        names, readiness, facets = before.machine_names, before.readiness, before.facets
    else:
        names = _machine_names(plan) if fleet_counts else {}
        readiness, facets = readiness_report(plan), _facets(plan)
    points = _progress_points(plan)
    return VersionFacts(
        steps=steps,
        counts=counts,
        fleet_counts=dict(fleet_counts),
        fleet_first=fleet_first,
        machine_names=names,
        finishers=finishers(steps),
        readiness=readiness,
        facets=facets,
        progress_chart=_progress_chart(plan, points, total=sum(counts.values())),
        progress_points=points,
    )


def _facts_after(plan: Plan, before: VersionFacts, transition: Transition) -> VersionFacts | None:
    """The facts of the version `transition` made from the facts of the version before it, with
    no query: the steps it moved change state (the one acted on its times too), the counts and
    the finishers follow, and its activity entry is the chart's newest point. None when they
    do not add up (read everything instead)."""
    steps = list(before.steps)
    where = {step.id: i for i, step in enumerate(steps)}
    counts = Counter(before.counts)
    fleet_counts = {key: Counter(by_state) for key, by_state in before.fleet_counts.items()}
    shown = dict(before.finishers)
    for moved in transition.moved:
        counts[moved.before] -= 1
        counts[moved.after] += 1
        if moved.fleet is not None:
            if moved.fleet not in fleet_counts:
                return None
            fleet_counts[moved.fleet][moved.before] -= 1
            fleet_counts[moved.fleet][moved.after] += 1
        elif (i := where.get(moved.step_id)) is not None:
            step = steps[i] = page_cache.model_copy(steps[i])
            if step.state != moved.before:
                return None
            _move(step, moved, transition, shown)
        else:
            return None
    if any(n < 0 for n in counts.values()) or any(
        n < 0 for by_state in fleet_counts.values() for n in by_state.values()
    ):
        return None
    counts = Counter({state: n for state, n in counts.items() if n})
    fleet_counts = {
        key: Counter({state: n for state, n in by_state.items() if n})
        for key, by_state in fleet_counts.items()
    }
    points = (*before.progress_points, (transition.at, transition.finished_steps))
    points = points[-PROGRESS_POINTS:]
    return dataclasses.replace(
        before,
        steps=steps,
        counts=counts,
        fleet_counts=fleet_counts,
        finishers=shown,
        progress_chart=_progress_chart(plan, points, total=sum(counts.values())),
        progress_points=points,
    )


def _machine_names(plan: Plan) -> dict[FleetKey, list[str]]:
    names: dict[FleetKey, list[str]] = defaultdict(list)
    for hop, phase, kind, canary, name in Step.objects.of_plan(plan).machine_names(
        first=FLEET_NAMES_SHOWN
    ):
        names[(hop, phase, kind, canary)].append(name)
    return dict(names)


def _facets(plan: Plan) -> tuple[list[str], list[str]]:
    environments: set[str] = set()
    roles: set[str] = set()
    # Fleets repeat the same few combinations: let the database fold them first.
    for envs, tentacle_roles in (
        Tentacle.objects.of_installation(plan.installation_id)
        .values_list("environments", "roles")
        .order_by()
        .distinct()
    ):
        environments.update(envs)
        roles.update(tentacle_roles)
    return sorted(environments, key=str.casefold), sorted(roles, key=str.casefold)


def _progress_points(plan: Plan) -> tuple[tuple[datetime, int], ...]:
    """The most recent (time, finished steps) of the activity log, oldest first."""
    recent = [
        (at, finished or 0)
        for at, finished in Activity.objects.filter(plan=plan, finished_steps__isnull=False)
        .order_by("-id")
        .values_list("at", "finished_steps")[:PROGRESS_POINTS]
    ]
    recent.reverse()
    return tuple(recent)


def _progress_chart(plan: Plan, recent: tuple[tuple[datetime, int], ...], *, total: int) -> str:
    """Finished steps over time, from the most recent transitions."""
    if not recent:
        return ""
    points = [(plan.created_at, 0), *recent] if len(recent) < PROGRESS_POINTS else list(recent)
    return progress_over_time_chart(points, total=total)


def _tentacle_page_copy(
    kept: tuple[list[Step], dict[uuid.UUID, Finisher]],
) -> tuple[list[Step], dict[uuid.UUID, Finisher]]:
    """A Tentacle page's steps as copies, which the page dresses (the finishers it only reads)."""
    steps, finished_by = kept
    return [page_cache.model_copy(s) for s in steps], finished_by


def _tentacle_rows_after_transition(
    plan: Plan, shown: str
) -> tuple[list[Step], dict[uuid.UUID, Finisher]] | None:
    """An unfiltered Tentacle page (`shown`: its filters' digest and number) of the version
    a transition made, from the same page of the version before and what the transition
    changed, with no query; None when either is not kept or they do not add up."""
    noted = moved_from(plan.pk, plan.version)
    if noted is None:
        return None
    before, transition = noted
    if transition is None:
        return None
    # Only read: each step moved below is a copy.
    kept = page_cache.kept(f"plan-tentacle-page:{plan.pk}:{before}:{shown}", kind=tuple)
    if kept is None:
        return None
    steps, finished_by = list(kept[0]), dict(kept[1])
    where = {step.id: i for i, step in enumerate(steps)}
    for moved in transition.moved:
        i = where.get(moved.step_id)
        if i is None:
            continue  # not on this page
        step = steps[i] = page_cache.model_copy(steps[i])
        if moved.fleet is None or step.state != moved.before:
            return None
        _move(step, moved, transition, finished_by)
    return steps, finished_by


def _move(
    step: Step, moved: MovedStep, transition: Transition, finished_by: dict[uuid.UUID, Finisher]
) -> None:
    """`step` (a copy) as `transition` left it, and who finished it in `finished_by`."""
    step.state = moved.after
    if moved.step_id == transition.moved[0].step_id:  # the step acted on
        step.started_at, step.finished_at = transition.started_at, transition.finished_at
        step.updated_at = transition.updated_at
    if moved.after in SATISFIED_STATES:
        when = step.finished_at or transition.at
        finished_by[step.id] = Finisher(actor=transition.actor, at=when)
    else:
        finished_by.pop(step.id, None)


class TentaclePage(NamedTuple):
    steps: Page[Step]
    states: Counter[str]  # of every step the filters match, by state
    finishers: dict[uuid.UUID, Finisher]  # of the page's steps done or skipped


@dataclass
class ChecklistGroup:
    """One heading of the checklist: a hop's phase, its steps and fleets in plan order."""

    hop: int
    phase: str
    label: str
    steps: list[Step] = field(default_factory=list)
    fleets: list[FleetSummary] = field(default_factory=list)
    # (step, None) or (None, fleet), in plan order: what the template lists under the heading.
    entries: list[tuple[Step | None, FleetSummary | None]] = field(default_factory=list)


@dataclass(frozen=True)
class ShareLinks:
    edit_url: str
    edit_created: datetime
    view_url: str
    view_created: datetime | None


def print_runbook(
    plan: Plan, *, timeline: Timeline, schedule: Any, readiness: Any, on_screen: bool = False
) -> SafeString:
    """The printed runbook section of `plan`: the same for every link and view of a plan
    version until the forecast is worked out again (each minute), so it is rendered once for
    those and kept. It holds no form, token or address of a link. `schedule` and `readiness`
    are read only when it is rendered (pass lazy objects to save their queries on a hit).
    `on_screen`: the section as the printable runbook page shows it, visible on screen too."""
    key = (
        "plan-print:"
        + hashlib.sha256(
            "\n".join(
                [
                    fragments.template_digest(PRINT_TEMPLATE),
                    str(plan.pk),
                    str(plan.version),
                    plan.updated_at.isoformat(),
                    timeline.now.isoformat(),
                    "screen" if on_screen else "inline",
                ]
            ).encode()
        ).hexdigest()
    )
    html = page_cache.remembered(
        key,
        lambda: render_to_string(
            PRINT_TEMPLATE,
            {
                "plan": plan,
                "schedule": schedule,
                "readiness": readiness,
                "critical_step_ids": timeline.critical_steps,
                "runbook": functools.partial(runbook_for_plan, plan, fields=PRINTED_STEP_FIELDS),
                "on_screen": on_screen,
            },
        ),
        kind=str,
        seconds=page_cache.SECONDS,
        copy=page_cache.same,  # the key names one content: this process keeps it too
    )
    return mark_safe(str(html))  # noqa: S308 - rendered by the template engine, escaped there


def print_page_context(plan: Plan, *, token: str, can_edit: bool) -> dict[str, Any]:
    """What the printable runbook page shows: the plan's heading and its printed runbook,
    kept per plan version (and forecast minute) as the plan page's section is. On a cache hit
    the schedule and the readiness report are not read."""
    timeline = cached_timeline(plan)
    schedule = SimpleLazyObject(
        lambda: schedule_panel(plan, token=token, can_edit=can_edit, timeline=timeline)
    )
    readiness = SimpleLazyObject(lambda: readiness_report(plan))
    return {
        "plan": plan,
        "installation": plan.installation,
        "approach_label": APPROACH_LABELS.get(plan.approach, ""),
        "can_edit": can_edit,
        "plan_url": reverse("plan-edit" if can_edit else "plan-view", kwargs={"token": token}),
        "print_runbook": print_runbook(
            plan, timeline=timeline, schedule=schedule, readiness=readiness, on_screen=True
        ),
    }


class PlanPage:
    def __init__(
        self,
        *,
        link: PlanLink,
        token: str,
        can_edit: bool,
        filters: TentacleFilters,
        request: HttpRequest,
        outcomes: dict[str, Outcome] | None = None,
    ) -> None:
        self.link = link
        self.can_edit = can_edit
        self.plan = link.plan
        self.token = token
        self.filters = filters
        self.request = request
        self.outcomes = outcomes or {}
        # The steps the page shows, by id, once context() has read them: an action's answer
        # renders the clicked step's card and its dependents' from here.
        self.visible: dict[uuid.UUID, Step] = {}
        self._fleet_ids: list[str] = []
        # What the cards and rows depend on besides their step, and this view's addresses:
        # set by context().
        self.viewer: dict[str, Any] = {}
        self.view: dict[str, str] = {}

    def context(self) -> dict[str, Any]:
        plan = self.plan
        me = actor_of(self.request)
        facts = version_facts(plan)
        steps = facts.steps
        counts, fleet_counts, fleet_first = facts.counts, facts.fleet_counts, facts.fleet_first
        # "My steps": the checklist keeps only the steps assigned to this browser's name.
        listed = [s for s in steps if is_assigned(s, me)] if self.filters.mine else steps

        stale_before = timezone.now() - timedelta(minutes=settings.STEP_STALE_AFTER_MINUTES)
        tentacle_steps, matching_states, tentacle_finishers = self._tentacle_page(me, facts)
        estimates = {str(e.get("basis", "")): e for e in plan.estimates if isinstance(e, dict)}
        visible = listed + list(tentacle_steps.object_list)
        # The forecast first: when it is worked out here, the version's steps it reads are
        # what the "waiting for" words are made from.
        critical_steps = self.critical_steps
        # A step done or skipped waits for nothing, whatever its prerequisites do now.
        waiting = self._waiting_for_at_version(
            [step.id for step in visible if step.state not in SATISFIED_STATES]
        )
        finished_by = {**facts.finishers, **tentacle_finishers}
        readiness = facts.readiness
        for step in visible:
            step.finisher = finished_by.get(step.id)
            # A step done or skipped waits for nothing, whatever its prerequisites do now.
            step.waiting_for = "" if step.state in SATISFIED_STATES else waiting.get(step.id, "")
            step.inhibitors = (
                () if step.state in SATISFIED_STATES else readiness.inhibited.get(step.id, ())
            )
            step.last_evidence = shown_evidence(step.evidence, can_edit=self.can_edit)
            step.outcome = self.outcomes.get(step_place(step.id))
            step.estimate_text = estimate_text(step, estimates)
            # The badge and the "still on it?" note, worked out here so that a card's cache key
            # holds them (the note depends on the time, the badge on the forecast).
            step.critical = step.id in critical_steps
            step.stale = step.state == StepState.IN_PROGRESS and step.updated_at < stale_before
        self.visible = {step.id: step for step in visible}

        total = sum(counts.values())
        finished = counts[StepState.DONE] + counts[StepState.SKIPPED]
        upgrade_states = Counter[str]()
        for (_, _, kind, _), by_state in fleet_counts.items():
            if kind == "upgrade-tentacle":
                upgrade_states.update(by_state)
        environments, roles = facts.facets
        can_edit = self.can_edit
        base = reverse("plan-edit" if can_edit else "plan-view", kwargs={"token": self.token})
        shown = view_query(self.request.GET)
        poll = "plan-poll" if self.link.kind == LinkKind.EDIT and can_edit else "plan-view-poll"
        return_to = f"{base}?{shown}" if shown else base
        action_query = f"?{self.filters.query()}" if self.filters.query() else ""
        ask_name = can_edit and name_needed(self.request)
        self.viewer = {
            "can_edit": can_edit,
            "token": self.token,
            # The step controls' addresses, from one reverse() instead of two for each form.
            "steps_url": steps_url(self.token),
            "ask_name": ask_name,
            "actor": me,
            "kind_labels": KIND_LABELS,
        }
        self.view = {"return_to": return_to, "action_query": action_query}
        self.attach_fragments(visible)
        # The schedule's form comes back to this view: a placeholder in the section, which is
        # then the same for every view of the version (filled in by the section on use).
        schedule = SimpleLazyObject(
            lambda: schedule_panel(
                plan, token=self.token, can_edit=can_edit, timeline=self.timeline,
                return_to=fragments.RETURN_TO_PLACEHOLDER,
            )
        )  # fmt: skip
        stop_now = self._stop_now(steps, fleet_counts)
        csrf = page_cache.csrf_token(self.request)
        plan_key = [str(plan.pk), str(plan.version)]
        return {
            "plan": plan,
            "installation": plan.installation,
            # Only the full page's heading shows it (a callable, read once if at all, and
            # counted once per version): the live sections a poll sends do not.
            "tentacle_count": functools.cache(
                functools.partial(
                    page_cache.remembered,
                    f"plan-tentacles:{plan.pk}:{plan.version}",
                    Tentacle.objects.of_installation(plan.installation_id).count,
                    kind=int,
                    seconds=page_cache.SECONDS,
                )
            ),
            "can_edit": can_edit,
            "token": self.token,
            "base_url": base,
            # Where forms come back to, and what the poller asks for: this view of the page,
            # whichever request (a poll, an htmx action) renders it.
            "view_query": shown,
            "return_to": return_to,
            # What a step control's htmx post adds to its address: this view's filters.
            "action_query": action_query,
            "steps_url": self.viewer["steps_url"],
            "poll_url": reverse(poll, kwargs={"token": self.token}),
            # Only the full page shows the links (a poll's sections do not): read if shown.
            "share": SimpleLazyObject(self._share_links) if can_edit else None,
            # Read only where the schedule section or a step card renders.
            "schedule": schedule,
            "critical_fleets": SimpleLazyObject(lambda: self.timeline.critical_fleets),
            "critical_step_ids": SimpleLazyObject(lambda: self.timeline.critical_steps),
            # The migration's one duration: its step's estimate, with the basis of it.
            "migration_estimate": next(
                (step.estimate_text for step in steps if step.kind == "migrate-data"), ""
            ),
            "approach_label": APPROACH_LABELS.get(plan.approach, ""),
            "recommended_label": APPROACH_LABELS.get(plan.recommended_approach, ""),
            "alternatives": [
                {**alt, "label": APPROACH_LABELS.get(alt["approach"], alt["approach"])}
                for alt in plan.alternatives
            ],
            "approach_choices": list(APPROACH_LABELS.items()),
            "checklist": self._checklist(
                listed, {} if self.filters.mine else fleet_counts, fleet_first, facts.machine_names
            ),
            # This browser has not said who it is: the page asks before its first change.
            "ask_name": ask_name,
            "my_steps_url": f"{base}?{self.filters.query(mine='1', page=1)}#checklist",
            "all_steps_url": f"{base}?{self.filters.query(mine='', page=1)}#checklist",
            "my_step_count": len(listed),
            # A finished plan changes no more unless someone reopens a step: its pages stop
            # polling (reload to see a reopen).
            "polling": finished < total or total == 0,
            "progress": {
                "total": total,
                "finished": finished,
                "percent": round(100 * finished / total) if total else 0,
                "by_state": [(state, counts[state]) for state in STATE_ORDER],
            },
            "tentacle_chart": state_bar_chart(
                [(state, upgrade_states[state]) for state in STATE_ORDER],
                title="Tentacle upgrades by state",
            )
            if upgrade_states
            else "",
            "tentacle_total": sum(upgrade_states.values()),
            "tentacle_page": tentacle_steps,
            "bulk_actions": bulk_actions(matching_states),
            "bulk_labels": BULK_LABELS,
            "bulk_outcome": self.outcomes.get(BULK_PLACE),
            "bulk_filter_fields": parse_qsl(self.filters.query(page=1)),
            "seen": plan.version,
            "fingerprints": self.shapes(),
            "tentacle_states": [(state, upgrade_states[state]) for state in STATE_ORDER],
            "filters": self.filters,
            "environments": environments,
            "roles": roles,
            "states": StepState.choices,
            "styles": CommunicationStyle.choices,
            "kind_labels": KIND_LABELS,
            # Sections that change only with the plan version (the schedule also with the
            # forecast, worked out again each minute): rendered once for each view of it.
            "activity_section": fragments.Section(
                name="activity",
                key=[*plan_key, str(page_number(self.request.GET.get("log", "1"))), base],
                render=lambda oob: render_to_string(
                    f"{PAGE_TEMPLATE}#activity-log",
                    {"activities": self._activity_page(), "base_url": base, "oob": oob},
                ),
                csrf_token=csrf,
            ),
            "schedule_section": fragments.Section(
                name="schedule",
                key=[
                    *plan_key,
                    fragments.template_digest(SCHEDULE_TEMPLATE),
                    self.timeline.now.isoformat(),
                    str(can_edit),
                    hash_token(self.token),
                ],
                render=lambda oob: render_to_string(
                    SCHEDULE_TEMPLATE,
                    {"schedule": schedule, "stop_now": stop_now, "oob": oob, "csrf_token": csrf},
                ),
                csrf_token=csrf,
                return_to=return_to,
            ),
            "actor": me,
            "progress_chart": facts.progress_chart,
            "stop_now": stop_now,
            "stop_now_open": finished > 0,
            "jobs": self._jobs(),
            "connections": self._connections(),
            "readiness": readiness,
            "readiness_outcome": self.outcomes.get(READINESS_PLACE),
            # Rendered only when a template shows it (the full page), not for live sections;
            # a plan too big to carry it inline has the printable runbook page instead.
            "print_runbook": functools.partial(self.print_runbook, schedule, readiness),
            "print_inline": total <= PRINT_INLINE_STEPS,
            # The printable runbook's page: `base` + "print" (what reverse() gives for
            # "plan-print" or "plan-view-print", without a reverse() of its own).
            "print_url": f"{base}print",
        }

    def attach_fragments(self, steps: Iterable[Step]) -> None:
        """Set each step's card or row (`step.fragment`) for this view, from the fragment
        cache where it can; call again for a step whose outcome was set after context()."""
        fragments.attach(
            steps,
            viewer=self.viewer,
            csrf_token=page_cache.csrf_token(self.request),
            return_to=self.view["return_to"],
            action_query=self.view["action_query"],
        )

    def print_runbook(self, schedule: Any, readiness: ReadinessReport) -> SafeString:
        """The printed runbook section of this plan version (see `print_runbook`)."""
        return print_runbook(
            self.plan, timeline=self.timeline, schedule=schedule, readiness=readiness
        )

    @functools.cached_property
    def timeline(self) -> Timeline:
        """The forecast and its timeline (two queries, once per plan version and minute)."""
        return cached_timeline(self.plan)

    @functools.cached_property
    def critical_steps(self) -> frozenset[uuid.UUID]:
        return frozenset(uuid.UUID(step_id) for step_id in self.timeline.critical_steps)

    def _connections(self) -> dict[str, Any]:
        """The servers the checks talk to, and what the page may say of their keys (each key
        decrypted once: whether it can still be read is in what `masked` says)."""
        installation = self.plan.installation
        old_key = masked(installation.old_server_api_key)
        new_key = masked(installation.new_server_api_key)
        return {
            "old_url": installation.old_server_url,
            "new_url": installation.new_server_url,
            "old_key": old_key,
            "new_key": new_key,
            "unreadable": UNREADABLE in (old_key, new_key),
        }

    def shapes(self) -> dict[str, str]:
        """Which cards the checklist and which rows the Tentacle table hold, in order, as a
        short digest for each: an action may then swap single cards into a page whose
        sections have the same shape, and must swap a whole section into one that does not.
        Call after context()."""
        checklist = [key for key in self.visible if not self.visible[key].tentacle]
        rows = [key for key in self.visible if self.visible[key].tentacle]
        return {
            "shape-checklist": shape_digest([*map(str, checklist), *self._fleet_ids]),
            "shape-tentacle-table": shape_digest(list(map(str, rows))),
            # Which of the checklist's cards carry the critical path's badge.
            "shape-critical": shape_digest(
                sorted(str(key) for key in checklist if key in self.critical_steps)
                + sorted(map(str, self.timeline.critical_fleets))
            ),
        }

    def _stop_now(
        self, steps: list[Step], fleet_counts: dict[FleetKey, Counter[str]]
    ) -> rollback.StopNowCard | None:
        """The "if we stop now" card for the first hop that is not finished."""
        by_kind: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
        for step in steps:
            by_kind[(step.hop, step.kind)][step.state] += 1
        for (hop, _, kind, _), states in fleet_counts.items():
            by_kind[(hop, kind)].update(states)
        hops = sorted({hop for hop, _ in by_kind})
        open_hops = [
            hop
            for hop in hops
            if any(
                states[s]
                for (h, _), states in by_kind.items()
                if h == hop
                for s in (
                    StepState.BLOCKED,
                    StepState.READY,
                    StepState.IN_PROGRESS,
                    StepState.FAILED,
                )
            )
        ]
        if not hops or not self.plan.path:
            return None
        hop = open_hops[0] if open_hops else hops[-1]
        done, partly = set(), set()
        for (h, kind), states in by_kind.items():
            if h != hop:
                continue
            total = sum(states.values())
            finished = states[StepState.DONE] + states[StepState.SKIPPED]
            if finished == total:
                done.add(kind)
            elif states[StepState.DONE] or states[StepState.IN_PROGRESS]:
                partly.add(kind)
        upgrades = by_kind.get((hop, "upgrade-tentacle"), Counter())
        path_hop = self.plan.path[min(hop, len(self.plan.path) - 1)]
        try:
            return rollback.stop_now(
                approach=self.plan.approach or None,
                hop_kind=path_hop.get("kind", ""),
                done_kinds=frozenset(done),
                partially_done_kinds=frozenset(partly),
                tentacles_total=sum(upgrades.values()) - upgrades[StepState.SKIPPED],
                tentacles_upgraded=upgrades[StepState.DONE],
                from_version=path_hop.get("from", ""),
                to_version=path_hop.get("to", ""),
            )
        except ValueError:
            return None

    def _activity_page(self) -> Page[Activity]:
        """The activity log, newest first, a page at a time. The first page, the one nearly
        every view shows, is read in one statement that also counts the whole log, instead
        of a COUNT and then the page. The count is a scalar subquery, which PostgreSQL runs
        once; a window count would read and join the whole log before the LIMIT (80 ms for
        20,000 entries, against 4 ms)."""
        number = page_number(self.request.GET.get("log", "1"))
        log = Activity.objects.log_of(self.plan)
        paginator = Paginator(log, ACTIVITY_SHOWN)
        if number != 1:
            page = paginator.get_page(number)
            page.object_list = list(page.object_list)
            fragments.activity_lines(page.object_list)
            return page
        size = (
            Activity.objects.filter(plan=self.plan)
            .order_by()
            .values("plan")
            .annotate(size=Count("id"))
            .values("size")
        )
        entries = list(log.annotate(log_size=Subquery(size))[:ACTIVITY_SHOWN])
        paginator.count = getattr(entries[0], "log_size", 0) if entries else 0
        # Each entry's line is kept: a tick adds one entry, and only it is rendered.
        fragments.activity_lines(entries)
        return Page(entries, 1, paginator)

    def _jobs(self) -> list[Job]:
        """The latest checks, as they stood when this version was first shown: a check's
        result moves the version; its queued and running states, which do not, show with
        the next version (as every cached page of this one shows them)."""
        plan = self.plan
        return page_cache.remembered(
            f"plan-jobs:{plan.pk}:{plan.version}",
            lambda: list(Job.objects.filter(plan=plan).order_by("-created_at")[:JOBS_SHOWN]),
            kind=list,
            seconds=page_cache.SECONDS,
            copy=list,  # the template only reads the jobs
        )

    def _view_link(self) -> tuple[str, str, datetime] | None:
        """The seed, token hash and time of the plan's current read-only link (None for
        none): read once per version, which replacing a link moves. The token itself is
        worked out from them by whoever shows it, so no cache holds it."""
        plan = self.plan

        def read() -> tuple[tuple[str, str, datetime] | None]:
            found = (
                PlanLink.objects.filter(plan=plan, kind=LinkKind.VIEW, replaced_at__isnull=True)
                .values_list("seed", "token_hash", "created_at")
                .first()
            )
            return (found,)

        kept = page_cache.remembered(
            f"plan-view-link:{plan.pk}:{plan.version}",
            read,
            kind=tuple,
            seconds=page_cache.SECONDS,
            copy=page_cache.same,
        )
        found: tuple[str, str, datetime] | None = kept[0]
        return found

    def _share_links(self) -> ShareLinks:
        build = self.request.build_absolute_uri
        view_link = self._view_link()
        # "" when the link was made with a secret key this server no longer has.
        view_token = (
            view_token_from_seed(view_link[0], token_hash=view_link[1]) if view_link else ""
        )
        view_created = view_link[2] if view_link else None
        return ShareLinks(
            edit_url=build(reverse("plan-edit", kwargs={"token": self.token})),
            edit_created=self.link.created_at,
            view_url=build(reverse("plan-view", kwargs={"token": view_token}))
            if view_token
            else "",
            view_created=view_created,
        )

    def _tentacle_page(self, me: str, facts: VersionFacts) -> TentaclePage:
        """The page of per-Tentacle steps the filters match, who finished each, and how many
        of all the matching steps are in each state (which also counts them for the
        paginator). With no filter, that is every per-Tentacle step: the fleets' counts, which
        the version's facts hold.

        The steps and their counts depend only on the plan version, the filters and the page
        shown, not on the link or who looks: they are read once for each and kept for as long
        as the page cache keeps pages (the edit and read-only links, and a table page asked
        for past the last, which shows the last, all share them)."""
        matching = self.filters.matching(me=me)
        query = Step.objects.of_plan(self.plan).per_tentacle().matching(**matching)
        plan = self.plan
        shown = hashlib.sha256(repr(sorted(matching.items())).encode()).hexdigest()[:32]
        kept = f"{plan.pk}:{plan.version}:{shown}"
        if self.filters.active:
            states = Counter(
                page_cache.remembered(
                    f"plan-tentacle-states:{kept}",
                    lambda: dict(query.state_counts()),
                    kind=dict,
                    seconds=page_cache.SECONDS,
                )
            )
        else:
            states = Counter[str]()
            for by_state in facts.fleet_counts.values():
                states.update(by_state)
        paginator = Paginator(query, TENTACLES_PER_PAGE)
        paginator.count = sum(states.values())  # known already: spare the paginator's COUNT
        # The page shown (a number past the last shows the last); its rows are read only if
        # they are not kept.
        page = paginator.get_page(self.filters.page)

        def read() -> tuple[list[Step], dict[uuid.UUID, Finisher]]:
            # Without a filter the page holds the same steps at every version: one a
            # transition made is the page of the version before with the moved steps moved.
            if not self.filters.active:
                carried = _tentacle_rows_after_transition(plan, f"{shown}:{page.number}")
                if carried is not None:
                    return carried
            steps = list(page.object_list)
            return steps, finishers(steps)

        steps, finished_by = page_cache.remembered(
            f"plan-tentacle-page:{kept}:{page.number}",
            read,
            kind=tuple,
            seconds=page_cache.SECONDS,
            copy=_tentacle_page_copy,
        )
        page.object_list = steps
        return TentaclePage(page, states, finished_by)

    def _waiting_for_at_version(self, step_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """`_waiting_for`, worked out once per plan version for the same steps: the full page
        and the first poll of a version, and every page of one view, ask for the same."""
        ids = hashlib.sha256("\n".join(sorted(map(str, step_ids))).encode()).hexdigest()
        key = f"plan-waiting:{self.plan.pk}:{self.plan.version}:{ids}"
        return page_cache.remembered(
            key,
            lambda: self._waiting_for(step_ids),
            kind=dict,
            seconds=page_cache.SECONDS,
            copy=dict,  # the texts are strings: a new dict is a full copy
        )

    def _waiting_for(self, step_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """For each blocked step on screen, the words saying what it waits for
        (`waiting_words`): from the version's steps when this process holds them or builds
        them on the version before, else read."""
        if not step_ids:
            return {}
        steps = version_steps.known(self.plan)
        if steps is not None:
            return waiting_words(steps, step_ids)
        return self._waiting_for_read(step_ids)

    def _waiting_for_read(self, step_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """`waiting_words`, read from the database in two statements whatever the plan's size,
        for a version whose steps this process does not hold: a fleet gate waits on thousands
        of Tentacle steps, counted in SQL by kind, canary apart, and only the first of each
        read."""
        # One statement for both: a plan-wide prerequisite is a group of its own (its id is
        # in the grouping, its title read), per-Tentacle ones are grouped by kind and canary.
        plan_wide = Q(prerequisite__tentacle="")
        found = (
            StepDependency.objects.unsatisfied(step_ids)
            .annotate(
                single=Case(When(plan_wide, then=F("prerequisite_id"))),
                single_title=Case(When(plan_wide, then=F("prerequisite__title"))),
            )
            .values(
                "step_id", "single", "single_title", "prerequisite__kind", "prerequisite__canary"
            )
            .annotate(count=Count("id"), first=Min("prerequisite__position"))
            .order_by("first")
            .values_list(
                "step_id",
                "single",
                "single_title",
                "prerequisite__kind",
                "prerequisite__canary",
                "count",
                "first",
            )
        )
        singles: dict[uuid.UUID, list[str]] = defaultdict(list)
        counted: dict[uuid.UUID, list[tuple[str, bool, int, int]]] = defaultdict(list)
        for step_id, single, title, kind, canary, count, first in found:
            if single is not None:
                singles[step_id].append(title)
            else:
                counted[step_id].append((kind, canary, count, first))
        firsts = {
            position: (title, tentacle)
            for position, title, tentacle in Step.objects.filter(
                plan=self.plan,
                position__in={first for runs in counted.values() for *_, first in runs},
            ).values_list("position", "title", "tentacle")
        }
        fleets: dict[uuid.UUID, list[FleetWait]] = {}
        for step_id, runs in counted.items():
            canary_pending = any(canary for _, canary, _, _ in runs)
            fleets[step_id] = [
                FleetWait(
                    kind=kind,
                    canary=canary,
                    count=count,
                    first_title=firsts.get(first, ("", ""))[0],
                    first_machine=firsts.get(first, ("", ""))[1],
                    others=canary_pending and not canary,
                )
                for kind, canary, count, first in sorted(runs, key=lambda run: (not run[1], run[3]))
            ]
        return {
            step_id: waiting_text(singles.get(step_id, []), fleets.get(step_id, []))
            for step_id in set(singles) | set(fleets)
        }

    def _checklist(
        self,
        steps: list[Step],
        fleet_counts: dict[FleetKey, Counter[str]],
        fleet_first: dict[FleetKey, int],
        names: dict[FleetKey, list[str]],
    ) -> list[ChecklistGroup]:
        # Per-Tentacle work is summarised in place, at the position of its first step.
        entries: list[tuple[int, Step | FleetSummary]] = [(s.position, s) for s in steps]
        has_canary = any(key[3] for key in fleet_counts)
        for key, by_state in fleet_counts.items():
            hop, phase, kind, canary = key
            label = FLEET_LABELS.get(kind, kind)
            group = {"kind": kind}
            if kind == "upgrade-tentacle" and has_canary:
                label = FLEET_CANARY_LABELS[canary]
                group["canary"] = "yes" if canary else "no"
            summary = FleetSummary(
                hop=hop,
                phase=phase,
                kind=kind,
                label=label,
                canary=canary,
                total=sum(by_state.values()),
                done=by_state[StepState.DONE] + by_state[StepState.SKIPPED],
                by_state=[(s, by_state[s]) for s in STATE_ORDER if by_state[s]],
                machines=names.get(key, []),
                query=urlencode(group),
            )
            entries.append((fleet_first[key], summary))
        self._fleet_ids = [
            summary.dom_id
            for _, summary in sorted(
                ((position, item) for position, item in entries if isinstance(item, FleetSummary)),
                key=lambda entry: entry[0],
            )
        ]
        groups: list[ChecklistGroup] = []
        for _, item in sorted(entries, key=lambda entry: entry[0]):
            if not groups or (groups[-1].hop, groups[-1].phase) != (item.hop, item.phase):
                groups.append(
                    ChecklistGroup(hop=item.hop, phase=item.phase, label=Phase(item.phase).label)
                )
            if isinstance(item, FleetSummary):
                groups[-1].fleets.append(item)
                groups[-1].entries.append((None, item))
            else:
                groups[-1].steps.append(item)
                groups[-1].entries.append((item, None))
        return groups


# What the bulk bar calls each action it may offer, in the order it offers them.
BULK_LABELS: dict[StepAction, str] = {
    StepAction.START: "Start",
    StepAction.COMPLETE: "Mark done",
    StepAction.SKIP: "Exclude",
    StepAction.REOPEN: "Reopen",
}


def bulk_actions(states: Counter[str]) -> list[StepAction]:
    """The actions every per-Tentacle step in `states` (a count per state) allows, in the bulk
    bar's order: a selection mixing blocked and ready steps is offered no "Mark done"."""
    present = [state for state, n in states.items() if n]
    if not present:
        return []
    common = set(PERSON_ACTIONS)
    for state in present:
        common &= allowed_actions(state, optional=False, per_tentacle=True)
    return [action for action in BULK_LABELS if action in common]


# The session's keys for the name this browser goes by, and for having been asked for one
# (and chosen to carry on without).
ACTOR_KEY = "actor"
NAME_ASKED_KEY = "actor_asked"


def actor_of(request: HttpRequest) -> str:
    """The name this browser goes by ("" when none)."""
    return str(request.session.get(ACTOR_KEY, ""))


def name_needed(request: HttpRequest) -> bool:
    """This browser has neither given a name nor chosen to carry on without one."""
    return not actor_of(request) and not request.session.get(NAME_ASKED_KEY, False)


def is_assigned(step: Step, name: str) -> bool:
    """`step` is assigned to `name` (as `StepQuerySet.assigned_to` decides, in Python)."""
    return bool(name.strip()) and step.assignee.casefold() == name.casefold()


@dataclass(frozen=True)
class Finisher:
    """Who marked a step done or skipped (blank: someone who gave no name), and when."""

    actor: str
    at: datetime


def finishers(steps: list[Step]) -> dict[uuid.UUID, Finisher]:
    """For each of `steps` that is done or skipped, who finished it and when: the step's own
    finishing time where it has one, else the activity log's."""
    finished = [step for step in steps if step.state in SATISFIED_STATES]
    if not finished:
        return {}
    found = Activity.objects.finishers([step.id for step in finished])
    shown = {}
    for step in finished:
        actor, at = found.get(step.id, ("", None))
        when = step.finished_at or at
        if when is not None:
            shown[step.id] = Finisher(actor=actor, at=when)
    return shown


def shown_evidence(evidence: list[dict[str, Any]], *, can_edit: bool) -> dict[str, Any] | None:
    """A step's latest evidence as the page shows it (plans.documents.evidence_shown)."""
    return evidence_shown(evidence[-1], can_edit=can_edit) if evidence else None


def shape_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


# Whose an estimate is when it is not the planner's (Step.estimate_basis).
ESTIMATE_OWNERS = {TEAM: "set by the team", REHEARSAL: "measured in a rehearsal"}


def estimate_text(step: Step, estimates: dict[str, dict[str, Any]]) -> str:
    """“2 h — <what the estimate assumes>”: a step's one duration and its basis ("" if none)."""
    if not step.estimate_minutes:
        return ""
    words = duration_words(step.estimate_minutes)
    basis = ESTIMATE_OWNERS.get(step.estimate_basis) or str(
        estimates.get(step.estimate_basis, {}).get("assumption", "")
    )
    return f"{words} — {basis}" if basis else words


# What a fleet's machines wait to have done, by the kind of their steps.
WAITING_VERBS = {
    "upgrade-tentacle": "Upgrade",
    "reconfigure-service-account": "Re-apply the service account on",
    "reinstall-tentacle-service": "Reinstall the Tentacle service on",
    "repoint-polling-tentacle": "Re-point the polling Tentacle on",
}


@dataclass(frozen=True)
class FleetWait:
    """Per-Tentacle prerequisites of one kind a step still waits for, canary apart."""

    kind: str
    canary: bool
    count: int
    first_title: str
    first_machine: str
    others: bool = False  # canary machines of the same wait are named apart: "other machines"

    @property
    def text(self) -> str:
        """“Upgrade the 2 canary machines (web-01, …)”, “Upgrade 8 other machines (…)”."""
        if self.count == 1 or self.kind not in WAITING_VERBS:
            more = f" and {self.count - 1:,} more" if self.count > 1 else ""
            return f"{self.first_title}{more}"
        if self.canary:
            machines = f"the {self.count:,} canary machines"
        else:
            machines = f"{self.count:,} {'other ' if self.others else ''}machines"
        return f"{WAITING_VERBS[self.kind]} {machines} ({self.first_machine}, …)"


def waiting_words(steps: VersionSteps, step_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """For each of `step_ids`, the words saying what it waits for: its prerequisites neither
    done nor skipped, each plan-wide one by its title, per-Tentacle ones counted by kind,
    canary apart, and named by the first of each in plan order (a fleet gate waits on
    thousands); steps waiting for nothing are left out."""
    rows, index = steps.rows, steps.index
    waiting: dict[uuid.UUID, str] = {}
    for step_id in step_ids:
        singles: list[tuple[int, str]] = []
        runs: dict[tuple[str, bool], list[int]] = {}  # (kind, canary) -> [count, first]
        for prerequisite in steps.prerequisites.get(str(step_id), ()):
            i = index.get(prerequisite)
            if i is None or rows[i]["state"] in SATISFIED_STATES:
                continue  # retired, or no longer holding anything back
            row = rows[i]
            if not row["tentacle"]:
                singles.append((i, row["title"]))
            elif (run := runs.get((row["kind"], row["canary"]))) is None:
                runs[(row["kind"], row["canary"])] = [1, i]
            else:
                run[0] += 1
                run[1] = min(run[1], i)
        if not singles and not runs:
            continue
        canary_pending = any(canary for _, canary in runs)
        fleets = [
            FleetWait(
                kind=kind,
                canary=canary,
                count=count,
                first_title=rows[first]["title"],
                first_machine=rows[first]["tentacle"],
                others=canary_pending and not canary,
            )
            for (kind, canary), (count, first) in sorted(
                runs.items(), key=lambda run: (not run[0][1], run[1][1])
            )
        ]
        waiting[step_id] = waiting_text([title for _, title in sorted(singles)], fleets)
    return waiting


def waiting_text(singles: list[str], fleets: list[FleetWait]) -> str:
    """“Back up the master key; Upgrade the 2 canary machines (web-01, …); Upgrade 4,998
    other machines (web-03, …)”."""
    parts = singles[:3]
    if len(singles) > 3:
        more = len(singles) - 3
        parts.append(f"{more} more step{'s' if more != 1 else ''}")
    parts += [fleet.text for fleet in fleets]
    return "; ".join(parts)
