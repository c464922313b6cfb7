"""What the JSON API takes and answers, as schemas (django-ninja's for request bodies, plain
pydantic models for answers): the OpenAPI document is built from these.

Request bodies are validated by the `...In` schemas. The answers are built elsewhere — the plan
and step documents by `plans.documents`, in a fixed number of queries and without validating a
5,000-step plan field by field — and returned as they are; the `...Out` schemas and the error
schemas describe them, and the API's tests check real answers against them. Their `extra=
"forbid"` makes a key added to an answer but not to its schema fail those tests.

Every fixed vocabulary is taken from where it is defined (`domain.vocabulary`, the planner's step
kinds, the services' refusal codes, the verification checks), never restated here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    RootModel,
    WithJsonSchema,
    field_validator,
)
from pydantic.config import JsonDict, JsonValue
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from upgrade_planner.domain import inventory, planner
from upgrade_planner.domain.vocabulary import (
    WARNING_CODES,
    Approach,
    CommunicationStyle,
    Feature,
    Phase,
    StepState,
)
from upgrade_planner.installations import api_keys
from upgrade_planner.plans import jobs, services
from upgrade_planner.plans.services.schedule import ASSIGNEE_MAX
from upgrade_planner.plans.services.text import ACTOR_MAX, REASON_MAX, too_long


def one_of(allowed: Collection[str]) -> Callable[[str], str]:
    """A check that a string is one of `allowed`, for vocabularies that are not enums."""

    def check(value: str) -> str:
        if value not in allowed:
            raise PydanticCustomError(
                "enum", "Expected one of: {expected}.", {"expected": ", ".join(allowed)}
            )
        return value

    return check


def enum_schema(allowed: Collection[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(allowed)})


def must_be_text(value: object) -> object:
    """The API's own message for a value that is not text (not pydantic's)."""
    if not isinstance(value, str):
        raise PydanticCustomError("text_type", "Must be text.")
    return value


def without_nul(value: object) -> object:
    if isinstance(value, str) and services.has_nul(value):
        raise PydanticCustomError("nul_character", services.NUL_REFUSED)
    return value


def at_most(limit: int, what: str) -> BeforeValidator:
    """A length limit with the services' message (`what` names the text in it); checked first,
    so a huge value is refused before anything else reads it."""

    def check(value: object) -> object:
        if isinstance(value, str) and (message := too_long(value, limit=limit, what=what)):
            raise PydanticCustomError("text_too_long", message)
        return value

    return BeforeValidator(check)


# The refusals a step action can answer with 409. ReasonRequired and ReasonInvalid answer 422
# (a field to fix), and the API always sends confirmed=True, so ConfirmationRequired never
# reaches it.
REFUSAL_CODES: tuple[str, ...] = tuple(
    refused.code
    for refused in (
        services.StepBlocked,
        services.StepInhibited,
        services.StepNotSkippable,
        services.StepHasStartedDependents,
        services.InvalidTransition,
    )
)
CHECK_KINDS: tuple[str, ...] = tuple(jobs.CHECKS)
STEP_KINDS: tuple[str, ...] = tuple(sorted(planner.STEP_KINDS))

StepKind = Annotated[str, AfterValidator(one_of(STEP_KINDS)), enum_schema(STEP_KINDS)]
WarningCode = Annotated[str, AfterValidator(one_of(WARNING_CODES)), enum_schema(WARNING_CODES)]
CheckKind = Annotated[str, AfterValidator(one_of(CHECK_KINDS)), enum_schema(CHECK_KINDS)]
FEATURE_VALUES: list[JsonValue] = list(Feature.values)
RefusalCode = Annotated[str, AfterValidator(one_of(REFUSAL_CODES)), enum_schema(REFUSAL_CODES)]
# Text, with the API's messages; CleanText also refuses a NUL character. (Before-validators run
# last to first: the type is checked before the NUL.)
Text = Annotated[str, BeforeValidator(must_be_text)]
CleanText = Annotated[str, BeforeValidator(without_nul), BeforeValidator(must_be_text)]
# A key that some answers leave out rather than send as null.
Absent = SkipJsonSchema[None]


class Answer(BaseModel):
    """An answer's schema: every key it may carry, and no other. A plain pydantic model (not a
    ninja Schema, which reads attributes off ORM objects): answers are dicts."""

    model_config = ConfigDict(extra="forbid")


# --- Request bodies ----------------------------------------------------------------------------


class TentacleIn(Schema):
    """One Tentacle of the inventory, as the API takes it (product.md §5.5 has the CSV form).

    Values follow the CSV rules: lists may also be `;`-separated text, the port numeric text,
    booleans `yes`/`no`/`1`/`0`; null means "not given". Rows are checked all at once, and each
    error names its row and field (`tentacles[3].port`).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=inventory.MAX_TEXT, examples=["web-01"])
    hostname: str = Field("", max_length=inventory.MAX_HOSTNAME, examples=["web-01.corp"])
    port: int | None = Field(None, ge=1, le=65535, examples=[10933])
    version: str = Field("", description="The Tentacle's version, e.g. 2.6.5.1581.")
    communication_style: CommunicationStyle = CommunicationStyle.LISTENING
    environments: list[str] = Field(default_factory=list, examples=[["Production"]])
    roles: list[str] = Field(default_factory=list, examples=[["web"]])
    os: str = Field("", max_length=inventory.MAX_TEXT, examples=["Windows Server 2012 R2"])
    service_account: str = Field(
        "", max_length=inventory.MAX_TEXT, description='A custom account; "" is Local System.'
    )
    restricted_permissions: bool = False
    online: bool = True


