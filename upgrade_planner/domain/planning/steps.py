"""Which steps each hop has, their dependencies and their order.

The wording comes from content/steps.toml; this module only decides structure.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from upgrade_planner.domain.planning.content import (
    catalogue,
    fill,
    fragment,
    sql_requirement,
    tidy,
    wording,
)
from upgrade_planner.domain.planning.fleet import (
    Machine,
    counted,
    custom_account,
    name_list,
    sort_key,
)
from upgrade_planner.domain.planning.mapping import build_server_mapping
from upgrade_planner.domain.planning.paths import Leg
from upgrade_planner.domain.planning.sizing import is_large, size_text
from upgrade_planner.domain.planning.types import (
    InstallationInput,
    MigrationSizing,
    PlannedStep,
    PlanningError,
    TentacleInput,
    UpgradeMethod,
)
from upgrade_planner.domain.versions import Version, parse_version, try_version
from upgrade_planner.domain.vocabulary import Approach, CommunicationStyle, Phase

STEP_KINDS: dict[str, str] = {
    # The 2.6 → 3.x / 2018.10 LTS migration (product.md §5.3).
    "backup-license-key": "Copy the license key, which the 2.6 migration does not carry across.",
    "backup-database": "Back up the server's data before anything changes (every hop has one).",
    "backup-master-key": "Store the master key that encrypts the database and its backups.",
    "prune-history": "Shrink large 2.6 history with retention policies before the migrated backup.",
    "prepare-sql-server": "Provide (or confirm) the SQL Server database the new version needs.",
    "install-server-new-machine": "Install the target version on a new machine beside 2.6.",
    "install-server-in-place": "Install the target version over the 2.6 server.",
    "migrate-data": "Import the 2.6 backup into the new version with the migrator.",
    "move-package-feed": "Copy the built-in feed's packages, which are not in the backup.",
    "hydra-prepare": "Set up the Hydra package, step template and project on the 2.6 server.",
    "upgrade-tentacle": "Upgrade the Tentacle on one machine, by Hydra or by hand (per machine).",
    "verify-canary": "Check the canary machines upgraded correctly before the rest follow.",
    "verify-old-server-cut-off": "Check the 2.6 server can no longer reach any upgraded Tentacle.",
    "verify-new-server-health": "Health-check every Tentacle from the new server.",
    "reinstall-tentacle-service": "3.0.1 only: point the Tentacle service at the new binaries.",
    "reconfigure-service-account": "Re-apply a Tentacle's custom service account (per Tentacle).",
    "repoint-polling-tentacle": (
        "Point a polling Tentacle upgraded by hand at the server's new address (per machine)."
    ),
    "decommission-old-server": "Retire the 2.6 server once every Tentacle is verified.",
    "cleanup-home-folder": "Optionally delete the files kept for a rollback to 2.6.",
    # Hops before 2.6.
    "install-server-1.6": "Bring a 1.x server below 1.6 to 1.6 (1.6.3.1723).",
    "check-duplicate-names": "Rename duplicate project, environment and machine names on 1.6.",
    "install-server-2.x": "Install 2.x side by side with 1.6.",
    "import-1.6-data": "Import the 1.6 backup into 2.x.",
    "upgrade-tentacles-1.6": "Replace the 1.6 Tentacles with 2.x Tentacles.",
    "recreate-permissions": "Recreate permissions with Teams; 1.6 permissions are not imported.",
    "retire-1.6-server": "Shut down the 1.6 server so it stops contacting the new Tentacles.",
    "upgrade-server-2.6": "Upgrade a 2.x server to 2.6.5 with the installer.",
    "upgrade-tentacles-2.6": "Push the 2.6 Tentacle to every machine with Upgrade machines.",
    "verify-server-upgrade": "Check the upgraded server runs the new version and works.",
    # Modern upgrades.
    "rehearse-on-test-instance": "Try the upgrade on a clone or test instance before production.",
    "maintenance-mode-on": "Stop new deployments being queued; on for the whole window of hops.",
    "backup-server-folders": "Copy the server's folders and config file (required if major).",
    "stop-server-node": "High availability: stop one node; every node stops before the backup.",
    "upgrade-server-modern": "Upgrade a modern server (or one of its nodes) with the installer.",
    "start-server-node": "High availability: start one node once every node is upgraded.",
    "maintenance-mode-off": "Let deployments be queued again, after the last hop of the window.",
    "upgrade-tentacles-modern": "Optionally upgrade the Tentacles, once, against the final server.",
}

_PHASE_NAMES: dict[str, str] = {
    "backup-license-key": "prepare",
    "backup-database": "prepare",
    "backup-master-key": "prepare",
    "prune-history": "prepare",
    "prepare-sql-server": "prepare",
    "install-server-new-machine": "install",
    "install-server-in-place": "install",
    "migrate-data": "migrate",
    "move-package-feed": "migrate",
    "hydra-prepare": "tentacles",
    "upgrade-tentacle": "tentacles",
    # The canary check and the cut-off check close the Tentacle rollout they gate.
    "verify-canary": "tentacles",
    "verify-old-server-cut-off": "tentacles",
    "verify-new-server-health": "verify",
    "reinstall-tentacle-service": "tentacles",
    # Once every Tentacle answers the new server (it waits for the health check).
    "reconfigure-service-account": "finish",
    "repoint-polling-tentacle": "tentacles",
    "decommission-old-server": "finish",
    "cleanup-home-folder": "finish",
    "install-server-1.6": "install",
    "check-duplicate-names": "prepare",
    "install-server-2.x": "install",
    "import-1.6-data": "migrate",
    "upgrade-tentacles-1.6": "tentacles",
    # Part of bringing the 1.6 data across (permissions are not imported).
    "recreate-permissions": "migrate",
    "retire-1.6-server": "finish",
    "upgrade-server-2.6": "install",
    "upgrade-tentacles-2.6": "tentacles",
    "verify-server-upgrade": "verify",
    "rehearse-on-test-instance": "prepare",
    "maintenance-mode-on": "prepare",
    "backup-server-folders": "prepare",
    "stop-server-node": "prepare",
    "upgrade-server-modern": "install",
    "start-server-node": "install",
    "maintenance-mode-off": "finish",
    "upgrade-tentacles-modern": "tentacles",
}
_PHASES: dict[str, Phase] = {kind: Phase(name) for kind, name in _PHASE_NAMES.items()}
# Phases are declared in the order a plan goes through them.
_PHASE_RANK: dict[Phase, int] = {phase: rank for rank, phase in enumerate(Phase)}


class StepList:
    """Accumulates steps; every hop's first steps wait for the previous hop's exit step."""

    def __init__(self) -> None:
        self.steps: list[PlannedStep] = []
        self.keys: set[str] = set()
        self.hop = 0
        self.entry: tuple[str, ...] = ()
        self.legacy = False

    def begin_hop(self, index: int, *, legacy: bool = False) -> None:
        """Start hop `index`: its first steps wait for every required step of the hop before
        (consecutive hops run as one window; a hop never starts half-finished)."""
        self.entry = self.exits()
        self.hop, self.legacy = index, legacy

    def exits(self) -> tuple[str, ...]:
        """The required steps of the current hop that no other required step of it waits for:
        once they are done, every required step of the hop is."""
        required = [s for s in self.steps if s.hop == self.hop and not s.optional]
        waited_for = {dep for s in required for dep in s.depends_on}
        return tuple(s.key for s in required if s.key not in waited_for)

    def add(
        self,
        kind: str,
        variant: str,
        values: Mapping[str, object],
        *,
        depends_on: Iterable[str | None] = (),
        identity: str | None = None,
        optional: bool = False,
        tentacles: tuple[str, ...] = (),
        canary: bool = False,
        method: UpgradeMethod | None = None,
        point_of_no_return: bool = False,
        fleet_gate: bool = False,
        phase: Phase | None = None,
    ) -> str:
        key = f"{self.hop}:{kind}" if identity is None else f"{self.hop}:{kind}:{identity}"
        if key in self.keys:
            raise RuntimeError(f"duplicate step key {key}")
        template = wording()["steps"][f"{kind}/{variant}"]
        legacy = self.legacy
        detail = template.get("legacy_detail") if legacy else None
        source = template.get("legacy_source") if legacy else None
        deps = tuple(dict.fromkeys(d for d in depends_on if d is not None))
        if not deps:
            deps = self.entry
        missing = [d for d in deps if d not in self.keys]
        if missing:
            raise RuntimeError(f"{key} depends on unknown steps {missing}")
        self.steps.append(
            PlannedStep(
                key=key,
                kind=kind,
                title=fill(template["title"], values),
                detail=tidy(fill(detail or template["detail"], values)),
                phase=phase or _PHASES[kind],
                hop=self.hop,
                source=source or template["source"],
                depends_on=deps,
                optional=optional,
                tentacle=tentacles[0] if tentacles else None,
                tentacles=tentacles,
                canary=canary,
                method=method,
                point_of_no_return=point_of_no_return,
                fleet_gate=fleet_gate,
            )
        )
        self.keys.add(key)
        return key


def ordered(steps: Sequence[PlannedStep]) -> tuple[PlannedStep, ...]:
    """Topological order; among ready steps: hop, then phase, then the order they were made."""
    index = {step.key: i for i, step in enumerate(steps)}
    waiting = [len(step.depends_on) for step in steps]
    dependents: list[list[int]] = [[] for _ in steps]
    for i, step in enumerate(steps):
        for dep in step.depends_on:
            dependents[index[dep]].append(i)

    def priority(i: int) -> tuple[int, int, int]:
        return (steps[i].hop, _PHASE_RANK[steps[i].phase], i)

    ready = [priority(i) for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    ordered: list[PlannedStep] = []
    while ready:
        i = heapq.heappop(ready)[2]
        ordered.append(steps[i])
        for j in dependents[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, priority(j))
    if len(ordered) != len(steps):
        raise RuntimeError("the step dependencies contain a cycle")
    return tuple(ordered)


def _host_of(url: str) -> str | None:
    try:
        host = urlsplit(url.strip()).hostname if url.strip() else None
    except ValueError:
        return None
    if not host:
        return None
    return f"[{host}]" if ":" in host else host


# Placeholders for what the plan does not know; each step that shows one says what to put there.
NEW_SERVER_PLACEHOLDER = "<new-server>"
SERVER_PLACEHOLDER = "<octopus-server>"
PORT_PLACEHOLDER = "<polling-port>"


@dataclass(frozen=True)
class ServerAddress:
    """Where polling Tentacles must poll once the hop is done."""

    web: str  # the server's web address (for Tentacle.exe poll-server --server)
    mapping: str  # the Hydra Server Mapping: https://host:port
    port: str  # the polling port, or PORT_PLACEHOLDER
    placeholder: bool  # the mapping holds a placeholder to replace
    changes: bool  # polling Tentacles poll another address afterwards than before


def server_address(installation: InstallationInput, approach: Approach) -> ServerAddress:
    """The address polling Tentacles poll after the 2.6 hop.

    New server: its URL (or a placeholder) and the polling port given for it; the address
    always changes. In place (in-place or manual) there is no new server, so no new server's
    port is asked for: the polling port is the one the Tentacles poll today, which the plan
    leaves for the team to read from a Tentacle; the address changes only when both URLs are
    given and name different hosts.
    """
    old_host = _usable_host(installation.old_server_url)
    new_host = _usable_host(installation.new_server_url)
    if approach == "new-server":
        port = str(installation.polling_port)
        if new_host is None:
            host = NEW_SERVER_PLACEHOLDER
            return ServerAddress(f"https://{host}", f"https://{host}:{port}", port, True, True)
        mapping = build_server_mapping([("", f"https://{new_host}:{port}")])
        return ServerAddress(installation.new_server_url.strip(), mapping, port, False, True)
    changes = old_host is not None and new_host is not None and old_host != new_host
    if new_host is not None and (changes or old_host is None):
        host, web = new_host, installation.new_server_url.strip()
    elif old_host is not None:
        host, web = old_host, installation.old_server_url.strip()
    else:
        host = SERVER_PLACEHOLDER
        web = f"https://{host}"
    port = PORT_PLACEHOLDER
    return ServerAddress(web, f"https://{host}:{port}", port, True, changes)


def _usable_host(url: str) -> str | None:
    """The host of `url` if a Server Mapping can be built with it, else None."""
    host = _host_of(url)
    if host is None:
        return None
    try:
        build_server_mapping([("", f"https://{host}:10943")])
    except PlanningError:
        return None
    return host


@dataclass(frozen=True)
class Migration:
    """Everything the 2.6 migration hop's steps and warnings are built from."""

    leg: Leg
    index: int
    installation: InstallationInput
    approach: Approach
    recommended: Approach
    machines: tuple[Machine, ...]
    canary: tuple[Machine, ...]
    sizing: MigrationSizing
    address: ServerAddress

    @property
    def mapping(self) -> str:
        return self.address.mapping

    @property
    def mapping_placeholder(self) -> bool:
        return self.address.placeholder

    @property
    def hydra(self) -> bool:
        return self.approach != "manual"

    def method(self, machine: Machine) -> UpgradeMethod:
        return "hydra" if self.hydra and not machine.manual_reasons else "manual"

    @functools.cached_property
    def reinstall_bug(self) -> bool:
        bug = parse_version(catalogue().quirks["tentacle_reinstall_bug"])
        return self.leg.end.release == bug.release

    @property
    def tentacle_count(self) -> int:
        return sum(len(m.tentacles) for m in self.machines)

    @property
    def hydra_possible(self) -> bool:
        """Hydra can reach at least one machine (whatever the approach chosen)."""
        return any(not x.manual_reasons for x in self.machines)

    @functools.cached_property
    def hydra_machines(self) -> tuple[Machine, ...]:
        return tuple(x for x in self.machines if self.method(x) == "hydra")

    @functools.cached_property
    def manual_machines(self) -> tuple[Machine, ...]:
        return tuple(x for x in self.machines if self.method(x) == "manual")

    @functools.cached_property
    def values(self) -> dict[str, object]:
        """Placeholders shared by every step and warning of the hop."""
        return migration_values(self)


