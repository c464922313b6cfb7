"""The upgrade planner: pure rules, frozen dataclasses in and out.

No ORM, no settings, no I/O beyond reading the package's own content files once. Services turn
rows into `InstallationInput`, call `make_plan`, and persist the `Plan` it returns.

Python decides which steps exist, their order and their dependencies; the wording lives in
`content/steps.toml` and the version facts in `content/catalogue.toml`. The rules are split by
concern under `planning/`; this module chooses the approach, assembles the plan and is the one
place callers import from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from upgrade_planner.domain.planning.content import (
    catalogue,
    checked_version,
    fill,
    fragment,
    wording,
)
from upgrade_planner.domain.planning.estimates import with_estimates
from upgrade_planner.domain.planning.fleet import (
    MANUAL_REASONS,
    Machine,
    choose_canary,
    counted,
    group_machines,
)
from upgrade_planner.domain.planning.mapping import build_server_mapping, validate_server_mapping
from upgrade_planner.domain.planning.nodes import (
    NODE_NAME_MAX,
    NODES_MAX,
    node_lines,
    node_problems,
)
from upgrade_planner.domain.planning.paths import Leg, plan_path
from upgrade_planner.domain.planning.sizing import duration_text, size_migration
from upgrade_planner.domain.planning.steps import (
    STEP_KINDS,
    Migration,
    ModernRun,
    StepList,
    build_migration,
    build_modern,
    build_pre_two_six,
    ordered,
    server_address,
)
from upgrade_planner.domain.planning.types import (
    APPROACHES,
    INSTALLATION_FIELDS,
    Alternative,
    Estimate,
    Hop,
    InstallationInput,
    MigrationSizing,
    Plan,
    PlannedStep,
    PlannerSettings,
    PlanningError,
    PlanWarning,
    Severity,
    TentacleInput,
    UpgradeMethod,
)
from upgrade_planner.domain.planning.warnings import (
    migration_warnings,
    path_warnings,
    sorted_warnings,
)
from upgrade_planner.domain.versions import Version, parse_version, quoted
from upgrade_planner.domain.vocabulary import WARNING_CODES, Approach, CommunicationStyle, Phase

__all__ = [
    "APPROACHES",
    "INSTALLATION_FIELDS",
    "NODES_MAX",
    "NODE_NAME_MAX",
    "STEP_KINDS",
    "WARNING_CODES",
    "Alternative",
    "Approach",
    "CommunicationStyle",
    "Estimate",
    "Hop",
    "InstallationInput",
    "MigrationSizing",
    "Phase",
    "Plan",
    "PlanWarning",
    "PlannedStep",
    "PlannerSettings",
    "PlanningError",
    "Severity",
    "TentacleInput",
    "UpgradeMethod",
    "Version",
    "build_server_mapping",
    "duration_text",
    "make_plan",
    "node_lines",
    "node_problems",
    "parse_version",
    "recommend_approach",
    "size_migration",
    "validate_server_mapping",
]

# ---------------------------------------------------------------------------------------------
# Approach


def recommend_approach(
    can_provision_new_server: bool,
    tentacle_count: int,
    settings: PlannerSettings,
    *,
    hydra_possible: bool = True,
) -> Approach:
    """new-server whenever possible; else manual for a handful of Tentacles, or when Hydra can
    upgrade none of them; else in-place (Hydra first, then the server).

    With no Tentacle Hydra can reach (restricted, per-user, offline…), "Hydra first" would
    mean upgrading every Tentacle by hand before the server: the docs' manual upgrade is the
    guide for Tentacles upgraded by hand (server first, then each Tentacle; facts §b.1, §c.5).
    """
    if can_provision_new_server:
        return Approach.NEW_SERVER
    if tentacle_count <= settings.handful_threshold or not hydra_possible:
        return Approach.MANUAL
    return Approach.IN_PLACE


def _approach_reason(approach: Approach, values: Mapping[str, object]) -> str:
    if approach == "manual" and values["tentacle_count"] == 0:
        return _reason("manual_none", values)
    if approach == "manual" and not values["hydra_possible"]:
        return _reason("manual_no_hydra", values)
    return _reason(approach.replace("-", "_"), values)


def _reason(name: str, values: Mapping[str, object]) -> str:
    return fill(wording()["approach"]["reasons"][name], values)


def _why_not(
    alternative: Approach,
    recommended: Approach,
    installation: InstallationInput,
    values: Mapping[str, object],
) -> str:
    why = wording()["approach"]["why_not"]
    count = int(str(values["tentacle_count"]))
    threshold = int(str(values["threshold"]))
    if alternative == recommended:
        return fill(why["recommended"], {"reason": _approach_reason(recommended, values)})
    if alternative == "new-server":
        name = "new_server_can" if installation.can_provision_new_server else "new_server_cannot"
    elif alternative == "in-place":
        if count == 0:
            name = "in_place_none"
        elif not values["hydra_possible"]:
            name = "in_place_no_hydra"
        elif installation.can_provision_new_server:
            name = "in_place_can_provision"
        elif count <= threshold:
            name = "in_place_handful"
        else:
            name = "in_place_lots"
    elif count > threshold and values["hydra_possible"]:
        name = "manual_too_many"
    else:
        name = "manual_can_provision"
    return fill(why[name], values)


# ---------------------------------------------------------------------------------------------
# The plan


def _validate(installation: InstallationInput) -> None:
    if installation.approach is not None and installation.approach not in APPROACHES:
        raise PlanningError(
            "approach",
            f"{quoted(str(installation.approach))} is not one of: new-server, in-place, manual.",
        )
    if not 1 <= installation.polling_port <= 65535:
        raise PlanningError("polling_port", "The polling port must be between 1 and 65535.")
    for name, value, lowest in (
        ("backup_size_mb", installation.backup_size_mb, 0),
        ("document_count", installation.document_count, 0),
        ("history_days_to_keep", installation.history_days_to_keep, 1),
    ):
        if value is not None and value < lowest:
            raise PlanningError(name, f"This must be {lowest} or more.")
    seen: set[str] = set()
    for index, tentacle in enumerate(installation.tentacles):
        if not tentacle.name.strip():
            raise PlanningError(f"tentacles[{index}].name", "Every Tentacle needs a name.")
        if tentacle.name in seen:
            raise PlanningError(
                f"tentacles[{index}].name",
                f"{quoted(tentacle.name)} appears more than once; Tentacle names must be unique.",
            )
        seen.add(tentacle.name)
    for index, message in node_problems(installation.ha_nodes):
        raise PlanningError(f"ha_nodes[{index}]", message)


def _migration(
    leg: Leg,
    index: int,
    installation: InstallationInput,
    machines: tuple[Machine, ...],
    settings: PlannerSettings,
) -> Migration:
    hydra_candidates = [x for x in machines if not x.manual_reasons]
    recommended = recommend_approach(
        installation.can_provision_new_server,
        len(installation.tentacles),
        settings,
        hydra_possible=bool(hydra_candidates),
    )
    approach = installation.approach or recommended
    return Migration(
        leg=leg,
        index=index,
        installation=installation,
        approach=approach,
        recommended=recommended,
        machines=machines,
        canary=choose_canary(hydra_candidates) if approach != "manual" else (),
        sizing=size_migration(
            installation.backup_size_mb,
            installation.document_count,
            installation.history_days_to_keep,
        ),
        address=server_address(installation, approach),
    )


def _reasons(m: Migration, values: Mapping[str, object]) -> list[str]:
    """Why this approach, in terms of this installation and fleet."""
    reasons: list[str] = []
    recommended_reason = _approach_reason(m.recommended, values)
    if m.approach != m.recommended:
        reasons.append(_reason("override", values))
        reasons.append(
            _reason("override_why", {**values, "recommended_reason": recommended_reason})
        )
    else:
        reasons.append(recommended_reason)
    if not m.machines:
        reasons.append(_reason("no_tentacles", values))
    elif m.approach == "manual":
        reasons.append(_reason("manual_fleet", values))
    else:
        if m.hydra_machines:
            canary_machines = counted(len(m.canary), "machine")
            reasons.append(_reason("hydra_fleet", {**values, "canary_machines": canary_machines}))
        if m.manual_machines:
            found = {code for x in m.manual_machines for code in x.manual_reasons}
            why = "; ".join(fragment(f"short_{code}") for code in MANUAL_REASONS if code in found)
            manual_tentacles = sum(len(x.tentacles) for x in m.manual_machines)
            reasons.append(
                _reason(
                    "manual_track",
                    {
                        "manual_tentacles": counted(manual_tentacles, "Tentacle"),
                        "manual_machines": counted(len(m.manual_machines), "machine"),
                        "why": why,
                    },
                )
            )
        polling = sum(
            1
            for x in m.hydra_machines
            for t in x.tentacles
            if t.communication_style == CommunicationStyle.POLLING
        )
        if polling:
            reasons.append(_reason("polling", {**values, "polling_count": polling}))
    return reasons


def _assumptions(
    m: Migration, values: Mapping[str, object], first_no_return: str | None
) -> list[str]:
    text = wording()["assumptions"]
    tentacles = m.installation.tentacles
    found = [fill(text["handful"], values)]
    if m.canary:
        found.append(fill(text["canary"], values))
    if m.approach == "manual" and m.machines:
        found.append(text["manual_no_canary"])
    if first_no_return is not None:
        found.append(text["hydra_point_of_no_return"])
    if m.hydra and any(not t.online for t in tentacles):
        found.append(text["offline"])
    unknown = sum(1 for t in tentacles if not t.version.strip())
    if unknown:
        found.append(fill(text["unknown_versions"], {"count": unknown}))
    if any(x.polling for x in m.machines):
        name = "polling_port" if m.approach == "new-server" else "polling_port_in_place"
        found.append(fill(text[name], values))
    if m.installation.sql_server_ready:
        found.append(text["sql_choice"])
    found.append(text["duration"])
    return found


_MODERN_KINDS = frozenset({"modern", "detour"})


def _modern_run(legs: Sequence[Leg], start: int) -> tuple[Leg, ...]:
    """The consecutive modern hops from `start` on: one maintenance window."""
    end = start
    while end < len(legs) and legs[end].kind in _MODERN_KINDS:
        end += 1
    return tuple(legs[start:end])


def make_plan(
    installation: InstallationInput,
    # PlannerSettings is frozen, so one shared default instance is safe.
    settings: PlannerSettings = PlannerSettings(),  # noqa: B008
) -> Plan:
    """Plan the upgrade of `installation`. Raises PlanningError for input it cannot plan."""
    current = checked_version(installation.server_version, "server_version")
    target = checked_version(installation.target_version, "target_version")
    if target <= current:
        raise PlanningError(
            "target_version", f"Target {target} is not newer than the current version {current}"
        )
    _validate(installation)

    legs = plan_path(current, target)
    machines = tuple(group_machines(installation.tentacles))
    steps = StepList()
    migration: Migration | None = None
    first_no_return: str | None = None
    run: ModernRun | None = None
    for index, leg in enumerate(legs):
        if leg.kind == "2.6-migration":
            migration = _migration(leg, index, installation, machines, settings)
            steps.begin_hop(index, legacy=leg.end.major >= 2018)
            first_no_return = build_migration(steps, migration)
        elif leg.kind in ("pre-1.6", "1.6-to-2.6", "2.x-to-2.6"):
            steps.begin_hop(index)
            build_pre_two_six(steps, leg, len(installation.tentacles))
        else:
            if run is None or legs[index - 1].kind not in _MODERN_KINDS:
                run = ModernRun(_modern_run(legs, index), installation.ha_nodes)
                run_start = index
            steps.begin_hop(index)
            build_modern(steps, run, index - run_start, installation.tentacles)

    common: dict[str, object] = {
        "current": str(current),
        "target": str(target),
        "tentacle_count": len(installation.tentacles),
        "tentacles": counted(len(installation.tentacles), "Tentacle"),
        "threshold": settings.handful_threshold,
        "polling_port": installation.polling_port,
    }
    reasons: list[str] = []
    alternatives: list[Alternative] = []
    assumptions: list[str] = []
    warnings: list[PlanWarning] = []
    if migration is not None:
        m = migration
        values = {
            **common,
            **m.values,
            "approach": m.approach,
            "recommended": m.recommended,
            "hydra_possible": m.hydra_possible,
        }
        reasons = _reasons(m, values)
        alternatives = [
            Alternative(other, _why_not(other, m.recommended, installation, values))
            for other in APPROACHES
            if other != m.approach
        ]
        assumptions = _assumptions(m, values, first_no_return)
        warnings = migration_warnings(m, values, first_no_return)
    else:
        reasons.append(_reason("not_migration", common))
        if installation.approach is not None:
            reasons.append(
                _reason("override_ignored", {**common, "approach": installation.approach})
            )
    text = wording()["assumptions"]
    if any(leg.end_label == catalogue().stops["lts_2018_10"].label for leg in legs):
        assumptions.append(text["lts_patch"])
    assumptions.append(text["latest_build"])
    warnings += path_warnings(legs, migration, settings)
    planned, estimates = with_estimates(
        ordered(steps.steps),
        sizing=migration.sizing if migration else None,
        backup_size_mb=installation.backup_size_mb,
        document_count=installation.document_count,
        tentacle_count=len(installation.tentacles),
    )

    return Plan(
        path=tuple(leg.hop() for leg in legs),
        approach=migration.approach if migration else None,
        recommended_approach=migration.recommended if migration else None,
        approach_overridden=migration is not None and migration.approach != migration.recommended,
        reasons=tuple(reasons),
        alternatives=tuple(alternatives),
        assumptions=tuple(assumptions),
        warnings=sorted_warnings(warnings),
        steps=planned,
        migration=migration.sizing if migration else None,
        content_version=catalogue().content_version,
        canary=tuple(name for x in (migration.canary if migration else ()) for name in x.names),
        estimates=estimates,
    )
