"""What we recommend and track: plans, their steps and dependencies, links and activity."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models.functions import Cast, RowNumber
from django.utils import timezone

from upgrade_planner.domain.lifecycle import StepAction, offered_actions
from upgrade_planner.domain.vocabulary import (
    SATISFIED_STATES,
    ActivityAction,
    Approach,
    FindingSeverity,
    FindingState,
    StepState,
)
from upgrade_planner.installations.models import Installation


class PlanQuerySet(models.QuerySet["Plan"]):
    def with_steps_in_progress(self, *, changed_since: datetime) -> PlanQuerySet:
        """Plans changed since `changed_since` with a current step in progress."""
        return self.filter(
            updated_at__gte=changed_since,
            steps__state=StepState.IN_PROGRESS,
            steps__retired=False,
        ).distinct()


class Plan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installation = models.OneToOneField(Installation, on_delete=models.CASCADE, related_name="plan")
    name = models.CharField(max_length=200)
    # Bumped by every change; the ETag of every read.
    version = models.PositiveIntegerField(default=1)
    # Steps done or skipped, kept by the transitions so the progress chart reads no steps.
    finished_steps = models.PositiveIntegerField(default=0)
    approach = models.CharField(max_length=20, choices=Approach.choices, blank=True)
    recommended_approach = models.CharField(max_length=20, choices=Approach.choices, blank=True)
    approach_overridden = models.BooleanField(default=False)
    # The planner's explanations are read whole and never queried into: JSON keeps a read
    # of the plan to a fixed number of queries.
    reasons = models.JSONField(default=list)
    alternatives = models.JSONField(default=list)
    assumptions = models.JSONField(default=list)
    path = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    migration = models.JSONField(null=True, blank=True)
    canary = models.JSONField(default=list)
    # The planner's estimates, each with its assumption and source; steps name theirs.
    estimates = models.JSONField(default=list, db_default=[])
    content_version = models.CharField(max_length=40)
    # The timed runbook: the maintenance window, and how many people can work at once.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    people_at_once = models.PositiveSmallIntegerField(default=2, db_default=2)
    # A rehearsal is a plan made from the same input, run on a test instance first; the live
    # plan keeps its newest rehearsal, so either side links to the other without a query.
    rehearsal_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rehearsals"
    )
    latest_rehearsal = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_end__gt=models.F("window_start")),
                name="plan_window_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=models.Q(people_at_once__gte=1), name="plan_people_at_once_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def install_server_url(self) -> str:
        """The server whose version shows that the install step is done: the new machine in
        a new-server upgrade, else the one server (new URL if it changes, else the old)."""
        installation = self.installation
        if self.approach == Approach.NEW_SERVER:
            return installation.new_server_url
        return installation.new_server_url or installation.old_server_url


class LinkKind(models.TextChoices):
    EDIT = "edit", "Edit"
    VIEW = "view", "Read-only"


def hash_token(token: str) -> str:
    """Tokens are 256-bit random values, so a plain SHA-256 is enough to keep them secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def _view_token(secret_key: str, seed: str) -> str:
    digest = hmac.new(
        secret_key.encode(), f"plan-view-link:{seed}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def view_token_from_seed(seed: str, *, token_hash: str = "") -> str:
    """The read-only token, derived from a stored random seed with the server's secret key.

    Editors must be able to see the read-only link again, yet the database must never hold a
    usable token: it holds the seed, and only a server that also has SECRET_KEY can turn it
    into the token (256 bits, URL-safe).

    Given the link's `token_hash`, the token is the one whose hash it is, derived with
    SECRET_KEY or one of SECRET_KEY_FALLBACKS: after a rotation, the link made with the old
    key is still the one shown (and it still opens the plan, which is found by that hash).
    "" when none of the keys made it (the old key has been dropped).
    """
    if not token_hash:
        return _view_token(settings.SECRET_KEY, seed)
    for secret_key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        token = _view_token(secret_key, seed)
        if hmac.compare_digest(hash_token(token), token_hash):
            return token
    return ""


class PlanLinkQuerySet(models.QuerySet["PlanLink"]):
    def for_token(self, token: str) -> PlanLinkQuerySet:
        """The link (current or replaced) whose token is `token`, with its plan."""
        return self.select_related("plan").filter(token_hash=hash_token(token))


class PlanLink(models.Model):
    """A share link. Only the hash of its token is stored; a rotated link keeps its row with
    `replaced_at` set so that visitors learn it was replaced rather than never existed."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=10, choices=LinkKind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    # Read-only links only: see view_token_from_seed. Edit tokens are never recoverable.
    seed = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    replaced_at = models.DateTimeField(null=True, blank=True)

    objects = PlanLinkQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "kind"],
                condition=models.Q(replaced_at__isnull=True),
                name="one_current_link_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} link of {self.plan_id}"

    @property
    def can_edit(self) -> bool:
        return self.kind == LinkKind.EDIT

    @property
    def view_token(self) -> str:
        return view_token_from_seed(self.seed, token_hash=self.token_hash) if self.seed else ""


class StepQuerySet(models.QuerySet["Step"]):
    def current(self) -> StepQuerySet:
        """Steps that are part of the plan now (not retired by an inventory re-sync)."""
        return self.filter(retired=False)

    def of_plan(self, plan: Plan) -> StepQuerySet:
        """The current steps of `plan`."""
        return self.current().filter(plan=plan)

    def plan_wide(self) -> StepQuerySet:
        """Steps that are not per Tentacle, in plan order."""
        return self.filter(tentacle="").order_by("position")

    def per_tentacle(self) -> StepQuerySet:
        """Per-Tentacle steps, in plan order, with their Tentacle row."""
        return self.exclude(tentacle="").select_related("tentacle_ref").order_by("position")

    def matching(
        self,
        *,
        state: str = "",
        environment: str = "",
        role: str = "",
        style: str = "",
        search: str = "",
        kind: str = "",
        canary: bool | None = None,
        assignee: str | None = None,
    ) -> StepQuerySet:
        """Per-Tentacle steps in `state`, of a Tentacle in `environment`, with `role`, of
        communication `style`, whose name or host contains `search`, of `kind`, in the canary
        or not, assigned to `assignee` (blank or None: any; for `assignee`, None)."""
        query = self
        if state:
            query = query.filter(state=state)
        for label, value in (("env", environment), ("role", role), ("style", style)):
            if value:
                query = query.filter(labels__contains=f"|{label}={value}|")
        if search:
            query = query.filter(
                models.Q(tentacle__icontains=search)
                | models.Q(tentacle_ref__hostname__icontains=search)
            )
        if kind:
            query = query.filter(kind=kind)
        if canary is not None:
            query = query.filter(canary=canary)
        if assignee is not None:
            query = query.assigned_to(assignee)
        return query

    def assigned_to(self, name: str) -> StepQuerySet:
        """Steps assigned to `name`, whatever its case; none for a blank name (nobody's steps
        are not anyone's)."""
        return self.filter(assignee__iexact=name) if name.strip() else self.none()

    def machine_names(self, *, first: int) -> list[tuple[int, str, str, bool, str]]:
        """The Tentacle names of the first `first` per-Tentacle steps of each fleet (hop,
        phase, kind, canary), in plan order, in one query: what a fleet's card lists."""
        rank = models.Window(
            RowNumber(),
            partition_by=[models.F("hop"), models.F("phase"), models.F("kind"), models.F("canary")],
            order_by=models.F("position").asc(),
        )
        return list(
            self.exclude(tentacle="")
            .order_by()
            .annotate(rank=rank)
            .filter(rank__lte=first)
            .order_by("position")
            .values_list("hop", "phase", "kind", "canary", "tentacle")
        )

    def state_counts(self) -> dict[str, int]:
        """How many steps are in each state."""
        return dict(
            self.order_by()
            .values_list("state")
            .annotate(n=models.Count("id"))
            .values_list("state", "n")
        )

    def fleet_counts(self) -> list[tuple[int, str, str, bool, str, int, int]]:
        """Per-Tentacle steps grouped by (hop, phase, kind, canary, state), with each group's
        size and first position: how the checklist summarises a fleet in one line."""
        return list(
            self.exclude(tentacle="")
            .order_by()
            .values_list("hop", "phase", "kind", "canary", "state")
            .annotate(n=models.Count("id"), first=models.Min("position"))
            .values_list("hop", "phase", "kind", "canary", "state", "n", "first")
        )


class Step(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the (plan, key) and (plan, state) indexes start with the plan and
    # serve every read by plan. A third index would cost 20,000 entries a 20,000-Tentacle plan.
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="steps", db_index=False)
    key = models.CharField(max_length=300)
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=60)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    phase = models.CharField(max_length=20)
    hop = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=300)
    optional = models.BooleanField(default=False)
    tentacle = models.CharField(max_length=200, blank=True)
    tentacles = models.JSONField(default=list, blank=True)
    tentacle_ref = models.ForeignKey(
        "installations.Tentacle",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="steps",
    )
    # "|env=Production|role=web|style=polling|": lets the per-Tentacle table filter in SQL on
    # every database without JSON lookups.
    labels = models.TextField(blank=True)
    canary = models.BooleanField(default=False)
    method = models.CharField(max_length=10, blank=True)
    point_of_no_return = models.BooleanField(default=False)
    fleet_gate = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=StepState.choices, default=StepState.BLOCKED)
    evidence = models.JSONField(default=list, blank=True)
    retired = models.BooleanField(default=False)
    # The timed runbook: minutes the step takes and whose estimate that is (a key of the
    # plan's `estimates`, or "team" / "rehearsal"), who does it, and when it ran.
    estimate_minutes = models.PositiveIntegerField(default=0, db_default=0)
    estimate_basis = models.CharField(max_length=80, blank=True, default="", db_default="")
    assignee = models.CharField(max_length=100, blank=True, default="", db_default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    depends_on: models.ManyToManyField[Step, StepDependency] = models.ManyToManyField(
        "self", through="StepDependency", symmetrical=False, related_name="dependents"
    )

    objects = StepQuerySet.as_manager()

    # Not stored: the words saying what a blocked step waits for, its latest evidence as the
    # visitor may see it, what became of this visitor's last action on it (shown next to
    # its controls), who finished it and when, its estimate in words with the basis of it, and
    # the texts of the open inhibitors holding it back, set by the plan page; and the ids of
    # its prerequisites, set by the transition that read them with the step.
    waiting_for = ""
    inhibitors: tuple[str, ...] = ()
    estimate_text = ""
    last_evidence: dict[str, Any] | None = None
    outcome: Any = None
    finisher: Any = None
    # Also set by the plan page: the critical-path badge, the "still on it?" note, and the
    # card or row as this visitor sees it (web/fragments.py).
    critical = False
    stale = False
    fragment: Any = ""
    prerequisite_ids: list[str] | None = None

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "key"], name="step_key_unique_per_plan"),
            models.CheckConstraint(
                condition=models.Q(state__in=StepState.values), name="step_state_valid"
            ),
        ]
        indexes = [models.Index(fields=["plan", "state"])]

    def __str__(self) -> str:
        return self.title

    @property
    def actions(self) -> frozenset[StepAction]:
        """What a person can be offered on this step now (domain/lifecycle.py decides)."""
        return offered_actions(
            self.state,
            optional=self.optional,
            per_tentacle=bool(self.tentacle),
            point_of_no_return=self.point_of_no_return,
        )

    @property
    def action_names(self) -> str:
        """The offered actions, space-separated in a fixed order: a frozenset's own order
        follows the process's hash seed, so a row rendered by another worker would differ,
        and with it the digest that tells a poll whether the Tentacle table changed."""
        return " ".join(sorted(self.actions))