def unchanged(value: Any) -> Any:
    return value


def within_tentacle_cap(value: object) -> object:
    """A list of at most PLAN_MAX_TENTACLES rows, checked before any row is looked at."""
    if isinstance(value, list) and len(value) > settings.PLAN_MAX_TENTACLES:
        raise PydanticCustomError(
            "too_many_tentacles",
            inventory.row_count_message(len(value), settings.PLAN_MAX_TENTACLES),
        )
    return value


# At most PLAN_MAX_TENTACLES (a setting; the document shows the value it had when it was made).
TENTACLES_CAP_SCHEMA: JsonDict = {"maxItems": settings.PLAN_MAX_TENTACLES}

# A Tentacle row is validated by the inventory parser (the same rules as a CSV file, every error
# at once); the schema only documents it as a TentacleIn.
TentacleRow = Annotated[
    dict[str, Any], BeforeValidator(unchanged, json_schema_input_type=TentacleIn)
]


def api_key_shape(value: str) -> str:
    """An Octopus API key, or "" for none; the error never quotes it."""
    try:
        return api_keys.clean_api_key(value)
    except ValueError as error:
        raise PydanticCustomError("api_key_shape", str(error)) from None


ApiKey = Annotated[str, AfterValidator(api_key_shape)]
API_KEY_SCHEMA: dict[str, Any] = {"writeOnly": True, "pattern": "^(API-[A-Za-z0-9]+)?$"}


class PlanIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200)
    server_version: str = Field(..., max_length=40, examples=["2.6.5"])
    target_version: str = Field(
        ...,
        max_length=40,
        examples=["3.17.14"],
        description=(
            "The version to upgrade to. A version no Octopus release has (3.18, 2019.14) is "
            "refused with 422 naming the real neighbours; one newer than the planner's release "
            "catalogue is planned, with a `use-latest` warning that the plan's knowledge ends "
            "at its content version."
        ),
    )
    can_provision_new_server: bool = True
    sql_server_ready: bool = False
    uses_builtin_feed: bool = False
    backup_size_mb: int | None = Field(None, ge=0, le=10_000_000)
    document_count: int | None = Field(None, ge=0, le=1_000_000_000)
    history_days_to_keep: int | None = Field(None, ge=1, le=36_500)
    polling_port: int = Field(10943, ge=1, le=65535)
    approach: Approach | None = Field(
        None, description="Overrides the recommended approach; null follows the recommendation."
    )
    old_server_url: str = Field("", max_length=500)
    old_server_api_key: ApiKey = Field("", max_length=200, json_schema_extra=API_KEY_SCHEMA)
    new_server_url: str = Field("", max_length=500)
    new_server_api_key: ApiKey = Field("", max_length=200, json_schema_extra=API_KEY_SCHEMA)
    ha_nodes: list[str] = Field(
        default_factory=list,
        max_length=planner.NODES_MAX,
        description=(
            "The names of the server's high-availability nodes; absent, empty or one name is a "
            "single server. With two or more, every modern hop stops all nodes, upgrades the "
            "first one (which upgrades the database), then the others, then starts them all. "
            f"Names are unique (ignoring case), at most {planner.NODE_NAME_MAX} characters."
        ),
        examples=[["octo-node-1", "octo-node-2"]],
    )
    server_os: str = Field(
        "",
        max_length=200,
        description='The server\'s host OS, e.g. "Windows Server 2012 R2" (or "Linux" for the '
        "container): checked against the target's floor by the readiness report.",
    )
    dotnet_version: str = Field(
        "", max_length=40, description='The server\'s .NET Framework version, e.g. "4.7.2".'
    )
    sql_server_version: str = Field(
        "",
        max_length=40,
        description='The SQL Server version: a year ("2016", "2008 R2") or a build '
        '("13.0.5026.0").',
    )
    license_maintenance_expires: date | None = Field(
        None, description="When the license's maintenance ends (ISO date)."
    )
    features_in_use: list[str] = Field(
        default_factory=list,
        max_length=len(Feature.values),
        description="What the installation still uses that later releases drop: "
        + ", ".join(f"`{value}`" for value in Feature.values)
        + ".",
        json_schema_extra={"items": {"type": "string", "enum": FEATURE_VALUES}},
    )
    tentacles: Annotated[list[TentacleRow], BeforeValidator(within_tentacle_cap)] = Field(
        default_factory=list,
        description="The Tentacles, one object each; only `name` is required.",
        json_schema_extra=TENTACLES_CAP_SCHEMA,
    )

    @field_validator("*")
    @classmethod
    def no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and services.has_nul(value):
            raise PydanticCustomError("nul_character", services.NUL_REFUSED)
        return value


class ActionIn(Schema):
    """The body of a step action. Other keys are ignored; an empty body is `{}`."""

    actor: Annotated[CleanText, at_most(ACTOR_MAX, "The name")] = Field(
        "", max_length=ACTOR_MAX, description="Who is acting, for the activity log."
    )
    reason: Annotated[CleanText, at_most(REASON_MAX, "The reason")] = Field(
        "", max_length=REASON_MAX, description="Why; required for skip and reopen."
    )


class ScheduleIn(Schema):
    """The maintenance window and the people who can work at once. A key left out stays as it
    is; null clears that end of the window."""

    model_config = ConfigDict(extra="forbid")

    window_start: datetime | None = Field(None, examples=["2026-05-02T20:00:00Z"])
    window_end: datetime | None = Field(None, examples=["2026-05-03T06:00:00Z"])
    people_at_once: int | None = Field(
        None, ge=1, le=services.PEOPLE_MAX, description="How many people can work at once."
    )
    actor: Annotated[CleanText, at_most(ACTOR_MAX, "The name")] = Field(
        "", max_length=ACTOR_MAX, description="Who is acting, for the activity log."
    )


class StepUpdateIn(Schema):
    """A step's estimate and who does it; give either or both."""

    model_config = ConfigDict(extra="forbid")

    estimate_minutes: int | None = Field(
        None, ge=0, le=services.ESTIMATE_MAX_MINUTES, description="Whole minutes."
    )
    assignee: Annotated[CleanText, at_most(ASSIGNEE_MAX, "The assignee's name")] | None = Field(
        None, max_length=ASSIGNEE_MAX, description='null or "" for nobody.'
    )
    actor: Annotated[CleanText, at_most(ACTOR_MAX, "The name")] = Field(
        "", max_length=ACTOR_MAX, description="Who is acting, for the activity log."
    )


class RehearsalIn(Schema):
    model_config = ConfigDict(extra="forbid")

    actor: Annotated[CleanText, at_most(ACTOR_MAX, "The name")] = Field(
        "", max_length=ACTOR_MAX, description="Who is acting, for the activity log."
    )


class RehearsalApplyIn(RehearsalIn):
    rehearsal: uuid.UUID | None = Field(
        None, description="Which rehearsal of this plan; its latest one when left out."
    )