def _msi_version(leg: Leg) -> str:
    if leg.end_label != str(leg.end):
        return f"{leg.end.major}.{leg.end.minor}.<latest patch>"
    return str(leg.end)


def _poll_server_command(address: ServerAddress) -> str:
    return (
        f'Tentacle.exe poll-server --instance "Tentacle" --server={address.web} '
        f"--apiKey=<API key> --server-comms-port={address.port}\n"
        'Tentacle.exe service --instance "Tentacle" --stop --start'
    )


def _reconfigure_command(account: str) -> str:
    user = f'"{account}"' if re.search(r"\s", account) else account
    return (
        f'Tentacle.exe service --instance "Tentacle" --reconfigure --username={user} '
        "--password=<password> --start --console"
    )


def migration_values(m: Migration) -> dict[str, object]:
    inst = m.installation
    old_server = inst.old_server_url.strip() or "address not given"
    if m.approach == "new-server":
        new_server = inst.new_server_url.strip() or "the new server"
    else:
        new_server = inst.new_server_url.strip() or inst.old_server_url.strip() or "this server"
    requirement = sql_requirement(m.leg.end)
    hydra_machines, manual_machines = m.hydra_machines, m.manual_machines
    environments = sorted(
        {env for x in hydra_machines for t in x.tentacles for env in t.environments},
        key=sort_key,
    )
    values: dict[str, object] = {
        "target": m.leg.end_label,
        "current": m.leg.start_label,
        "old_server": old_server,
        "new_server": new_server,
        "msi_version": _msi_version(m.leg),
        "tentacle_count": m.tentacle_count,
        "sql_supported": requirement.supported if requirement else "SQL Server",
        "mapping": m.mapping,
        "polling_port": m.address.port,
        "server_web": m.address.web,
        "ram_advice": m.sizing.ram_advice,
        "command": m.sizing.command,
        "size_text": size_text(inst.backup_size_mb, inst.document_count),
        "document_target": f"{catalogue().thresholds['document_target']:,}",
        "tentacles": counted(m.tentacle_count, "Tentacle"),
        "hydra_tentacles": counted(sum(len(x.tentacles) for x in hydra_machines), "Tentacle"),
        "hydra_machines": counted(len(hydra_machines), "machine"),
        "environments": ", ".join(environments) or "none listed",
        "canary_names": name_list([x.display for x in m.canary]),
        **canary_wording(len(m.canary)),
        "canary_rule": wording()["canary"]["rule"],
        "manual_names": name_list([x.display for x in manual_machines]),
    }
    values["msi_note"] = fragment("msi_note", values)
    if m.approach == "new-server":
        values["migrate_where"] = f"the new server ({new_server})"
        values["feed_where"] = "the new server"
        values["copy_backup"] = fragment("copy_backup_new_server")
        destination = fragment("backup_destination_new_server")
    else:
        values["migrate_where"] = f"the upgraded server ({new_server})"
        values["feed_where"] = "the same machine"
        values["copy_backup"] = ""
        destination = fragment("backup_destination_in_place")
    if m.sizing.prune_first:
        destination += fragment("backup_destination_pruned")
    values["backup_destination"] = destination
    sizing_lines = [fragment("sizing_ram", values)]
    # The duration itself is the step's estimate (estimates.py): one number for one fact.
    sizing_lines.append(fragment("sizing_duration"))
    if is_large(m.sizing):
        sizing_lines.append(fragment("sizing_two_pass"))
    values["sizing_notes"] = "\n\n".join(sizing_lines)
    return values