class StepDependencyQuerySet(models.QuerySet["StepDependency"]):
    def unsatisfied(self, step_ids: list[uuid.UUID]) -> StepDependencyQuerySet:
        """The dependencies of these steps on prerequisites neither done nor skipped."""
        return self.filter(step_id__in=step_ids).exclude(prerequisite__state__in=SATISFIED_STATES)

    def id_pairs_as_text(self) -> Iterable[tuple[str, str]]:
        """(step id, prerequisite id) of each dependency, written as str() writes a UUID.
        PostgreSQL writes them so itself: a 20,000-Tentacle plan's 80,000 pairs then arrive in
        half the time that making and writing out 160,000 UUIDs here takes."""
        if connections[self.db].vendor == "postgresql":
            return self.values_list(
                Cast("step_id", models.TextField()), Cast("prerequisite_id", models.TextField())
            )
        return (
            (str(step), str(prerequisite))
            for step, prerequisite in self.values_list("step_id", "prerequisite_id")
        )


class StepDependency(models.Model):
    # A plan has ~4 of these rows per Tentacle (80,000 for 20,000 Tentacles), so every check
    # and index here is paid 80,000 times when a plan is made.
    # No database foreign keys on the two steps: checking both at commit was 160,000 lookups,
    # a fifth of the creation of a 20,000-Tentacle plan. Only steps_create and steps_reconcile
    # write these rows, from the ids of the plan's own steps written in the same transaction;
    # steps are retired, never deleted, but with their plan, and Django's cascade still
    # deletes the rows of a deleted step (tests/plans/test_storage.py checks both).
    # No index on `step` of its own: the unique (step, prerequisite) constraint's index serves
    # lookups by step.
    step = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    prerequisite = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    # The step's plan, copied here for plan-wide reads. The step's own foreign key already
    # guarantees the plan exists, so this one has no database constraint: checking it at
    # commit cost 20,000 more lookups when a 5,000-Tentacle plan is created. Deleting a plan
    # still deletes these rows (Django's cascade).
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    objects = StepDependencyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "prerequisite"], name="dependency_unique"),
            models.CheckConstraint(
                condition=~models.Q(step=models.F("prerequisite")), name="dependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_id} after {self.prerequisite_id}"


class ActivityQuerySet(models.QuerySet["Activity"]):
    def log_of(self, plan: Plan) -> ActivityQuerySet:
        """The activity log of `plan`, newest first, with the steps named: of a step, only its
        title is read (the log shows nothing else of it, and a step's row is large)."""
        own = [field.name for field in self.model._meta.concrete_fields]
        return self.filter(plan=plan).select_related("step").only(*own, "step__title")

    def last_changes(self, plan: Plan) -> ActivityQuerySet:
        """The latest change of state of each step of `plan` (who, when, why), one a step."""
        latest = (
            self.filter(plan=plan, step__isnull=False)
            .exclude(to_state="")
            .order_by()
            .values("step_id")
            .annotate(last=models.Max("id"))
            .values("last")
        )
        return self.filter(id__in=latest).order_by()

    def finishers(self, step_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, datetime]]:
        """Who last marked each of these steps done or skipped, and when, in one query."""
        latest = (
            self.filter(step_id__in=step_ids, to_state__in=SATISFIED_STATES)
            .order_by()
            .values("step_id")
            .annotate(last=models.Max("id"))
            .values("last")
        )
        return {
            step_id: (actor, at)
            for step_id, actor, at in self.filter(id__in=latest)
            .order_by()
            .values_list("step_id", "actor", "at")
        }