class InventoryOptions(Schema):
    """How an inventory replacement is recorded; from the query string or the JSON body."""

    approach_choice: Annotated[str, enum_schema(services.APPROACH_CHOICES)] | None = Field(
        None,
        description=(
            "Needed only when the new inventory changes the recommended approach of a plan that "
            'follows the recommendation (the answer is then 409 "approach-change"): "keep" stays '
            'with the current approach, recorded as an override; "switch" re-plans with the new '
            "recommendation. Steps that exist in both plans keep their progress either way."
        ),
    )
    actor: Annotated[Text, at_most(ACTOR_MAX, "The name")] = Field(
        "", max_length=ACTOR_MAX, description="Who is acting, for the activity log."
    )

    @field_validator("approach_choice", mode="before")
    @classmethod
    def known_choice(cls, value: object) -> object:
        if value is not None and value not in services.APPROACH_CHOICES:
            choices = ", ".join(f'"{choice}"' for choice in services.APPROACH_CHOICES)
            raise PydanticCustomError("approach_choice", f"Choose {choices} or null.")
        return value


class InventoryIn(InventoryOptions):
    """The object form of an inventory replacement (a bare list of Tentacles works too)."""

    model_config = ConfigDict(extra="forbid")

    tentacles: Annotated[list[TentacleIn], BeforeValidator(within_tentacle_cap)] = Field(
        ..., json_schema_extra=TENTACLES_CAP_SCHEMA
    )


class InventoryReplaceOptions(InventoryOptions):
    """How an inventory replacement is made: InventoryOptions, and the two safety switches.
    From the query string (any body) or the JSON object body."""

    confirm_removals: bool = Field(
        False,
        description=(
            "Needed to remove every Tentacle, or any Tentacle with a step in progress, done, "
            "skipped or failed; without it such a replacement answers 409 "
            '"removals-need-confirmation", naming the Tentacles, and saves nothing.'
        ),
    )
    dry_run: bool = Field(
        False,
        description=(
            "Answer what the replacement would do (the diff, the steps created and retired, "
            "what needs confirming) and save nothing."
        ),
    )


class InventoryReplaceIn(InventoryIn, InventoryReplaceOptions):
    """The object form of an inventory replacement. With a bare list of Tentacles or a CSV
    file, the options go in the query string."""

    model_config = ConfigDict(extra="forbid")


# --- The plan document (product.md §5.2) -------------------------------------------------------


class TentacleOut(Answer):
    name: str
    hostname: str
    port: int | None
    version: str
    communication_style: CommunicationStyle
    environments: list[str]
    roles: list[str]
    os: str
    service_account: str
    restricted_permissions: bool
    online: bool


class InstanceOut(Answer):
    """The installation as it was described (API keys are never returned)."""

    server_version: str
    target_version: str
    can_provision_new_server: bool
    sql_server_ready: bool
    uses_builtin_feed: bool
    backup_size_mb: int | None
    document_count: int | None
    history_days_to_keep: int | None
    polling_port: int
    old_server_url: str
    new_server_url: str
    ha_nodes: list[str] = Field(..., description="The server's HA node names, as given.")
    server_os: str
    dotnet_version: str
    sql_server_version: str
    license_maintenance_expires: date | None
    features_in_use: list[str]
    tentacles: list[TentacleOut]


class AlternativeOut(Answer):
    approach: Approach
    why_not: str


class PathHopOut(Answer):
    """One hop of the version path; a step's `hop` is its index in `path`."""

    from_: str = Field(..., alias="from", examples=["2.6.5"])
    to: str = Field(..., examples=["3.17.14"])
    kind: str = Field(..., examples=["2.6-migration"])
    reason: str
    source: str = Field(..., description="The documentation page this hop comes from.")


class WarningOut(Answer):
    code: WarningCode
    severity: planner.Severity
    text: str = Field(..., description="What the risk is.")
    action: str = Field(..., description="What to do about it.")
    source: str


class MigrationOut(Answer):
    """Sizing of the 2.6 data migration: migrator flags, RAM and a time range."""

    migrator_flags: list[str]
    command: str
    ram_advice: str
    prune_first: bool
    duration_low_hours: float
    duration_high_hours: float
    notes: list[str]


class ProgressOut(Answer):
    total: int
    done: int
    skipped: int
    blocked: int
    ready: int
    in_progress: int
    failed: int


class EvidenceOut(Answer):
    check: str = Field(
        ...,
        description=(
            "The verification that produced it (" + ", ".join(CHECK_KINDS) + "), or "
            "pasted-evidence."
        ),
    )
    at: datetime
    ok: bool | None = Field(..., description="null when the evidence only informs.")
    detail: str
    job: uuid.UUID | Absent = Field(None, description="The job; absent for pasted evidence.")


