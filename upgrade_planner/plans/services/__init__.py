"""Every write to plans goes through here: one transaction per service.

- `creation`: creating a plan (installation, Tentacles, plan, steps, links), held to a rate per
  client; the input error, token and settings helpers the other services share.
- `reconcile`: saving a planner result onto a plan: its fields, steps matched by key (keeping
  progress), dependencies and the derived blocked/ready states.
- `transitions`: the step lifecycle (start, complete, skip, reopen, fail, and in bulk).
- `replans`: the planner's input rebuilt from a saved plan; changing the approach.
- `resync`: previewing and replacing a plan's inventory of Tentacles.
- `fetches`: reading the inventory from an Octopus server in a job.
- `links`: rotating share links; recording plan-level events.
- `locking`: `plan_lock`, the one way every service serialises its changes of a plan.
- `outbox`: background jobs: asking for checks, the relay to the broker (tasks are sent by
  name), and a job's own lifecycle.
- `evidence`: what checks and pasted outputs found, recorded on steps; steps they confirm.
- `text`: free text from people (actor names, reasons) made fit to store.
- `idempotency`: the stored first response to an API request sent with an Idempotency-Key.
- `credentials`: API keys entered again on an existing plan.
- `schedule`: the timed runbook: the window and people, a step's estimate and assignee,
  rehearsals and applying their measured times.

Callers use the names below as `services.X`. To patch a function for a test, patch it in the
module that calls it (e.g. `services.transitions._transition`), where the name is looked up.
"""

from upgrade_planner.plans.services.creation import (
    CreatedPlan,
    PlanInputInvalid,
    TooManyPlans,
    new_token,
    plan_create,
    plan_creation_wait,
    planner_settings,
)
from upgrade_planner.plans.services.credentials import api_keys_enter
from upgrade_planner.plans.services.evidence import (
    PasteResult,
    evidence_paste,
    evidence_record,
    job_failure_record,
    job_result_record,
    steps_complete_where_ok,
)
from upgrade_planner.plans.services.fetches import (
    FetchOutcome,
    fetched_tentacles,
    fetches_publish,
    inventory_fetch_fail,
    inventory_fetch_key_keep,
    inventory_fetch_run,
    inventory_fetch_start,
)
from upgrade_planner.plans.services.idempotency import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyRefused,
    IdempotentResponse,
    idempotent_response_claim,
    idempotent_response_record,
    idempotent_response_run,
    idempotent_responses_purge,
    request_fingerprint,
)
from upgrade_planner.plans.services.links import activity_log, link_rotate
from upgrade_planner.plans.services.locking import plan_lock
from upgrade_planner.plans.services.outbox import (
    IDEMPOTENCY_PURGE_TASK,
    INVENTORY_FETCH_TASK,
    RELAY_OUTBOX_TASK,
    REVERIFY_TASK,
    RUN_JOB_TASK,
    SESSIONS_PURGE_TASK,
    applicable_checks,
    job_backoff,
    job_claim,
    job_fail,
    job_finish,
    job_retry,
    jobs_publish,
    jobs_requeue_lost,
    started_step_check_queue,
    task_by_name,
    unexpected_error_log,
    verification_request,
    verification_request_in_progress,
)
from upgrade_planner.plans.services.reconcile import step_labels
from upgrade_planner.plans.services.replans import (
    installation_input_of,
    plan_change_approach,
)
from upgrade_planner.plans.services.resync import (
    ACTIVITY_NAMES_LIMIT,
    APPROACH_CHOICES,
    ApproachChange,
    ApproachChangeRequired,
    InventoryChangedSincePreview,
    InventoryPreview,
    InventoryReplaced,
    PlanChangedSinceRead,
    Removals,
    RemovalsNeedConfirmation,
    inventory_change_summary,
    inventory_preview,
    inventory_replace,
)
from upgrade_planner.plans.services.schedule import (
    ESTIMATE_MAX_MINUTES,
    KEEP,
    PEOPLE_MAX,
    Keep,
    Measured,
    NothingMeasured,
    RehearsalApplied,
    RehearsalNotFound,
    rehearsal_apply,
    rehearsal_create,
    schedule_set,
    step_update,
)
from upgrade_planner.plans.services.text import NUL_REFUSED, actor_name, has_nul
from upgrade_planner.plans.services.transitions import (
    ActorInvalid,
    BulkOutcome,
    ConfirmationRequired,
    InvalidTransition,
    ReasonInvalid,
    ReasonRequired,
    StepBlocked,
    StepHasStartedDependents,
    StepNotFound,
    StepNotSkippable,
    TransitionRefused,
    UnknownAction,
    step_act,
    step_complete,
    step_fail,
    step_reopen,
    step_skip,
    step_start,
    steps_bulk,
    summarise_steps,
    unsatisfied_prerequisites,
    waiting_for_text,
)