class Activity(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="activities")
    step = models.ForeignKey(
        Step, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    actor = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=40, choices=ActivityAction.choices)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    details: Any = models.JSONField(default=dict, blank=True)
    plan_version = models.PositiveIntegerField()
    finished_steps = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["plan", "-at"])]

    def __str__(self) -> str:
        return f"{self.actor or 'someone'} {self.action}"

    @property
    def verb(self) -> str:
        return (
            ActivityAction(self.action).label
            if self.action in ActivityAction.values
            else self.action
        )


class IdempotencyRecord(models.Model):
    """The first response to an API request sent with an Idempotency-Key, replayed on retries."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    body: Any = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "key"], name="idempotency_key_unique_per_plan")
        ]
        # The hourly purge deletes by age across every plan.
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_at")]

    def __str__(self) -> str:
        return self.key


class JobState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FetchState(models.TextChoices):
    PENDING = "pending", "Waiting to start"
    RUNNING = "running", "Reading the server"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class JobQuerySet(models.QuerySet["Job"]):
    def due(self) -> JobQuerySet:
        """Jobs the relay should hand to the broker now."""
        return self.filter(state=JobState.PENDING, available_at__lte=timezone.now())

    def open(self) -> JobQuerySet:
        """Jobs not finished yet."""
        return self.filter(state__in=[JobState.PENDING, JobState.QUEUED, JobState.RUNNING])


class Job(models.Model):
    """A background job, written in the same transaction as the action that asks for it (a
    transactional outbox): a broker outage delays it but never loses it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="jobs")
    step = models.ForeignKey(
        Step, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    kind = models.CharField(max_length=40)  # which check: see plans/jobs.py CHECKS
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    available_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result: Any = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["state", "available_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=JobState.values), name="job_state_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.state})"