class StepOut(Answer):
    """A step of the checklist. Also the answer to a step action."""

    id: uuid.UUID
    key: str = Field(..., description="Stable across re-plans of the same input.")
    kind: StepKind
    title: str
    hop: int = Field(..., description="Index into the plan's `path`.")
    phase: Phase
    tentacle: str | None = Field(..., description="The Tentacle's name for per-Tentacle steps.")
    tentacles: list[str] = Field(..., description="Every Tentacle instance the step covers.")
    optional: bool
    canary: bool
    method: planner.UpgradeMethod | None
    point_of_no_return: bool
    fleet_gate: bool
    state: StepState
    depends_on: list[uuid.UUID]
    source: str
    detail: str
    evidence: list[EvidenceOut]
    estimate_minutes: int = Field(..., description="How long the step takes, in minutes.")
    estimate_basis: str = Field(
        ...,
        description='Whose estimate: a `basis` of the plan\'s `estimates`, "team" (set by '
        'the team) or "rehearsal" (measured in a rehearsal).',
    )
    assignee: str | None = Field(..., description="Who does the step; null for nobody yet.")
    started_at: datetime | None = Field(..., description="When it was started, while it runs.")
    finished_at: datetime | None = Field(..., description="When it was done or skipped.")


class EstimateOut(Answer):
    """One of the planner's estimates, shared by every step whose `estimate_basis` names it."""

    basis: str = Field(..., examples=["upgrade-tentacle/hydra"])
    minutes: int
    assumption: str = Field(..., description="What the number assumes, in words.")
    source: str = Field(..., description='The doc page it comes from; "" for our assumption.')
    attended: bool = Field(
        ..., description="false: runs by itself once started (a Hydra deployment), no person."
    )


class ScheduleOut(Answer):
    """The timed runbook's forecast, recomputed on every read from the dependencies, the
    estimates, the steps' actual start and end times and the people who can work at once."""

    window_start: datetime | None
    window_end: datetime | None
    forecast_end: datetime | None = Field(
        ..., description="Known once window_start is set or a step has started."
    )
    critical_path: list[uuid.UUID] = Field(
        ...,
        description="The chain of unfinished steps, each waiting for the one before, that ends "
        "with the last step to finish. With few people it is an approximation: a step may "
        "also wait for a free person.",
    )
    fits_window: bool | None = Field(..., description="null without a window end.")
    slack_minutes: int | None = Field(
        ..., description="Minutes from the forecast end to the window's end; negative: late."
    )
    remaining_minutes: int = Field(..., description="Minutes of work left, from now.")
    people_at_once: int
    computed_at: datetime = Field(..., description="The moment the forecast was made for.")


class FindingOut(Answer):
    """A finding of the readiness report (product.md §5.6)."""

    code: str = Field(..., description="Stable within the plan; the key of the accept action.")
    severity: Literal["inhibitor", "warning", "info"] = Field(
        ..., description="An open inhibitor refuses to start or complete the steps it guards."
    )
    state: Literal["open", "cleared", "accepted"]
    text: str
    what_to_do: str
    source: str = Field(..., description="The docs path or Issues#N the rule comes from.")
    subjects: list[str] = Field(..., description="The machines or facts it concerns.")
    guards: list[uuid.UUID] = Field(..., description="The steps an open inhibitor holds back.")
    accepted_by: str | None
    accepted_reason: str | None
    accepted_at: datetime | None


class ReadinessOut(Answer):
    scanned_at: datetime | None = Field(..., description="When the live server was last read.")
    findings: list[FindingOut] = Field(..., description="Inhibitors first, then warnings, info.")


class AcceptIn(Schema):
    """Accepting a finding: why (required), and who, for the activity log."""

    reason: Annotated[CleanText, at_most(REASON_MAX, "The reason")] = Field(
        ..., min_length=1, max_length=REASON_MAX, description="Why the risk is accepted."
    )
    actor: Annotated[CleanText, at_most(ACTOR_MAX, "The name")] = Field(
        "", max_length=ACTOR_MAX, description="Who accepts it, for the activity log."
    )


