"""The readiness report: what blocks or breaks a modern upgrade, found before the window.

Pure rules: `evaluate(ReadinessInput)` turns what the plan was told (server OS, .NET, SQL Server,
license maintenance, HA nodes, Tentacles, features in use) and what a scan read from the live
server into findings, each with a severity (inhibitor, warning, info), what to do, its source,
the machines or facts it concerns and the server upgrade steps it guards. The facts come from
the release catalogue (content/catalogue.toml); the words from content/readiness.toml.

    findings = evaluate(ReadinessInput(server_version="2019.13", target_version="2024.1",
                                       hops=(HopRef(0, "2019.13", "2024.1"),),
                                       sql_server_version="2014", today=date(2026, 1, 5)))
"""

from __future__ import annotations

import datetime
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from upgrade_planner.domain.catalogue import (
    Deprecation,
    Floor,
    Newer,
    release_catalogue,
    short,
)
from upgrade_planner.domain.versions import Version, try_version
from upgrade_planner.domain.vocabulary import Feature, FindingSeverity

# The steps that upgrade the server itself: what an inhibitor of a hop blocks.
SERVER_UPGRADE_KINDS: tuple[str, ...] = (
    "upgrade-server-modern",
    "install-server-in-place",
    "install-server-new-machine",
)
# Readiness concerns the hops of a modern server (3.0 and later), upgraded where it runs.
MODERN_FROM = Version(3, 0)
SUBJECTS_IN_TEXT = 5
DATE_FORMAT = "%Y-%m-%d"

SEVERITY_ORDER = {FindingSeverity.INHIBITOR: 0, FindingSeverity.WARNING: 1, FindingSeverity.INFO: 2}


# --- Input and output ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HopRef:
    """One hop of the plan's path: its index (a step's `hop`) and its two versions."""

    index: int
    from_version: str
    to_version: str


@dataclass(frozen=True)
class MachineFacts:
    """What is known of one Tentacle: from the inventory, or as the server reported it."""

    name: str
    version: str = ""
    os: str = ""


@dataclass(frozen=True)
class NodeFacts:
    name: str
    running: bool


@dataclass(frozen=True)
class ScanFacts:
    """What a read-only scan of the live server found; "" / None is unknown (not read)."""

    server_version: str = ""
    os_version: str = ""  # system-info's OSVersion, e.g. "Microsoft Windows NT 6.3.9600.0"
    maintenance_expires: datetime.date | None = None
    nodes: tuple[NodeFacts, ...] | None = None
    machines: tuple[MachineFacts, ...] | None = None
    unknown: tuple[str, ...] = ()  # what could not be read, in words ("HA nodes (…)")


@dataclass(frozen=True)
class ReadinessInput:
    server_version: str
    target_version: str
    hops: tuple[HopRef, ...]
    today: datetime.date
    server_os: str = ""
    dotnet_version: str = ""
    sql_server_version: str = ""
    license_maintenance_expires: datetime.date | None = None
    ha_nodes: tuple[str, ...] = ()
    features_in_use: tuple[str, ...] = ()
    tentacles: tuple[MachineFacts, ...] = ()
    scan: ScanFacts | None = None


@dataclass(frozen=True)
class Guard:
    """The steps of `kinds` in hop `hop` that a finding holds back."""

    hop: int
    kinds: tuple[str, ...] = SERVER_UPGRADE_KINDS


@dataclass(frozen=True)
class Finding:
    code: str
    severity: FindingSeverity
    text: str
    what_to_do: str
    source: str
    subjects: tuple[str, ...] = ()
    guards: tuple[Guard, ...] = ()


# --- Content ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    code: str
    severity: FindingSeverity
    why: str
    text: str
    what_to_do: str
    source: str
    extra: Mapping[str, str]

    def finding(
        self,
        values: Mapping[str, object],
        *,
        code: str = "",
        subjects: Iterable[str] = (),
        guards: Iterable[Guard] = (),
    ) -> Finding:
        guards = tuple(guards) if self.severity == FindingSeverity.INHIBITOR else ()
        return Finding(
            code=code or self.code,
            severity=self.severity,
            text=self.text.format_map(values),
            what_to_do=self.what_to_do.format_map(values),
            source=self.source.format_map(values),
            subjects=tuple(subjects),
            guards=guards,
        )