def canary_wording(count: int) -> dict[str, str]:
    """The canary's words, matching its size: "the canary machine" or "the 3 canary machines"."""
    if count == 1:
        return {
            "canary_phrase": "the canary machine",
            "canary_label": "Canary machine",
            "canary_subject": "the canary",
            "canary_logon": "Log on to the canary",
        }
    return {
        "canary_phrase": f"the {count} canary machines",
        "canary_label": "Canary machines",
        "canary_subject": "the canaries",
        "canary_logon": "Log on to a canary or two",
    }


def _mapping_text(m: Migration, values: Mapping[str, object]) -> str:
    polling = [t for x in m.machines if m.method(x) == "hydra" for t in x.tentacles]
    polling = [t for t in polling if t.communication_style == CommunicationStyle.POLLING]
    if not polling:
        return fragment("mapping_listening")
    variant = "mapping_new_server" if m.approach == "new-server" else "mapping_in_place"
    text = fragment(variant, {**values, "polling_count": len(polling)})
    if m.approach == "new-server" and m.mapping_placeholder:
        text += fragment("mapping_placeholder")
    elif SERVER_PLACEHOLDER in m.mapping:
        text += fragment("mapping_placeholder_in_place")
    if any(x.multi and x.polling for x in m.machines):
        text += fragment("mapping_pairs")
    return text