class PlanOut(Answer):
    """The plan document. `steps` are listed in an order that respects every dependency."""

    id: uuid.UUID
    name: str
    version: int = Field(..., description="Moves on every change; the ETag carries it.")
    content_version: str
    created_at: datetime
    instance: InstanceOut
    approach: Approach | None = Field(..., description="null when no hop is a 2.6 migration.")
    recommended_approach: Approach | None
    approach_overridden: bool
    reasons: list[str]
    alternatives: list[AlternativeOut]
    assumptions: list[str]
    path: list[PathHopOut]
    warnings: list[WarningOut]
    migration: MigrationOut | None
    canary: list[str] = Field(..., description="Names of the Tentacles upgraded first.")
    progress: ProgressOut
    estimates: list[EstimateOut]
    schedule: ScheduleOut
    readiness: ReadinessOut
    rehearsal_of: uuid.UUID | None = Field(
        ..., description="For a rehearsal plan: the id of the plan it rehearses."
    )
    latest_rehearsal: uuid.UUID | None = Field(
        ..., description="The id of the newest rehearsal of this plan."
    )
    steps_page: StepsPageOut | None = Field(
        None,
        description="Only in a read of one page of the steps (`page` or `page_size` given): "
        "which page `steps` holds. `instance.tentacles` then lists only the Tentacles of the "
        "steps on the page; `progress` and `schedule` still cover the whole plan.",
    )
    steps: list[StepOut]


class StepsPageOut(Answer):
    number: int = Field(..., description="The page shown, from 1. A page past the last is empty.")
    size: int = Field(..., description="Steps a page.")
    pages: int = Field(..., description="Pages in all (at least 1).")
    steps_total: int = Field(..., description="The plan's current steps, on every page.")


class PlanCreated(PlanOut):
    """The plan document with both share links. The tokens are shown this once."""

    edit_token: str
    view_token: str
    edit_url: str = Field(..., description="The plan's page, editable.")
    view_url: str = Field(..., description="The plan's page, read-only.")


# --- Other answers -----------------------------------------------------------------------------


class JobOut(Answer):
    id: uuid.UUID
    check: CheckKind


class JobsOut(Answer):
    """The verification jobs queued (or still open from before)."""

    jobs: list[JobOut]


class StepChangesOut(Answer):
    created: int
    kept: int
    retired: int


class TentacleChangeOut(Answer):
    name: str
    fields: list[str]


class InventoryDiffOut(Answer):
    added: list[str]
    removed: list[str]
    changed: list[TentacleChangeOut]


class InventoryReplacedOut(Answer):
    """What replacing the inventory did: Tentacles by outcome, steps, and the plan's approach."""

    added: int
    removed: int
    changed: int
    unchanged: int
    version: int
    approach: Approach | None
    approach_overridden: bool
    steps: StepChangesOut
    diff: InventoryDiffOut


class PlannedStepOut(Answer):
    key: str = Field(..., description="The key the step will have; stable across re-plans.")
    title: str


class RetiredStepOut(Answer):
    key: str
    title: str
    state: StepState = Field(..., description="Kept as it is: a retired step keeps its history.")


class ApproachEffectsOut(Answer):
    """What each answer to an approach change would do to the steps."""

    keep: StepChangesOut
    switch: StepChangesOut


class ApproachChangeOut(Answer):
    current: Approach
    recommended: Approach
    effects: ApproachEffectsOut


class InventoryDryRunOut(Answer):
    """What replacing the inventory would do (dry_run): nothing was saved. The steps are those
    of the approach_choice sent, of the current approach when none is."""

    dry_run: Literal[True]
    added: int
    removed: int
    changed: int
    unchanged: int
    version: int = Field(
        ...,
        description="The plan's version, unchanged. Send the answer's ETag as If-Match to "
        "apply the same change only if the plan has not moved on meanwhile.",
    )
    diff: InventoryDiffOut
    steps: StepChangesOut
    created_steps: list[PlannedStepOut]
    retired_steps: list[RetiredStepOut]
    approach_change: ApproachChangeOut | None = Field(
        ..., description="Set when applying needs approach_choice."
    )
    removals_to_confirm: list[str] = Field(
        ..., description="The Tentacles whose removal needs confirm_removals=true; [] if none."
    )
    removes_every_tentacle: bool


class InventoryOutcome(RootModel[InventoryReplacedOut | InventoryDryRunOut]):
    """What replacing the inventory did, or, with dry_run, would do."""


