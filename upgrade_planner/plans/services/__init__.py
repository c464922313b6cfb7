"""Every write to plans goes through here: one transaction per service.

- `creation`: creating a plan (installation, Tentacles, plan, steps, links); the input error,
  token and settings helpers the other services share.
- `reconcile`: saving a planner result onto a plan: its fields, steps matched by key (keeping
  progress), dependencies and the derived blocked/ready states.
- `transitions`: the step lifecycle (start, complete, skip, reopen, fail, and in bulk).
- `replans`: the planner's input rebuilt from a saved plan; changing the approach.
- `resync`: previewing and replacing a plan's inventory of Tentacles.
- `fetches`: reading the inventory from an Octopus server in a job.
- `links`: rotating share links; recording plan-level events.
- `text`: free text from people (actor names, reasons) made fit to store.
- `idempotency`: the stored first response to an API request sent with an Idempotency-Key.

Callers use the names below as `services.X`. To patch a function for a test, patch it in the
module that calls it (e.g. `services.transitions._transition`), where the name is looked up.
"""

from upgrade_planner.plans.services.creation import (
    TENTACLE_COLUMNS,
    CreatedPlan,
    PlanInputInvalid,
    new_token,
    plan_create,
    planner_settings,
)
from upgrade_planner.plans.services.fetches import (
    FetchOutcome,
    fetched_tentacles,
    inventory_fetch_fail,
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
    request_fingerprint,
)
from upgrade_planner.plans.services.links import activity_log, link_rotate
from upgrade_planner.plans.services.reconcile import TentacleRef, step_labels
from upgrade_planner.plans.services.replans import (
    installation_input_of,
    plan_change_approach,
    tentacle_input_of,
)
from upgrade_planner.plans.services.resync import (
    ACTIVITY_NAMES_LIMIT,
    APPROACH_CHOICES,
    BULK_BATCH,
    ApproachChange,
    ApproachChangeRequired,
    InventoryChangedSincePreview,
    InventoryPreview,
    InventoryReplaced,
    inventory_change_summary,
    inventory_preview,
    inventory_replace,
)
from upgrade_planner.plans.services.text import NUL_REFUSED, actor_name, has_nul
from upgrade_planner.plans.services.transitions import (
    RULES,
    STEP_ACTIONS,
    BulkOutcome,
    ConfirmationRequired,
    InvalidTransition,
    ReasonInvalid,
    ReasonRequired,
    Rule,
    StepBlocked,
    StepHasStartedDependents,
    StepNotFound,
    StepNotSkippable,
    TransitionRefused,
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
    "BULK_BATCH",
    "NUL_REFUSED",
    "RULES",
    "STEP_ACTIONS",
    "TENTACLE_COLUMNS",
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
    "PlanInputInvalid",
    "ReasonInvalid",
    "ReasonRequired",
    "Rule",
    "StepBlocked",
    "StepHasStartedDependents",
    "StepNotFound",
    "StepNotSkippable",
    "TentacleRef",
    "TransitionRefused",
    "activity_log",
    "actor_name",
    "fetched_tentacles",
    "has_nul",
    "idempotent_response_claim",
    "idempotent_response_record",
    "idempotent_response_run",
    "installation_input_of",
    "inventory_change_summary",
    "inventory_fetch_fail",
    "inventory_fetch_run",
    "inventory_fetch_start",
    "inventory_preview",
    "inventory_replace",
    "link_rotate",
    "new_token",
    "plan_change_approach",
    "plan_create",
    "planner_settings",
    "request_fingerprint",
    "step_complete",
    "step_fail",
    "step_labels",
    "step_reopen",
    "step_skip",
    "step_start",
    "steps_bulk",
    "summarise_steps",
    "tentacle_input_of",
    "unsatisfied_prerequisites",
    "waiting_for_text",
]