def _machine_values(
    m: Migration, machine: Machine, base: dict[str, object]
) -> Mapping[str, object]:
    # A copy of the hop's ~35 values, not a ChainMap over them: this runs once per machine,
    # and str.format_map looks each placeholder up in a dict in C but in a ChainMap through
    # Python (140,000 lookups for 20,000 Tentacles cost more than the 20,000 copies).
    values: dict[str, object] = dict(base)
    values["machine"] = machine.display
    values["instance_count"] = len(machine.tentacles)
    values["instance_names"] = ", ".join(machine.names)
    values["instance_note"] = fragment("instance_note", values) if machine.multi else ""
    values["polling_note"] = fragment("polling_note", values) if machine.polling else ""
    by_hand = m.method(machine) == "manual"
    values["polling_manual_note"] = (
        fragment(
            "polling_repoint_note" if m.address.changes else "polling_same_address_note", values
        )
        if machine.polling and by_hand
        else ""
    )
    reasons = "; ".join(fragment(f"reason_{code}") for code in machine.manual_reasons)
    values["manual_reasons"] = reasons
    values["manual_reason_note"] = (
        fragment("manual_reason_note", values) if reasons and not m.hydra else ""
    )
    per_user = "per_user" in machine.manual_reasons
    values["per_user_note"] = fragment("per_user_note") if per_user else ""
    values["timing_note"] = fragment(
        "timing_in_place" if m.approach == "in-place" else "timing_new_server"
    )
    return values


