"""The warnings of product.md §5.4, each only when it applies to the input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from upgrade_planner.domain.catalogue import Newer, release_catalogue
from upgrade_planner.domain.planning.content import catalogue, fill, sql_requirement, wording
from upgrade_planner.domain.planning.fleet import (
    custom_account,
    is_already_new,
    is_non_windows,
    is_per_user_install,
    is_too_old_for_2_6,
    name_list,
)
from upgrade_planner.domain.planning.paths import Leg
from upgrade_planner.domain.planning.sizing import is_large, ram_short, size_text
from upgrade_planner.domain.planning.steps import Migration
from upgrade_planner.domain.planning.types import (
    PlannerSettings,
    PlanWarning,
    Severity,
    TentacleInput,
)
from upgrade_planner.domain.vocabulary import WARNING_CODES, CommunicationStyle

_SEVERITY_RANK: dict[Severity, int] = {"critical": 0, "high": 1, "medium": 2, "info": 3}


def _warning(code: str, severity: Severity, values: Mapping[str, object]) -> PlanWarning:
    template = wording()["warnings"][code]
    return PlanWarning(
        code=code,
        severity=severity,
        text=fill(template["text"], values),
        action=fill(template["action"], values),
        source=fill(template["source"], values),
    )


def _part(name: str, values: Mapping[str, object] | None = None) -> str:
    return fill(wording()["warning_parts"][name], values or {})


def migration_warnings(
    m: Migration, values: Mapping[str, object], first_no_return: str | None
) -> list[PlanWarning]:
    inst, approach = m.installation, m.approach
    found: list[PlanWarning] = []
    tentacles = [t for x in m.machines for t in x.tentacles]
    by_name = {t.name: x for x in m.machines for t in x.tentacles}
    count = len(tentacles)

    if first_no_return is not None:
        no_return = sum(len(x.tentacles) for x in m.machines)
        found.append(
            _warning(
                "point-of-no-return",
                "critical",
                {"first_step": first_no_return, "count": no_return},
            )
        )
    if approach == "in-place" and count:
        found.append(_warning("wrong-order-strands-tentacles", "critical", {"count": count}))
    found.append(_warning("license-not-imported", "high", values))
    if inst.uses_builtin_feed:
        found.append(_warning("package-feed-not-in-backup", "high", values))

    def reset_by(t: TentacleInput) -> str | None:
        if m.method(by_name[t.name]) == "hydra":
            return "reset_hydra"
        return "reset_reinstall" if m.reinstall_bug else None

    reset = [t for t in tentacles if custom_account(t) and reset_by(t)]
    if reset:
        causes = dict.fromkeys(_part(cause) for t in reset if (cause := reset_by(t)))
        found.append(
            _warning(
                "service-account-reset",
                "high",
                {
                    **values,
                    "count": len(reset),
                    "names": name_list([t.name for t in reset]),
                    "cause": " ".join(causes),
                },
            )
        )

    restricted = [t.name for t in tentacles if t.restricted_permissions]
    if restricted:
        if m.hydra:
            risk = _part("restricted_risk_hydra")
            action = _part(
                "restricted_action_in_place"
                if approach == "in-place"
                else "restricted_action_new_server"
            )
        else:
            risk, action = _part("restricted_risk_manual"), _part("restricted_action_manual")
        found.append(
            _warning(
                "restricted-permissions",
                "high",
                {
                    "count": len(restricted),
                    "names": name_list(restricted),
                    "risk": risk,
                    "action": action,
                },
            )
        )

    multi = [x.display for x in m.machines if x.multi]
    if multi:
        found.append(
            _warning(
                "multi-instance-host", "medium", {"count": len(multi), "names": name_list(multi)}
            )
        )

    polling = [t.name for t in tentacles if t.communication_style == CommunicationStyle.POLLING]
    hydra_polling = [
        t.name
        for t in tentacles
        if t.communication_style == CommunicationStyle.POLLING
        and m.method(by_name[t.name]) == "hydra"
    ]
    if hydra_polling:
        risk = _part(
            "mapping_risk_new_server" if approach == "new-server" else "mapping_risk_in_place"
        )
        found.append(
            _warning(
                "server-mapping",
                "critical",
                {
                    "count": len(hydra_polling),
                    "names": name_list(hydra_polling),
                    "risk": risk,
                    "mapping": m.mapping,
                },
            )
        )
    if polling:
        found.append(
            _warning(
                "polling-port",
                "medium",
                {
                    "count": len(polling),
                    "port_text": _part(
                        "port_new_server" if approach == "new-server" else "port_in_place",
                        {"polling_port": m.address.port},
                    ),
                },
            )
        )

    if is_large(m.sizing):
        actions = []
        if m.sizing.prune_first:
            actions.append(_part("slow_prune"))
        first_pass = [f for f in m.sizing.migrator_flags if f != "--onlylogs"]
        actions.append(_part("slow_flags", {"flags": " ".join(first_pass) + " then --onlylogs"}))
        if inst.backup_size_mb is not None:
            actions.append(_part("slow_ram", {"ram_short": ram_short(inst.backup_size_mb)}))
        action = "; ".join(actions)
        found.append(
            _warning(
                "slow-migration",
                "high" if m.sizing.prune_first else "medium",
                {
                    "size_text": size_text(inst.backup_size_mb, inst.document_count),
                    "action": action[0].upper() + action[1:] + ".",
                },
            )
        )

    # Who the 2.6 server cannot reach (facts §k.6): offline, 1.x, already 3.x, or not Windows.
    groups = {
        "offline": [t.name for t in tentacles if not t.online],
        "too_old": [t.name for t in tentacles if is_too_old_for_2_6(t)],
        "already_new": [t.name for t in tentacles if is_already_new(t)],
        "non_windows": [t.name for t in tentacles if is_non_windows(t)],
    }
    offline = list(dict.fromkeys(name for names in groups.values() for name in names))
    if offline:
        only_offline = offline == groups["offline"]
        if m.hydra:
            where = "in_place" if approach == "in-place" else "new_server"
            if only_offline:
                risk, action = _part("offline_risk_hydra"), _part(f"offline_action_{where}")
            else:
                risk, action = _part("unreachable_risk_hydra"), _part(f"unreachable_action_{where}")
        elif only_offline:
            risk, action = _part("offline_risk_manual"), _part("offline_action_manual")
        else:
            risk, action = _part("offline_risk_manual"), _part("unreachable_action_manual")
        found.append(
            _warning(
                "offline-tentacles",
                "high",
                {
                    "count": len(offline),
                    "groups": " ".join(
                        _part(f"unreachable_{group}", {"names": name_list(names)})
                        for group, names in groups.items()
                        if names
                    ),
                    "risk": risk,
                    "action": action,
                },
            )
        )

    per_user = [t.name for t in tentacles if is_per_user_install(t)]
    if per_user:
        found.append(
            _warning(
                "per-user-install", "high", {"count": len(per_user), "names": name_list(per_user)}
            )
        )
    return found


def path_warnings(
    legs: Sequence[Leg],
    migration: Migration | None,
    settings: PlannerSettings,
) -> list[PlanWarning]:
    found: list[PlanWarning] = []
    last_3x = catalogue().stops["last_3x"]
    target_leg = legs[-1]

    # use-latest: always when leaving 2.6; otherwise for old targets or a target to avoid.
    texts: list[str] = []
    actions: list[str] = []
    source = _part("use_latest_source_modern")
    if migration is not None:
        texts.append(_part("use_latest_2_6"))
        actions.append(_part("use_latest_2_6_action", {"target": migration.leg.end_label}))
        source = _part("use_latest_source_2_6")
        # Only the user's own target: a detour stop below 3.17.14 is not their choice.
        if migration.leg is target_leg and migration.leg.end < last_3x.version:
            old_values = {"target": migration.leg.end_label, "last_3x": last_3x.label}
            texts.append(_part("use_latest_old_target", old_values))
            actions.append(_part("use_latest_old_target_action", old_values))
    elif target_leg.end.major == last_3x.version.major and target_leg.end < last_3x.version:
        old_values = {"target": target_leg.end_label, "last_3x": last_3x.label}
        texts.append(_part("use_latest_modern", old_values))
        actions.append(_part("use_latest_modern_action", old_values))
    if target_leg.avoid is not None:
        rule = target_leg.avoid
        texts.append(
            _part(
                "avoid_target",
                {"reason": fill(rule.reason, {"target": target_leg.end_label}), "advice": ""},
            )
        )
        actions.append(" " + rule.advice)
        if not migration:
            source = rule.source
    # A target the catalogue does not know: the plan's knowledge ends at its content version.
    verdict = release_catalogue().check_target(target_leg.end)
    newer = isinstance(verdict, Newer)
    if isinstance(verdict, Newer):
        texts.append(" " + verdict.text(target_leg.end_label))
        actions.append(" " + verdict.action(target_leg.end_label))
        if not migration and target_leg.avoid is None:
            source = release_catalogue().newer_source
    if texts:
        severity: Severity = (
            "medium" if migration is not None or target_leg.avoid or newer else "info"
        )
        found.append(
            _warning(
                "use-latest",
                severity,
                {
                    "text": "".join(texts).strip(),
                    "action": "".join(actions).strip(),
                    "source": source,
                },
            )
        )

    # sql-server-version: SQL not ready for the migration, or a hop raising the SQL minimum.
    sql_texts: list[str] = []
    sql_actions: list[str] = []
    sql_source = ""
    if migration is not None and not migration.installation.sql_server_ready:
        requirement = sql_requirement(migration.leg.end)
        if requirement is not None:
            sql_texts.append(
                _part(
                    "sql_not_ready",
                    {"target": migration.leg.end_label, "sql_supported": requirement.supported},
                )
            )
            sql_actions.append(_part("sql_not_ready_action"))
            sql_source = requirement.source
    for leg in legs:
        if leg.kind == "2.6-migration" or leg.start.major < 3:
            continue
        before, after = sql_requirement(leg.start), sql_requirement(leg.end)
        if after is not None and (before is None or before.minimum != after.minimum):
            sql_texts.append(
                _part(
                    "sql_newer",
                    {
                        "target": leg.end_label,
                        "minimum": after.minimum,
                        "sql_supported": after.supported,
                    },
                )
            )
            sql_actions.append(_part("sql_newer_action"))
            sql_source = sql_source or after.source
    if sql_texts:
        found.append(
            _warning(
                "sql-server-version",
                "medium",
                {
                    "text": " ".join(sql_texts),
                    "action": " ".join(dict.fromkeys(sql_actions)),
                    "source": sql_source,
                },
            )
        )

    # handful-threshold: only when the Tentacle count was actually compared with it.
    if migration is not None:
        inst = migration.installation
        count = migration.tentacle_count
        overridden_manual = migration.approach == "manual" and count > settings.handful_threshold
        if not inst.can_provision_new_server or overridden_manual:
            if overridden_manual and inst.approach == "manual":
                outcome = _part("handful_override")
            elif count <= settings.handful_threshold:
                outcome = _part("handful_within")
            elif not migration.hydra_possible:
                outcome = _part("handful_no_hydra")
            else:
                outcome = _part("handful_above")
            text = _part(
                "handful_compared",
                {
                    "tentacle_count": count,
                    "threshold": settings.handful_threshold,
                    "outcome": outcome,
                },
            )
            found.append(_warning("handful-threshold", "info", {"text": text}))
    return found


def sorted_warnings(warnings: Sequence[PlanWarning]) -> tuple[PlanWarning, ...]:
    """Most severe first; within a severity, in the order of the fixed vocabulary."""
    order = {code: i for i, code in enumerate(WARNING_CODES)}
    return tuple(sorted(warnings, key=lambda w: (_SEVERITY_RANK[w.severity], order[w.code])))