class MeasuredOut(Answer):
    kind: StepKind
    method: planner.UpgradeMethod | None
    minutes: int = Field(..., description="The average measured in the rehearsal.")
    measured_steps: int = Field(..., description="How many rehearsal steps were measured.")
    steps_changed: int = Field(..., description="How many steps of this plan took it.")


class RehearsalAppliedOut(Answer):
    """The rehearsal's measured times, now this plan's estimates, and the forecast before
    and after (both for the same moment)."""

    rehearsal: uuid.UUID
    version: int
    applied: list[MeasuredOut]
    before: ScheduleOut
    after: ScheduleOut


class Errors(Answer):
    """Input that cannot be used; nothing was saved."""

    errors: dict[str, list[str]] = Field(
        ...,
        description=(
            "Messages by field: a body field (`name`), a Tentacle's field "
            "(`tentacles[3].port`), `body`, `csv` (one message per line of the file) or the "
            "`Idempotency-Key` header."
        ),
    )


class Refusal(Answer):
    """The step cannot make this move now (product.md §4)."""

    error: RefusalCode
    detail: str = Field(..., description="Why, written for people.")
    blocked_by: list[uuid.UUID] | Absent = Field(
        None, description='With "blocked": the prerequisites it waits for.'
    )
    dependents: list[uuid.UUID] | Absent = Field(
        None, description='With "has-started-dependents": the steps to reopen first.'
    )
    inhibited_by: list[str] | Absent = Field(
        None, description='With "inhibited": the codes of the open inhibitors guarding it.'
    )


class ApproachChangeRefusal(Answer):
    """The new inventory changes the recommended approach: send it again with
    approach_choice "keep" or "switch"."""

    error: Annotated[
        str,
        AfterValidator(one_of([services.ApproachChangeRequired.code])),
        enum_schema([services.ApproachChangeRequired.code]),
    ]
    current: Approach
    recommended: Approach
    detail: str


class RemovalsRefusal(Answer):
    """The new inventory removes every Tentacle, or Tentacles whose steps have started or
    finished: nothing was saved. Send it again with confirm_removals=true to go ahead."""

    error: Annotated[
        str,
        AfterValidator(one_of([services.RemovalsNeedConfirmation.code])),
        enum_schema([services.RemovalsNeedConfirmation.code]),
    ]
    removing: list[str] = Field(
        ...,
        description="The Tentacles to confirm removing: every one when all would go, else "
        "those with progress.",
    )
    with_progress: list[str] = Field(
        ..., description="Removed Tentacles with a step in progress, done, skipped or failed."
    )
    every_tentacle: bool = Field(..., description="No Tentacle of the plan would stay.")
    detail: str


class InventoryRefusal(RootModel[ApproachChangeRefusal | RemovalsRefusal]):
    """The replacement needs a decision first: an approach_choice, or confirm_removals."""


class Problem(Answer):
    """An answer that is not the resource: `error` says which, `detail` says it for people."""

    error: str
    detail: str


class ReadOnly(Problem):
    """A change was asked of a read-only link."""

    error: Literal["read-only"]


class NotFound(Problem):
    """No plan has this link, or the plan has no such step or action."""

    error: Literal["not-found"]


class Gone(Problem):
    """The link was replaced by an editor; the new one works."""

    error: Literal["link-replaced"]


class RateLimited(Problem):
    """Too many unknown links were tried, or too many plans created, from this address; try
    again after Retry-After."""

    error: Literal["rate-limited"]


class UnsupportedMediaType(Problem):
    error: Literal["unsupported-media-type"]


class Unavailable(Problem):
    """The database is unreachable for a moment; nothing was changed. Try again after
    Retry-After."""

    error: Literal["unavailable"]


class NoMeasurements(Problem):
    """The rehearsal has no step done with a start and an end time yet."""

    error: Literal["nothing-measured"]


class PlanChanged(Problem):
    """If-Match named a version of the plan that is no longer current: nothing was saved.
    Read the plan again and decide again; the answer's ETag is the current version."""

    error: Annotated[
        str,
        AfterValidator(one_of([services.PlanChangedSinceRead.code])),
        enum_schema([services.PlanChangedSinceRead.code]),
    ]
    version: int = Field(..., description="The plan's current version.")