def build_migration(b: StepList, m: Migration) -> str | None:
    """Steps of the 2.6 migration hop. Returns the title of the first point-of-no-return step.

    Point of no return: the first Hydra deployment, i.e. the canary upgrade steps (they go out
    as one deployment to the canary role); once a machine runs the new Tentacle the 2.6 server
    cannot reach it, and the estate can no longer go back to being all 2.6. When Hydra upgrades
    nothing, the first hand upgrade under the 2.6 server takes that role. Later upgrades are as
    final for their own machines, but marking thousands of steps would bury the one moment that
    needs a deliberate decision. Installing the server in place is not marked: its own text
    gives the way back (re-run the 2.6 installer), and the fleet gate keeps it waiting for
    every Tentacle. The manual approach has none: its Tentacle upgrades restore contact with a
    server that has already moved.

    A polling Tentacle upgraded by hand keeps polling the address it had (only Hydra's task
    rewrites it, facts §k.6); when the address changes it gets its own re-point step, after its
    upgrade and once the server it must poll holds the migrated data.
    """
    inst, approach = m.installation, m.approach
    values = dict(m.values)
    values["mapping_text"] = _mapping_text(m, values)
    # Hydra targets 2.6 Tentacles; older ones should take the 2.6 "Upgrade machines" first.
    old = [
        t.name
        for x in m.hydra_machines
        for t in x.tentacles
        if (v := try_version(t.version)) is not None and v < Version(2, 6)
    ]
    values["manual_track"] = fragment("manual_track", values) if m.manual_machines else ""
    values["old_tentacles"] = (
        fragment("old_tentacles", {"old_count": len(old), "old_names": name_list(old)})
        if old
        else ""
    )

    # The backups need nothing of each other, so two people can take them at once (facts
    # §d.1, §b.1: each "must come after" nothing); only the migrated backup waits for the
    # pruning it must include. Whatever changes the installation waits for all of them.
    license_key = b.add("backup-license-key", "2.6", values)
    master_key = b.add("backup-master-key", "2.6", values)
    prune = b.add("prune-history", "2.6", values) if m.sizing.prune_first else None
    backup = b.add("backup-database", "2.6", values, depends_on=[prune])
    backups = [license_key, master_key, backup]
    sql_ready = inst.sql_server_ready
    sql = b.add(
        "prepare-sql-server", "confirm" if sql_ready else "required", values, optional=sql_ready
    )

    upgrades: list[str] = []  # every upgrade-tentacle key
    per_tentacle: list[str] = []  # every per-Tentacle key (upgrades, reinstalls, reconfigures)
    after_upgrade: dict[str, str] = {}  # Tentacle name → the last step that touched it
    reinstalled: set[str] = set()  # Tentacle names whose service the plan reinstalls
    under_2_6 = approach != "manual"  # a 2.6 server is still in charge of the Tentacles

    by_hand: list[Machine] = []  # machines upgraded by hand that poll a changed address

    def repoint(after: Sequence[str | None], phase: Phase | None = None) -> list[str]:
        """A re-point step per polling machine upgraded by hand, once `after` are done."""
        keys: list[str] = []
        for machine in by_hand:
            polling = tuple(
                t.name
                for t in machine.tentacles
                if t.communication_style == CommunicationStyle.POLLING
            )
            machine_values = {
                **values,
                "machine": machine.display,
                "polling_names": ", ".join(polling),
                "command": _poll_server_command(m.address),
                "instance_hint": fragment(
                    "repoint_instances", {"polling_names": ", ".join(polling)}
                )
                if machine.multi
                else "",
            }
            keys.append(
                b.add(
                    "repoint-polling-tentacle",
                    "2.6",
                    machine_values,
                    depends_on=[*after, *(after_upgrade[name] for name in machine.names)],
                    identity=machine.identity,
                    tentacles=polling,
                    phase=phase,
                )
            )
        return keys

    def upgrade(machine: Machine, deps: Sequence[str | None], canary: bool) -> None:
        method = m.method(machine)
        if method == "hydra":
            variant = "hydra-canary" if canary else "hydra"
        else:
            variant = "manual" if approach == "manual" else "manual-track"
        key = b.add(
            "upgrade-tentacle",
            variant,
            _machine_values(m, machine, values),
            depends_on=deps,
            identity=machine.identity,
            tentacles=machine.names,
            canary=canary,
            method=method,
            point_of_no_return=under_2_6 and (canary or not (m.hydra_machines or upgrades)),
        )
        upgrades.append(key)
        per_tentacle.append(key)
        for tentacle in machine.tentacles:
            after_upgrade[tentacle.name] = key
        if method == "manual" and machine.polling and m.address.changes:
            by_hand.append(machine)
        if method == "manual" and m.reinstall_bug:
            for tentacle in machine.tentacles:
                tentacle_values = {
                    **values,
                    "machine": machine.display,
                    "tentacle_name": tentacle.name,
                }
                reinstall = b.add(
                    "reinstall-tentacle-service",
                    "2.6",
                    tentacle_values,
                    depends_on=[key],
                    identity=tentacle.name,
                    tentacles=(tentacle.name,),
                )
                per_tentacle.append(reinstall)
                after_upgrade[tentacle.name] = reinstall
                reinstalled.add(tentacle.name)

    def rollout(start: Sequence[str]) -> None:
        # Hydra needs a running 2.6 server; canaries first, the rest once they are verified.
        prepare = (
            b.add("hydra-prepare", "2.6", values, depends_on=start) if m.hydra_machines else None
        )
        canary_ids = {x.identity for x in m.canary}
        for machine in m.machines:
            if machine.identity in canary_ids:
                upgrade(machine, [prepare], canary=True)
        verify = None
        if m.canary:
            verify = b.add(
                "verify-canary",
                approach,
                values,
                depends_on=list(upgrades),
            )
        for machine in m.machines:
            if machine.identity in canary_ids:
                continue
            if m.method(machine) == "hydra":
                upgrade(machine, [verify], canary=False)
            else:
                upgrade(machine, [*start, verify], canary=False)

    cut_off = None
    if approach == "new-server":
        install = b.add("install-server-new-machine", "2.6", values, depends_on=[*backups, sql])
        migrate = b.add("migrate-data", "2.6", values, depends_on=[install, *backups])
        feed = (
            b.add("move-package-feed", "2.6", values, depends_on=[migrate])
            if inst.uses_builtin_feed
            else None
        )
        rollout([migrate])
        if upgrades:
            cut_off = b.add(
                "verify-old-server-cut-off",
                "new-server",
                values,
                depends_on=list(per_tentacle),
                fleet_gate=True,
            )
        per_tentacle.extend(repoint([migrate]))
        health = b.add(
            "verify-new-server-health",
            "2.6",
            values,
            depends_on=[migrate, feed, *per_tentacle],
            fleet_gate=bool(per_tentacle),
        )
    elif approach == "in-place":
        rollout(backups)
        if upgrades:
            cut_off = b.add(
                "verify-old-server-cut-off",
                "in-place",
                values,
                depends_on=list(per_tentacle),
                fleet_gate=True,
            )
        install = b.add(
            "install-server-in-place",
            "in-place",
            values,
            depends_on=[*backups, sql, *per_tentacle, cut_off],
            fleet_gate=bool(per_tentacle),
        )
        migrate = b.add("migrate-data", "2.6", values, depends_on=[install])
        feed = (
            b.add("move-package-feed", "2.6", values, depends_on=[migrate])
            if inst.uses_builtin_feed
            else None
        )
        # In place the Tentacles are upgraded before the server is installed; the re-point
        # must wait for the migrated server, so it is listed with the checks that follow it.
        repoints = repoint([migrate], Phase.VERIFY)
        per_tentacle.extend(repoints)
        health = b.add(
            "verify-new-server-health", "2.6", values, depends_on=[migrate, feed, *repoints]
        )
    else:
        install = b.add("install-server-in-place", "manual", values, depends_on=[*backups, sql])
        migrate = b.add("migrate-data", "2.6", values, depends_on=[install])
        feed = (
            b.add("move-package-feed", "2.6", values, depends_on=[migrate])
            if inst.uses_builtin_feed
            else None
        )
        for machine in m.machines:
            upgrade(machine, [migrate], canary=False)
        per_tentacle.extend(repoint([migrate]))
        health = b.add(
            "verify-new-server-health",
            "2.6",
            values,
            depends_on=[migrate, feed, *per_tentacle],
            fleet_gate=bool(per_tentacle),
        )

    for machine in m.machines:
        hydra_reset = m.method(machine) == "hydra"
        for tentacle in machine.tentacles:
            account = custom_account(tentacle)
            if not account:
                continue
            reset = hydra_reset or tentacle.name in reinstalled
            cause = "reset_hydra" if hydra_reset else "reset_reinstall"
            key = b.add(
                "reconfigure-service-account",
                "reset" if reset else "check",
                {
                    **values,
                    "machine": machine.display,
                    "tentacle_name": tentacle.name,
                    "account": account,
                    "command": _reconfigure_command(account),
                    "reset_cause": fragment(cause) if reset else "",
                },
                depends_on=[health, after_upgrade[tentacle.name]],
                identity=tentacle.name,
                tentacles=(tentacle.name,),
                optional=not reset,
            )
            per_tentacle.append(key)

    if approach == "new-server":
        decommission = b.add(
            "decommission-old-server",
            "2.6",
            values,
            depends_on=[health, cut_off, *per_tentacle],
            fleet_gate=bool(per_tentacle),
        )
        b.add("cleanup-home-folder", "new-server", values, depends_on=[decommission], optional=True)
    else:
        b.add("cleanup-home-folder", "in-place", values, depends_on=[health], optional=True)

    first_no_return = next((s.title for s in b.steps if s.point_of_no_return), None)
    return first_no_return