def read_rules(raw: Mapping[str, Any]) -> dict[str, Rule]:
    known = {"severity", "why", "text", "what_to_do", "source"}
    return {
        code: Rule(
            code=code,
            severity=FindingSeverity(entry["severity"]),
            why=entry["why"],
            text=entry["text"],
            what_to_do=entry["what_to_do"],
            source=entry["source"],
            extra={k: v for k, v in entry.items() if k not in known},
        )
        for code, entry in raw["rules"].items()
    }


@functools.cache
def rules() -> dict[str, Rule]:
    """The rules of content/readiness.toml, read once per process."""
    text = resources.files("upgrade_planner.domain.content").joinpath("readiness.toml")
    return read_rules(tomllib.loads(text.read_text("utf-8")))


# --- Reading the facts people give --------------------------------------------------------------

_WINDOWS_SERVER = re.compile(
    r"windows\s+server\s+(2003|2008|2012|2016|2019|2022|2025)(\s+r2)?(?:\s+sp\s*(\d))?", re.I
)
_WINDOWS_NT = re.compile(r"windows\s+nt\s+(\d+)\.(\d+)(?:\.(\d+))?", re.I)
_LINUX = re.compile(r"\blinux\b", re.I)
# Windows NT 10.0 builds of each Windows Server release (Microsoft's numbering).
_NT10_BUILDS = ((26100, 2025), (20348, 2022), (17763, 2019), (14393, 2016))
_NT_VERSIONS = {(5, 2): (2003, False), (6, 0): (2008, False), (6, 1): (2008, True)}
_NT_VERSIONS |= {(6, 2): (2012, False), (6, 3): (2012, True)}
_SQL_YEAR = re.compile(r"^(?:(?:microsoft\s+)?sql\s+server\s+)?(20\d\d)(\s+r2)?$", re.I)
_SQL_BUILD = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.\d+){0,2}$")
_SQL_MAJORS = {11: 2012, 12: 2014, 13: 2016, 14: 2017, 15: 2019, 16: 2022, 17: 2025}
_SQL_YEARS = {2008, 2012, 2014, 2016, 2017, 2019, 2022, 2025}
_DOTNET = re.compile(r"^(?:\.net\s+(?:framework\s+)?)?(\d)\.(\d)(?:\.(\d))?$", re.I)
_NUMBERS = re.compile(r"(\d+(?:\.\d+)+)")


@dataclass(frozen=True, order=True)
class WindowsRelease:
    """A Windows Server release, ordered: 2008 < 2008 SP2 < 2008 R2 < 2012 < 2012 R2."""

    year: int
    r2: bool = False
    service_pack: int = 0

    def __str__(self) -> str:
        r2 = " R2" if self.r2 else ""
        sp = f" SP{self.service_pack}" if self.service_pack else ""
        return f"Windows Server {self.year}{r2}{sp}"


def windows_release(text: str) -> WindowsRelease | None:
    """The Windows Server release `text` names ("Windows Server 2012 R2", or a reported
    "Microsoft Windows NT 6.3.9600.0"), or None."""
    if match := _WINDOWS_SERVER.search(text):
        return WindowsRelease(int(match[1]), bool(match[2]), int(match[3] or 0))
    if match := _WINDOWS_NT.search(text):
        major, minor, build = int(match[1]), int(match[2]), int(match[3] or 0)
        if (major, minor) == (10, 0):
            for first_build, year in _NT10_BUILDS:
                if build >= first_build:
                    return WindowsRelease(year)
            return None
        if (major, minor) in _NT_VERSIONS:
            year, r2 = _NT_VERSIONS[(major, minor)]
            # Windows Server 2008's NT 6.0 builds: 6001 is SP1, 6002 is SP2.
            service_pack = max(0, build - 6000) if (major, minor) == (6, 0) else 0
            return WindowsRelease(year, r2, service_pack)
    return None