class InventoryFetch(models.Model):
    """One reading of the Tentacle inventory from an Octopus server's API, kept so that the
    page can show its progress and then its result for review. Its row is the job's outbox
    entry: the relay sends the fetch's id (never its API key) to the broker."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="inventory_fetches")
    server_url = models.CharField(max_length=500)
    actor = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=10, choices=FetchState.choices, default=FetchState.PENDING)
    # What the job is doing now, for the page: "Read 120 of 480 machines".
    progress = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    server_version = models.CharField(max_length=40, blank=True)
    # Inventory rows in the API's row shape, holding only the fields the server reported.
    rows: Any = models.JSONField(default=list, blank=True)
    # Machines that could not be turned into rows: [{"name": ..., "reason": ...}].
    unrecognised: Any = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # The API key, encrypted (installations/api_keys.py), for as long as the fetch may still
    # run: the worker reads it from here, and it is blanked when the fetch finishes.
    encrypted_api_key = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When its message was handed to the broker; None while it waits for the relay.
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=FetchState.values), name="inventory_fetch_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "-created_at"]),
            models.Index(fields=["state", "published_at"]),  # what the relay looks for
        ]

    def __str__(self) -> str:
        return f"Inventory from {self.server_url} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in {FetchState.DONE, FetchState.FAILED}

    @property
    def not_started_yet(self) -> bool:
        """Still waiting for a worker a minute after it was asked for: worth saying so."""
        waited = timezone.now() - self.created_at
        return (
            self.state == FetchState.PENDING and not self.attempts and waited.total_seconds() >= 60
        )


class FindingQuerySet(models.QuerySet["Finding"]):
    def of_plan(self, plan: Plan) -> FindingQuerySet:
        """The readiness findings of `plan`, inhibitors first, in the report's order."""
        return self.filter(plan=plan).order_by("position")

    def in_report_order(self, plan: Plan) -> FindingQuerySet:
        """The findings of `plan` as the report lists them: inhibitors, then warnings, then
        information (the vocabulary's order), each in the order the rules found them."""
        rank = models.Case(
            *(
                models.When(severity=severity, then=models.Value(index))
                for index, severity in enumerate(FindingSeverity)
            ),
            default=models.Value(len(FindingSeverity)),
        )
        return self.filter(plan=plan).order_by(rank, "position", "pk")

    def report_rows(self, plan: Plan) -> FindingQuerySet:
        """The findings of `plan` in the report's order in one query, one row for each step a
        finding guards (as `guard_id`, None for a finding that guards none)."""
        return self.in_report_order(plan).annotate(guard_id=models.F("guards"))

    def inhibiting(self, step_id: uuid.UUID) -> FindingQuerySet:
        """The open inhibitors that guard the step `step_id`."""
        return self.filter(
            severity=FindingSeverity.INHIBITOR, state=FindingState.OPEN, guards=step_id
        ).order_by("position")


class Finding(models.Model):
    """One finding of the readiness report (product.md §5.6): found by domain/readiness.py from
    the plan's input and the latest scan; an open inhibitor holds back the steps it guards."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="findings")
    code = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    severity = models.CharField(max_length=10, choices=FindingSeverity.choices)
    state = models.CharField(max_length=10, choices=FindingState.choices, default=FindingState.OPEN)
    text = models.TextField()
    what_to_do = models.TextField(blank=True)
    source = models.CharField(max_length=500)
    subjects = models.JSONField(default=list, blank=True)
    guards = models.ManyToManyField(Step, blank=True, related_name="inhibited_by")
    accepted_by = models.CharField(max_length=100, blank=True)
    accepted_reason = models.TextField(blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "code"], name="finding_code_unique_per_plan"),
            models.CheckConstraint(
                condition=models.Q(state__in=FindingState.values), name="finding_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(severity__in=FindingSeverity.values),
                name="finding_severity_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=FindingState.ACCEPTED) | ~models.Q(accepted_reason=""),
                name="finding_accepted_with_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.state})"