def build_pre_two_six(b: StepList, leg: Leg, tentacle_count: int) -> str:
    values = {"target": leg.end_label, "current": leg.start_label, "tentacle_count": tentacle_count}
    if leg.kind == "pre-1.6":
        backup = b.add("backup-database", "1.x", values)
        install = b.add("install-server-1.6", "1.x", values, depends_on=[backup])
        return b.add("verify-server-upgrade", "pre-2.6", values, depends_on=[install])
    if leg.kind == "1.6-to-2.6":
        names = b.add("check-duplicate-names", "1.6", values)
        backup = b.add("backup-database", "1.6", values, depends_on=[names])
        install = b.add("install-server-2.x", "1.6", values, depends_on=[backup])
        imported = b.add("import-1.6-data", "1.6", values, depends_on=[install, backup])
        tentacles = b.add("upgrade-tentacles-1.6", "1.6", values, depends_on=[imported])
        permissions = b.add("recreate-permissions", "1.6", values, depends_on=[imported])
        verify = b.add(
            "verify-server-upgrade", "pre-2.6", values, depends_on=[tentacles, permissions]
        )
        b.add("retire-1.6-server", "1.6", values, depends_on=[verify], optional=True)
        return verify
    backup = b.add("backup-database", "2.x", values)
    server = b.add("upgrade-server-2.6", "2.x", values, depends_on=[backup])
    tentacles = b.add("upgrade-tentacles-2.6", "2.x", values, depends_on=[server])
    return b.add("verify-server-upgrade", "pre-2.6", values, depends_on=[tentacles])