def server_os_problem(text: str) -> str | None:
    """Why `text` is no server OS the planner can check, or None (blank is fine)."""
    text = text.strip()
    if not text or windows_release(text) is not None or _LINUX.search(text):
        return None
    return (
        f"{text[:60]!r} is not a server OS the planner knows: write it as “Windows Server 2016”, "
        "“Windows Server 2012 R2” or “Windows Server 2008 SP2” (or “Linux” for the Octopus "
        "Server Linux container)."
    )


def sql_server_release(text: str) -> tuple[int, bool] | None:
    """(year, R2) of a SQL Server given as "2016", "2008 R2" or a build like "13.0.5026.0"."""
    text = text.strip()
    if match := _SQL_YEAR.match(text):
        year = int(match[1])
        return (year, bool(match[2])) if year in _SQL_YEARS else None
    if match := _SQL_BUILD.match(text):
        major, minor = int(match[1]), int(match[2])
        if major == 10:
            return (2008, minor >= 50)
        if major in _SQL_MAJORS:
            return (_SQL_MAJORS[major], False)
    return None


def sql_server_problem(text: str) -> str | None:
    if not text.strip() or sql_server_release(text) is not None:
        return None
    return (
        f"{text.strip()[:60]!r} is not a SQL Server version the planner knows: give the year "
        "(“2016”, “2008 R2”) or the build number SQL Server reports (“13.0.5026.0”)."
    )


def dotnet_release(text: str) -> tuple[int, int, int] | None:
    match = _DOTNET.match(text.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def dotnet_problem(text: str) -> str | None:
    if not text.strip() or dotnet_release(text) is not None:
        return None
    return f"{text.strip()[:60]!r} is not a .NET Framework version: give it as “4.7.2” or “4.8”."


def feature_problems(values: Sequence[str]) -> list[tuple[int, str]]:
    """(index, message) for every value of `features_in_use` that is not a known feature."""
    known = ", ".join(Feature.values)
    return [
        (index, f"{value[:60]!r} is not a feature the planner knows; use one of: {known}.")
        for index, value in enumerate(values)
        if value not in Feature.values
    ]


# --- The rules ----------------------------------------------------------------------------------


def _version(text: str) -> Version | None:
    return try_version(text.strip()) if text else None


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SUBJECTS_IN_TEXT])
    more = len(names) - SUBJECTS_IN_TEXT
    return f"{shown} and {more} more" if more > 0 else shown


def _modern_hops(facts: ReadinessInput) -> list[tuple[HopRef, Version, Version]]:
    hops = []
    for hop in facts.hops:
        start, end = _version(hop.from_version), _version(hop.to_version)
        if start is not None and end is not None and start >= MODERN_FROM:
            hops.append((hop, start, end))
    return hops


def _floor_year(floor: Floor) -> tuple[int, bool] | None:
    match = re.search(r"(20\d\d)(\s+R2)?", floor.minimum)
    return (int(match[1]), bool(match[2])) if match else None


def _floor_numbers(floor: Floor) -> tuple[int, ...] | None:
    match = _NUMBERS.search(floor.minimum)
    return tuple(int(part) for part in match[1].split(".")) if match else None


def _host_os_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    scanned = facts.scan.os_version if facts.scan else ""
    given, given_from = (
        (scanned, "as the server reported it")
        if scanned
        else (
            facts.server_os.strip(),
            "as the plan was told",
        )
    )
    host = windows_release(given) if given else None
    if host is None:
        return []
    catalogue = release_catalogue()
    for hop, _, end in hops:
        floor = catalogue.floors_for(end).host_os
        minimum = windows_release(floor.minimum) if floor else None
        if floor is None or minimum is None or host >= minimum:
            continue
        values = {
            "given": host,
            "given_from": given_from,
            "target": hop.to_version,
            "minimum": floor.minimum,
            "detail": floor.detail,
        }
        return [rules()["host-os-below-floor"].finding(values, guards=[Guard(hop.index)])]
    return []


