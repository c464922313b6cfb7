"""The product's fixed vocabulary, each term with the label people read.

Every other layer takes its values from here: the planner's dataclasses, the models' `choices`
and check constraints, the forms, the API's schemas and the templates. A term is a `str`, so it
compares equal to the value stored in the database or sent in JSON.
"""

from __future__ import annotations

from enum import EnumType, StrEnum
from typing import TYPE_CHECKING, Self


class _TermType(EnumType):
    # The same class-level properties as Django's TextChoices, so a term class can stand
    # wherever those are expected (`choices=Approach.choices`, `state__in=StepState.values`).
    @property
    def choices(cls) -> list[tuple[str, str]]:
        """(value, label) pairs, in declaration order."""
        return [(str(term), term.label) for term in cls]  # type: ignore[var-annotated]

    @property
    def values(cls) -> list[str]:
        return [str(term) for term in cls]  # type: ignore[var-annotated]


class Term(StrEnum, metaclass=_TermType):
    """A string value with the label shown to people (`Term("in-place").label == "In-place"`)."""

    _value_: str
    label: str

    # Hidden from type checkers, which then read a term's call as Enum's lookup by value
    # (`Approach("in-place")`) and its value as the `str` declared above.
    if not TYPE_CHECKING:

        def __new__(cls, value: str, label: str) -> Self:
            member = str.__new__(cls, value)
            member._value_ = value
            member.label = label
            return member


class Approach(Term):
    """How the 2.6 → 3.x hop is done (product.md §2)."""

    NEW_SERVER = "new-server", "New server"
    IN_PLACE = "in-place", "In-place"
    MANUAL = "manual", "Manual"


class StepState(Term):
    """Where a step stands (product.md §4)."""

    BLOCKED = "blocked", "Blocked"
    READY = "ready", "Ready"
    IN_PROGRESS = "in-progress", "In progress"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


# A prerequisite in one of these states no longer holds its dependents back.
SATISFIED_STATES: frozenset[StepState] = frozenset({StepState.DONE, StepState.SKIPPED})


class CommunicationStyle(Term):
    """Who opens the connection between the server and a Tentacle."""

    LISTENING = "listening", "Listening"
    POLLING = "polling", "Polling"


# The names Octopus's own API gives the two styles (a machine's Endpoint.CommunicationStyle),
# case-folded.
OCTOPUS_STYLE_NAMES: dict[str, CommunicationStyle] = {
    "tentaclepassive": CommunicationStyle.LISTENING,
    "tentacleactive": CommunicationStyle.POLLING,
}


class Phase(Term):
    """Groups the checklist on the page; steps are still ordered by their dependencies."""

    PREPARE = "prepare", "Prepare"
    INSTALL = "install", "Install the server"
    MIGRATE = "migrate", "Migrate the data"
    TENTACLES = "tentacles", "Upgrade the Tentacles"
    VERIFY = "verify", "Verify"
    FINISH = "finish", "Finish"


# The warning codes of product.md §5.4, in the order the contract lists them.
WARNING_CODES: tuple[str, ...] = (
    "point-of-no-return",
    "wrong-order-strands-tentacles",
    "license-not-imported",
    "package-feed-not-in-backup",
    "service-account-reset",
    "restricted-permissions",
    "multi-instance-host",
    "server-mapping",
    "polling-port",
    "slow-migration",
    "use-latest",
    "offline-tentacles",
    "per-user-install",
    "sql-server-version",
    "handful-threshold",
)


class ActivityAction(Term):
    """What an activity entry records; the label is the verb the log shows after the actor."""

    PLAN_CREATED = "plan-created", "created the plan"
    START = "start", "started"
    COMPLETE = "complete", "completed"
    SKIP = "skip", "skipped"
    REOPEN = "reopen", "reopened"
    FAIL = "fail", "marked as failed"
    APPROACH_CHANGED = "approach-changed", "changed the approach"
    LINK_ROTATED = "link-rotated", "replaced a share link"
    INVENTORY_REPLACED = "inventory-replaced", "updated the inventory"
    VERIFIED = "verified", "verified"
    EVIDENCE_PASTED = "evidence-pasted", "pasted evidence"
    SCHEDULE_SET = "schedule-set", "set the schedule"
    STEP_PLANNED = "step-planned", "planned"
    REHEARSAL_CREATED = "rehearsal-created", "made a rehearsal plan"
    REHEARSAL_APPLIED = "rehearsal-applied", "applied a rehearsal's measured times"
    API_KEYS_ENTERED = "api-keys-entered", "entered API keys"
    FINDING_ACCEPTED = "finding-accepted", "accepted a readiness finding"
    READINESS_SCANNED = "readiness-scanned", "scanned the server for readiness"


class FindingSeverity(Term):
    """How much a readiness finding matters (product.md §5.6): an inhibitor blocks the server
    upgrade it guards until it is cleared or accepted."""

    INHIBITOR = "inhibitor", "Inhibitor"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class FindingState(Term):
    """Where a readiness finding stands (product.md §5.6)."""

    OPEN = "open", "Open"
    CLEARED = "cleared", "Cleared"
    ACCEPTED = "accepted", "Accepted"


class Feature(Term):
    """What an installation may still use that later releases drop (`features_in_use`,
    product.md §5.6)."""

    SSH_TARGETS = "ssh-targets", "SSH targets"
    HELM_V2 = "helm-v2", "Helm v2"
    SCRIPTCS = "scriptcs", "ScriptCS (C# scripts)"
    AZURERM = "azurerm", "AzureRM PowerShell modules"
    BUNDLED_TOOLS = "bundled-tools", "Bundled AWS, Azure and Terraform tools"
    FSHARP_STEPS = "fsharp-steps", "F# script steps"
    AZURE_CLOUD_SERVICES = "azure-cloud-services", "Azure Cloud Services (classic)"