@dataclass(frozen=True)
class ModernRun:
    """Consecutive modern hops, done in one maintenance window (facts §k.5, our inference from
    the standard process): maintenance mode goes on before the first hop and off after the
    last; the Tentacles are upgraded once, against the final server."""

    legs: tuple[Leg, ...]
    nodes: tuple[str, ...]  # the server's HA nodes; fewer than two is a single server

    @property
    def start_label(self) -> str:
        return self.legs[0].start_label

    @property
    def end_label(self) -> str:
        return self.legs[-1].end_label

    @property
    def major_change(self) -> bool:
        return any(leg.major_change for leg in self.legs)

    @property
    def ha(self) -> bool:
        return len(self.nodes) > 1


def build_modern(
    b: StepList, run: ModernRun, position: int, tentacles: Sequence[TentacleInput]
) -> None:
    """The steps of hop `run.legs[position]`, one modern in-place upgrade of the window."""
    leg = run.legs[position]
    first, last = position == 0, position == len(run.legs) - 1
    limits = catalogue().thresholds
    values: dict[str, object] = {
        "target": leg.end_label,
        "current": leg.start_label,
        "msi_version": _msi_version(leg),
        "tentacle_count": len(tentacles),
        "final_target": run.end_label,
        "node_count": len(run.nodes),
        "node_names": name_list(list(run.nodes)),
    }
    values["msi_note"] = fragment("msi_note", values)
    values["window_note"] = fragment("window_note", values) if len(run.legs) > 1 else ""
    quirks = catalogue().quirks
    old: list[str] = []
    if leg.end >= parse_version(quirks["modern_tentacle_minimum_from"]):
        minimum = parse_version(quirks["modern_tentacle_minimum"])
        old = [
            t.name
            for t in tentacles
            if (v := try_version(t.version)) is not None and Version(3, 0) <= v < minimum
        ]
    values["old_tentacles"] = (
        fragment("tentacles_below_4", {"old_count": len(old), "old_names": name_list(old)})
        if old
        else ""
    )

    # The backups need nothing of each other, so two people can take them at once; what each
    # really waits for: the keys nothing (facts §j lists them first, before the window opens),
    # the database backup maintenance mode, and with high availability every stopped node
    # (facts §j). The folder backup waits for the same moment as the database backup so that
    # the two match when a major upgrade is rolled back by restoring both (facts §k.5; our
    # inference). The server upgrade waits for every backup.
    window_open: str | None = None
    keys: list[str] = []
    if first:
        rehearse = None
        many_targets = len(tentacles) > limits["test_instance_targets"]
        if run.major_change or many_targets:
            if run.major_change:
                majors = [f"{x.start_label} → {x.end_label}" for x in run.legs if x.major_change]
                reason = f"{run.start_label} → {run.end_label} includes a major upgrade "
                reason += f"({', '.join(majors)})."
            else:
                reason = (
                    f"With {len(tentacles)} deployment targets (more than "
                    f"{limits['test_instance_targets']}) the docs recommend a test instance."
                )
            if len(run.legs) > 1:
                reason += fragment("rehearse_whole_window", values)
            rehearse = b.add(
                "rehearse-on-test-instance",
                "from-3.x" if leg.start.major == 3 else "modern",
                {**values, "rehearsal_reason": reason, "target": run.end_label},
                optional=not run.major_change,
            )
        keys = [
            b.add("backup-license-key", "modern", values),
            b.add("backup-master-key", "modern", values),
        ]
        # The production window opens once the rehearsal (if any) has passed.
        window_open = b.add("maintenance-mode-on", "modern", values, depends_on=[rehearse])
    quiet: list[str | None] = [window_open]
    if run.ha:
        # Facts §j (corrected): stop every node, back up, upgrade one node (it upgrades the
        # database), then the others, then start them all. From 2023.2.9755 the database
        # upgrade aborts while any node runs.
        quiet = [
            b.add(
                "stop-server-node",
                "ha",
                {**values, "node": node},
                depends_on=[window_open],
                identity=node,
            )
            for node in run.nodes
        ]
    backup = b.add("backup-database", "modern-ha" if run.ha else "modern", values, depends_on=quiet)
    # The folder backup is how a major upgrade rolls back (facts §k.5): required for a major hop.
    folders = b.add(
        "backup-server-folders",
        "major" if leg.major_change else "modern",
        values,
        depends_on=quiet,
        optional=not leg.major_change,
    )
    backups = [*keys, backup, folders]
    if run.ha:
        first_node, *other_nodes = run.nodes
        leader = b.add(
            "upgrade-server-modern",
            "ha-first",
            {**values, "node": first_node},
            depends_on=backups,
            identity=first_node,
        )
        upgraded = [leader] + [
            b.add(
                "upgrade-server-modern",
                "ha-other",
                {**values, "node": node, "first_node": first_node},
                depends_on=[leader],
                identity=node,
            )
            for node in other_nodes
        ]
        started = [
            b.add(
                "start-server-node",
                "ha",
                {**values, "node": node},
                depends_on=upgraded,
                identity=node,
            )
            for node in run.nodes
        ]
        verify = b.add("verify-server-upgrade", "modern", values, depends_on=started)
    else:
        server = b.add("upgrade-server-modern", "modern", values, depends_on=backups)
        verify = b.add("verify-server-upgrade", "modern", values, depends_on=[server])
    if last:
        b.add("maintenance-mode-off", "modern", values, depends_on=[verify])
        b.add("upgrade-tentacles-modern", "modern", values, depends_on=[verify], optional=True)