def _dotnet_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    given = dotnet_release(facts.dotnet_version) if facts.dotnet_version.strip() else None
    if given is None:
        return []
    catalogue = release_catalogue()
    for hop, _, end in hops:
        floor = catalogue.floors_for(end).dotnet
        needed = _floor_numbers(floor) if floor and floor.required else None
        if floor is None or needed is None or given >= needed:
            continue
        values = {
            "given": facts.dotnet_version.strip(),
            "target": hop.to_version,
            "minimum": floor.minimum,
            "detail": floor.detail,
        }
        return [rules()["dotnet-below-floor"].finding(values, guards=[Guard(hop.index)])]
    return []


def _sql_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    given = sql_server_release(facts.sql_server_version) if facts.sql_server_version else None
    if given is None:
        return []
    catalogue = release_catalogue()
    rule = rules()["sql-server-below-floor"]
    for hop, _, end in hops:
        floor = catalogue.floors_for(end).sql_server
        needed = _floor_year(floor) if floor else None
        if floor is None or needed is None or given >= needed:
            continue
        disagreement = (
            rule.extra["disagreement"].format(
                other_source=floor.other_source,
                other_minimum=floor.other_minimum,
                applied_because=floor.applied_because,
            )
            if floor.other_minimum
            else ""
        )
        year, r2 = given
        values = {
            "given": f"{year}{' R2' if r2 else ''}",
            "target": hop.to_version,
            "minimum": floor.minimum,
            "detail": floor.detail.rstrip(".") + ".",
            "disagreement": disagreement,
        }
        return [rule.finding(values, guards=[Guard(hop.index)])]
    return []