__all__ = [
    "ACTIVITY_NAMES_LIMIT",
    "APPROACH_CHOICES",
    "ESTIMATE_MAX_MINUTES",
    "IDEMPOTENCY_PURGE_TASK",
    "INVENTORY_FETCH_TASK",
    "KEEP",
    "NUL_REFUSED",
    "PEOPLE_MAX",
    "RELAY_OUTBOX_TASK",
    "REVERIFY_TASK",
    "RUN_JOB_TASK",
    "SESSIONS_PURGE_TASK",
    "ActorInvalid",
    "ApproachChange",
    "ApproachChangeRequired",
    "BulkOutcome",
    "ConfirmationRequired",
    "CreatedPlan",
    "FetchOutcome",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyReused",
    "IdempotencyRefused",
    "IdempotentResponse",
    "InvalidTransition",
    "InventoryChangedSincePreview",
    "InventoryPreview",
    "InventoryReplaced",
    "Keep",
    "Measured",
    "NothingMeasured",
    "PasteResult",
    "PlanChangedSinceRead",
    "PlanInputInvalid",
    "ReasonInvalid",
    "ReasonRequired",
    "RehearsalApplied",
    "RehearsalNotFound",
    "Removals",
    "RemovalsNeedConfirmation",
    "StepBlocked",
    "StepHasStartedDependents",
    "StepNotFound",
    "StepNotSkippable",
    "TooManyPlans",
    "TransitionRefused",
    "UnknownAction",
    "activity_log",
    "actor_name",
    "api_keys_enter",
    "applicable_checks",
    "evidence_paste",
    "evidence_record",
    "fetched_tentacles",
    "fetches_publish",
    "has_nul",
    "idempotent_response_claim",
    "idempotent_response_record",
    "idempotent_response_run",
    "idempotent_responses_purge",
    "installation_input_of",
    "inventory_change_summary",
    "inventory_fetch_fail",
    "inventory_fetch_key_keep",
    "inventory_fetch_run",
    "inventory_fetch_start",
    "inventory_preview",
    "inventory_replace",
    "job_backoff",
    "job_claim",
    "job_fail",
    "job_failure_record",
    "job_finish",
    "job_result_record",
    "job_retry",
    "jobs_publish",
    "jobs_requeue_lost",
    "link_rotate",
    "new_token",
    "plan_change_approach",
    "plan_create",
    "plan_creation_wait",
    "plan_lock",
    "planner_settings",
    "rehearsal_apply",
    "rehearsal_create",
    "request_fingerprint",
    "schedule_set",
    "started_step_check_queue",
    "step_act",
    "step_complete",
    "step_fail",
    "step_labels",
    "step_reopen",
    "step_skip",
    "step_start",
    "step_update",
    "steps_bulk",
    "steps_complete_where_ok",
    "summarise_steps",
    "task_by_name",
    "unexpected_error_log",
    "unsatisfied_prerequisites",
    "verification_request",
    "verification_request_in_progress",
    "waiting_for_text",
]
