"""The planner's public data: frozen dataclasses in and out, and the fixed vocabularies.

Re-exported by `upgrade_planner.domain.planner`, which is where callers import them from.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, fields
from typing import Literal

from upgrade_planner.domain.vocabulary import Approach, CommunicationStyle, Phase

Severity = Literal["critical", "high", "medium", "info"]
UpgradeMethod = Literal["hydra", "manual"]

APPROACHES: tuple[Approach, ...] = tuple(Approach)


class PlanningError(Exception):
    """Input the planner cannot plan for. `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TentacleInput:
    name: str
    hostname: str = ""
    port: int | None = None
    version: str = ""  # already validated by the inventory parser, or ""
    communication_style: CommunicationStyle = CommunicationStyle.LISTENING
    environments: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    os: str = ""
    service_account: str = ""  # "" means the default Local System account
    restricted_permissions: bool = False
    online: bool = True


@dataclass(frozen=True)
class InstallationInput:
    server_version: str
    target_version: str
    can_provision_new_server: bool = True
    sql_server_ready: bool = False
    uses_builtin_feed: bool = False
    backup_size_mb: int | None = None
    document_count: int | None = None
    history_days_to_keep: int | None = None
    polling_port: int = 10943
    old_server_url: str = ""
    new_server_url: str = ""
    approach: Approach | None = None  # a user's override of the recommendation
    tentacles: tuple[TentacleInput, ...] = ()
    # The names of the server's high-availability nodes; () or one name is a single server.
    ha_nodes: tuple[str, ...] = ()
    # What the readiness report checks (product.md §5.6); "" / None / () when not given.
    server_os: str = ""
    dotnet_version: str = ""
    sql_server_version: str = ""
    license_maintenance_expires: datetime.date | None = None
    features_in_use: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Saved rows and JSON give a list; the input stays immutable all the same.
        for name in ("ha_nodes", "features_in_use"):
            if not isinstance(getattr(self, name), tuple):
                object.__setattr__(self, name, tuple(getattr(self, name)))


# What is said of the installation itself, saved with it under the same names: everything in
# InstallationInput but the approach (a choice, saved on the plan) and the Tentacles.
INSTALLATION_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(InstallationInput) if f.name not in {"approach", "tentacles"}
)


@dataclass(frozen=True)
class PlannerSettings:
    # The docs speak of "a handful" of Tentacles without a number; this is our assumption.
    handful_threshold: int = 10


@dataclass(frozen=True)
class Hop:
    from_version: str
    to_version: str
    kind: str  # e.g. "pre-1.6", "1.6-to-2.6", "2.x-to-2.6", "2.6-migration", "detour", "modern"
    reason: str
    source: str


@dataclass(frozen=True)
class Alternative:
    approach: Approach
    why_not: str


@dataclass(frozen=True)
class PlanWarning:
    code: str  # one of the fixed warning codes (product.md §5.4)
    severity: Severity
    text: str  # what the risk is
    action: str  # what to do about it
    source: str


@dataclass(frozen=True)
class MigrationSizing:
    # Every migrator flag the plan uses, in the order used; `--onlylogs` belongs to a second run.
    migrator_flags: tuple[str, ...]
    command: str  # one command per line (two when the logs are imported in a second run)
    ram_advice: str
    prune_first: bool
    duration_low_hours: float
    duration_high_hours: float
    notes: tuple[str, ...]


@dataclass(frozen=True)
class PlannedStep:
    key: str  # unique within the plan, stable across re-plans of the same input identity
    kind: str
    title: str
    detail: str  # Markdown-ish plain text; commands in ``` fences
    phase: Phase
    hop: int  # index into Plan.path
    source: str
    depends_on: tuple[str, ...] = ()  # keys of earlier steps
    optional: bool = False
    tentacle: str | None = None  # first Tentacle name for per-Tentacle steps
    tentacles: tuple[str, ...] = ()  # every Tentacle instance the step covers
    canary: bool = False
    method: UpgradeMethod | None = None  # for upgrade-tentacle
    point_of_no_return: bool = False
    # Depends directly on every per-Tentacle step of its hop that comes before it.
    fleet_gate: bool = False
    # How long the step takes, and the key of the estimate that says so (Plan.estimates).
    estimate_minutes: int = 0
    estimate_basis: str = ""


@dataclass(frozen=True)
class Estimate:
    """One estimate of the plan (content/estimates.toml), shared by every step it covers."""

    basis: str  # "<kind>", "<kind>/<method>" or "default"
    minutes: int
    assumption: str  # what the number assumes, saying when it is our assumption
    source: str  # the doc page the number comes from; "" when it is our assumption
    attended: bool = True  # False: runs by itself once started (no person per step)


@dataclass(frozen=True)
class Plan:
    path: tuple[Hop, ...]
    approach: Approach | None  # None when the path has no 2.6 → 3.x hop
    recommended_approach: Approach | None
    approach_overridden: bool
    reasons: tuple[str, ...]
    alternatives: tuple[Alternative, ...]
    assumptions: tuple[str, ...]
    warnings: tuple[PlanWarning, ...]
    steps: tuple[PlannedStep, ...]  # in an order that respects every dependency
    migration: MigrationSizing | None
    content_version: str
    canary: tuple[str, ...] = field(default=())  # Tentacle names in the canary cohort
    estimates: tuple[Estimate, ...] = field(default=())  # every estimate a step refers to