def _floors_unknown(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    if not hops:
        return []
    final = hops[-1][2]
    floors = release_catalogue().floors_for(final)
    scanned_os = bool(facts.scan and facts.scan.os_version)
    missing, minimums = [], []
    for floor, given, what in (
        (floors.host_os, facts.server_os.strip() or scanned_os, "the server's OS"),
        (floors.dotnet, facts.dotnet_version.strip(), "its .NET Framework version"),
        (floors.sql_server, facts.sql_server_version.strip(), "its SQL Server version"),
    ):
        if floor is None or not floor.required or given:
            continue
        missing.append(what)
        minimums.append(floor.minimum)
    if not missing:
        return []
    values = {
        "missing": ", ".join(missing),
        "target": hops[-1][0].to_version,
        "minimums": ", ".join(minimums),
    }
    return [rules()["floors-unknown"].finding(values)]


def _license_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    if not hops:
        return []
    scanned = facts.scan.maintenance_expires if facts.scan else None
    expires = scanned or facts.license_maintenance_expires
    expires_from = "as the server reported it" if scanned else "as the plan was told"
    target = facts.target_version.strip()
    if expires is None:
        return [rules()["license-maintenance-unknown"].finding({"target": target})]
    catalogue = release_catalogue()
    for hop, _, end in hops:
        release = catalogue.release(end)
        if release is None or release.released is None or release.released <= expires:
            continue
        values = {
            "expires": expires.strftime(DATE_FORMAT),
            "expires_from": expires_from,
            "version": hop.to_version,
            "released": release.released.strftime(DATE_FORMAT),
        }
        return [rules()["license-maintenance-expired"].finding(values, guards=[Guard(hop.index)])]
    final_release = catalogue.release(hops[-1][2])
    date_known = final_release is not None and final_release.released is not None
    if not date_known and expires < facts.today:
        values = {"expires": expires.strftime(DATE_FORMAT), "expires_from": expires_from}
        return [rules()["license-maintenance-check"].finding(values | {"target": target})]
    # Maintenance that runs past today covers any release that exists today (our inference).
    return []


def _ha_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    if facts.scan is None or facts.scan.nodes is None or not hops:
        return []
    running = [node.name for node in facts.scan.nodes if node.running]
    if not running:
        return []
    known = {name.casefold() for name in facts.ha_nodes}
    unknown = [name for name in running if name.casefold() not in known]
    abort = next(
        (c for c in release_catalogue().changes if c.id == "ha-upgrade-aborts-with-running-nodes"),
        None,
    )
    findings = []
    if unknown:
        aborting = [(hop, end) for hop, _, end in hops if abort and end >= abort.from_version]
        code = "ha-node-not-in-plan" if aborting else "ha-node-not-in-plan-before-abort"
        values = {
            "count": len(unknown),
            "plural": "" if len(unknown) == 1 else "s",
            "names": _names(unknown),
            "from_version": short(abort.from_version) if abort else "",
        }
        guards = [Guard(aborting[0][0].index)] if aborting else []
        findings.append(
            rules()[code].finding(
                values, code="ha-node-not-in-plan", subjects=unknown, guards=guards
            )
        )
    elif len(running) > 0 and known:
        values = {
            "count": len(running),
            "plural": "" if len(running) == 1 else "s",
            "names": _names(running),
        }
        findings.append(rules()["ha-nodes-running"].finding(values, subjects=running))
    return findings


def _machines(facts: ReadinessInput) -> list[MachineFacts]:
    """The Tentacles as the inventory gives them, with what a scan read in their place."""
    by_name = {machine.name.casefold(): machine for machine in facts.tentacles}
    if facts.scan and facts.scan.machines is not None:
        for machine in facts.scan.machines:
            known = by_name.get(machine.name.casefold())
            by_name[machine.name.casefold()] = MachineFacts(
                machine.name,
                machine.version or (known.version if known else ""),
                machine.os or (known.os if known else ""),
            )
    return list(by_name.values())


def _on_windows(machine: MachineFacts, test: Any) -> bool:
    release = windows_release(machine.os) if machine.os else None
    return release is not None and bool(test(release))


# Which machines each kind-of-machine deprecation concerns (catalogue ids).
_MACHINE_TESTS: dict[str, Any] = {
    "windows-2003-targets": lambda m, sv: _on_windows(m, lambda r: r.year == 2003),
    "windows-2008-unpatched-targets": lambda m, sv: _on_windows(
        m, lambda r: r.year == 2008 and not r.r2
    ),
    "dotnet-462-on-old-windows": lambda m, sv: _on_windows(m, lambda r: r.year <= 2012),
    "windows-2008-targets": lambda m, sv: _on_windows(m, lambda r: r.year == 2008),
    "sha1-tentacle-certificates": lambda m, sv: _sha1_certificate(m, sv),
}
_SHA256_FROM = Version(3, 14)  # Tentacle certificates made before 3.14 are SHA-1 (facts §k.2)


def _sha1_certificate(machine: MachineFacts, server: Version | None) -> bool:
    """A Tentacle from the 2.6 era, or older than 3.14, keeps a SHA-1 certificate unless it
    was regenerated: what the plan knows cannot tell, so these are the ones to check."""
    if server is not None and server < MODERN_FROM:
        return True
    version = _version(machine.version)
    return version is not None and version < _SHA256_FROM


def _deprecation_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    current, target = _version(facts.server_version), _version(facts.target_version)
    if current is None or target is None:
        return []
    machines = _machines(facts)
    features = set(facts.features_in_use)
    findings = []
    for deprecation in release_catalogue().deprecations_between(current, target):
        subjects: list[str] = []
        if deprecation.feature:
            if deprecation.feature not in features:
                continue
        else:
            test = _MACHINE_TESTS.get(deprecation.id)
            if test is None:
                continue
            subjects = [m.name for m in machines if test(m, current)]
            if not subjects:
                continue
        findings.append(_deprecation_finding(deprecation, current, target, subjects))
    return findings


def _deprecation_finding(
    deprecation: Deprecation, current: Version, target: Version, subjects: list[str]
) -> Finding:
    stages = deprecation.stages_between(current, target)
    stopping = [stage for stage in stages if stage.stage in {"stops", "removed"}]
    stage = stopping[0] if stopping else stages[-1]
    rule = rules()["deprecation-stops" if stopping else "deprecation-warned"]
    what = deprecation.what
    if subjects:
        what = f"{what} Concerns {len(subjects)}: {_names(subjects)}."
    values = {
        "version": short(stage.version),
        "stage": stage.stage.replace("-", " "),
        "what": what,
        "what_to_do": deprecation.what_to_do,
        "source": deprecation.source,
    }
    return rule.finding(values, code=deprecation.id, subjects=subjects)


def _tentacle_dotnet_findings(
    facts: ReadinessInput, hops: list[tuple[HopRef, Version, Version]]
) -> list[Finding]:
    machines = _machines(facts)
    if not hops or not machines:
        return []
    requirement = next(
        (r for r in release_catalogue().tentacle_requirements if r.id == "tentacle-dotnet-48"),
        None,
    )
    if requirement is None:
        return []
    windows = [m.name for m in machines if not m.os or windows_release(m.os) is not None]
    if not windows:
        return []
    values = {"above": short(requirement.tentacle_above), "requirement": requirement.requirement}
    return [rules()["tentacle-dotnet-48"].finding(values, subjects=windows)]


def _broken_path_findings(facts: ReadinessInput) -> list[Finding]:
    findings = []
    seen: set[str] = set()
    rule = rules()["broken-path"]
    for hop in facts.hops:
        start, end = _version(hop.from_version), _version(hop.to_version)
        if start is None or end is None:
            continue
        for broken in release_catalogue().broken_paths_for(start, end):
            code = f"broken-path-{broken.id}"
            if code in seen:
                continue
            seen.add(code)
            values = {
                "reason": broken.reason.format_map({"target": hop.to_version}),
                "advice": broken.advice
                or "Follow the plan's path, which stops where the rule says, or choose another "
                "target.",
                "source": broken.source,
                "tracked_in": broken.tracked_in,
            }
            findings.append(rule.finding(values, code=code, guards=[Guard(hop.index)]))
    return findings


def _unknown_target(facts: ReadinessInput) -> list[Finding]:
    target = _version(facts.target_version)
    if target is None:
        return []
    verdict = release_catalogue().check_target(target)
    if not isinstance(verdict, Newer):
        return []
    text = facts.target_version.strip()
    values = {
        "text": verdict.text(text),
        "action": verdict.action(text),
        "source": release_catalogue().newer_source,
    }
    return [rules()["unknown-target"].finding(values)]


def _scan_findings(facts: ReadinessInput) -> list[Finding]:
    scan = facts.scan
    if scan is None:
        return []
    findings = []
    scanned, given = _version(scan.server_version), _version(facts.server_version)
    if scanned is not None and given is not None and not _same_release(given, scanned):
        values = {"scanned": scan.server_version, "given": facts.server_version.strip()}
        findings.append(rules()["server-version-differs"].finding(values))
    if scan.unknown:
        missing = "; ".join(scan.unknown)
        findings.append(rules()["scan-incomplete"].finding({"missing": missing}))
    return findings


def _same_release(given: Version, scanned: Version) -> bool:
    """Whether the server runs the version given, as precisely as it was given ("2021.3"
    matches every 2021.3 build)."""
    if given.patch == 0 and given.build == 0:
        return (given.major, given.minor) == (scanned.major, scanned.minor)
    if given.build == 0:
        return given.release == scanned.release
    return given == scanned


def _service_watchdog(hops: list[tuple[HopRef, Version, Version]]) -> list[Finding]:
    return [rules()["service-watchdog"].finding({})] if hops else []


def evaluate(facts: ReadinessInput) -> tuple[Finding, ...]:
    """Every finding for `facts`: inhibitors first, then warnings, then info; within each, in
    the order of the rules. Codes are unique."""
    hops = _modern_hops(facts)
    findings = [
        *_broken_path_findings(facts),
        *_host_os_findings(facts, hops),
        *_dotnet_findings(facts, hops),
        *_sql_findings(facts, hops),
        *_license_findings(facts, hops),
        *_ha_findings(facts, hops),
        *_unknown_target(facts),
        *_scan_findings(facts),
        *_deprecation_findings(facts, hops),
        *_floors_unknown(facts, hops),
        *_tentacle_dotnet_findings(facts, hops),
        *_service_watchdog(hops),
    ]
    unique: dict[str, Finding] = {}
    for finding in findings:
        unique.setdefault(finding.code, finding)
    return tuple(sorted(unique.values(), key=lambda f: SEVERITY_ORDER[f.severity]))


def all_sources() -> list[tuple[str, str]]:
    """(rule, source) of every rule, for checking that none lacks one."""
    return [(code, rule.source) for code, rule in rules().items()]
