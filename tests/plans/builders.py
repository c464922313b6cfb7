"""Small explicit helpers for the pure planner tests (no database)."""

from __future__ import annotations

from typing import Any

from upgrade_planner.domain.planner import (
    InstallationInput,
    Plan,
    PlannedStep,
    PlannerSettings,
    TentacleInput,
    make_plan,
)


def tentacle(name: str, **fields: Any) -> TentacleInput:
    fields.setdefault("hostname", f"{name}.corp")
    fields.setdefault("environments", ("Production",))
    fields.setdefault("version", "2.6.5")
    fields.setdefault("os", "Windows Server 2012 R2")
    return TentacleInput(name=name, **fields)


def fleet(count: int, *, prefix: str = "web", **fields: Any) -> tuple[TentacleInput, ...]:
    return tuple(tentacle(f"{prefix}-{index:02d}", **fields) for index in range(1, count + 1))


def installation(**fields: Any) -> InstallationInput:
    fields.setdefault("server_version", "2.6.5")
    fields.setdefault("target_version", "3.17.14")
    fields.setdefault("sql_server_ready", True)
    fields.setdefault("backup_size_mb", 200)
    fields.setdefault("tentacles", fleet(3))
    return InstallationInput(**fields)


def plan(settings: PlannerSettings | None = None, **fields: Any) -> Plan:
    return make_plan(installation(**fields), settings or PlannerSettings())


def kinds(result: Plan, hop: int | None = None) -> list[str]:
    """Step kinds in listed order, consecutive duplicates collapsed (per-Tentacle runs)."""
    found: list[str] = []
    for step in result.steps:
        if hop is not None and step.hop != hop:
            continue
        if not found or found[-1] != step.kind:
            found.append(step.kind)
    return found


def steps_of(result: Plan, kind: str) -> list[PlannedStep]:
    return [step for step in result.steps if step.kind == kind]


def only(result: Plan, kind: str) -> PlannedStep:
    (step,) = steps_of(result, kind)
    return step


def by_key(result: Plan) -> dict[str, PlannedStep]:
    return {step.key: step for step in result.steps}


def codes(result: Plan) -> set[str]:
    return {warning.code for warning in result.warnings}


def warning(result: Plan, code: str) -> Any:
    (found,) = [w for w in result.warnings if w.code == code]
    return found


def ancestors(result: Plan, key: str) -> set[str]:
    """Every step `key` waits for, directly or not."""
    steps = by_key(result)
    seen: set[str] = set()
    stack = list(steps[key].depends_on)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(steps[current].depends_on)
    return seen
