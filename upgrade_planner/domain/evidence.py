"""Pasted evidence: what a team without API access can show us about its Tentacles.

Pure: text in, frozen dataclasses out; no ORM, settings or I/O. Three kinds of paste are
understood, alone or mixed in one paste:

- the output of ``Tentacle.exe version`` (a bare ``3.17.14+Branch.master.Sha.…`` line, the
  ``--format=json`` object, a ``Version: 3.0.10.2175`` line or the
  ``Octopus Deploy: Tentacle version …`` banner). The machine it came from is named by a line
  before it: ``# web-01``, ``web-01:``, ``Machine: web-01`` (or ``web-01: 3.17.14`` on one
  line, or the output of ``hostname`` after its prompt). Without a name the version is kept as
  recognised but unattributed;
- a health-check task log (raw export or copied from the page): per-machine sections
  (``== Failed: Check web-02 health ==``, ``Performing health check on web-02``), outcome lines
  (``web-01 is healthy``, ``web-02 is unavailable``), ``Tentacle version 3.17.14``, and the two
  errors that mean a Tentacle still runs 2.x binaries (facts §f): Halibut's
  ``ConnectionInitializationFailedException`` on the server side and Pipefish's
  ``ProtocolViolationException: Request line should have three parts`` in the Tentacle's own
  log (pasted under a machine name; reported with source "health-log" like the task log);
- a CSV (comma, semicolon or tab) whose header has a name column and a version column, and
  optionally a status/health column. The planner's own inventory CSV qualifies.

Nothing is guessed: a line that is none of these is returned in ``unrecognised`` with its line
number. Lines that belong to a paste but carry no evidence (task log headers, stack frames,
shell prompts) are accepted silently.

When a machine appears more than once, the evidence is applied in paste order, field by field:
a later version replaces an earlier one, a later health result replaces an earlier one, and a
field the later evidence does not mention keeps its earlier value. ``still_on_2x`` follows the
latest fact that speaks to it (a version, or a 2.x error). Machines are listed in the order
they first appear.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from upgrade_planner.domain.planner import PlanningError, Version, parse_version
from upgrade_planner.domain.spreadsheet import formula_restored
from upgrade_planner.domain.versions import read_version

__all__ = [
    "SIGNALS",
    "EvidenceReport",
    "EvidenceSource",
    "MachineEvidence",
    "Match",
    "StepVerdict",
    "Verdict",
    "evidence_version",
    "match_evidence",
    "parse_evidence",
]

EvidenceSource = Literal["tentacle-version", "health-log", "csv"]
Verdict = Literal[
    "on-target",  # on 3.x or later and at least the target version
    "upgraded",  # on 3.x or later; the target is not a Tentacle version, so no comparison
    "behind-target",  # on 3.x or later but older than the target
    "still-on-2x",  # a 1.x/2.x version, or an error only a 2.x Tentacle produces
    "health-only",  # a health result but no version
    "no-evidence",  # a Tentacle of the plan the paste says nothing about
    "not-in-plan",  # a machine in the paste that matches no Tentacle of the plan
]


@dataclass(frozen=True)
class StepVerdict:
    """What a check (or a pasted output) says of one step."""

    step_id: UUID
    ok: bool | None  # None: informative only
    detail: str
    complete: bool = False  # the step is confirmed done


# Failure signs found in logs, by code. The codes are stored; the texts explain them.
SIGNALS: dict[str, str] = {
    "halibut-connection-failed": (
        "Halibut could not open a connection (ConnectionInitializationFailedException): "
        "the usual sign of a Tentacle still running 2.x binaries."
    ),
    "halibut-request-failed": "The server's request to the Tentacle failed (Halibut).",
    "pipefish-protocol-violation": (
        "The Tentacle answered with the 2.x Pipefish protocol "
        "(Request line should have three parts): it still runs 2.x binaries."
    ),
}
_SIGNALS_MEANING_2X = frozenset({"halibut-connection-failed", "pipefish-protocol-violation"})

# Unrecognised lines are shown back to people; a pasted megabyte on one line is cut short.
_MAX_SHOWN = 200


@dataclass(frozen=True)
class MachineEvidence:
    name: str  # as first written in the paste
    version: str  # normalised ("3.17.14", "2.6.5.1581"), or "" when no version was given
    healthy: bool | None  # None when the paste says nothing about health
    still_on_2x: bool
    source_line: int  # 1-based line of the latest evidence about this machine
    source: EvidenceSource  # the kind of paste that latest evidence came from
    signals: tuple[str, ...] = ()  # SIGNALS codes seen for this machine, in order
    lines: tuple[int, ...] = ()  # every line that said something about this machine


@dataclass(frozen=True)
class EvidenceReport:
    machines: tuple[MachineEvidence, ...]
    # Versions recognised with no machine name to attach them to: (line, version).
    unattributed_versions: tuple[tuple[int, str], ...] = ()
    # 2.x / connection errors recognised with no machine to attach them to: (line, SIGNALS code).
    unattributed_signals: tuple[tuple[int, str], ...] = ()
    # Lines that are none of the understood formats: (line, text). Never guessed at.
    unrecognised: tuple[tuple[int, str], ...] = ()

    def by_name(self) -> dict[str, MachineEvidence]:
        """The machines keyed by case-folded name."""
        return {m.name.casefold(): m for m in self.machines}


@dataclass(frozen=True)
class Match:
    name: str  # the plan's spelling, or the paste's for machines not in the plan
    in_plan: bool
    verdict: Verdict
    evidence: MachineEvidence | None
    version: str
    upgraded: bool | None  # off 2.x: True/False, or None when the paste cannot tell
    on_target: bool | None  # None when there is no version or no Tentacle target to compare
    healthy: bool | None
    still_on_2x: bool


# ---------------------------------------------------------------------------------------------
# Versions


def evidence_version(text: str) -> Version | None:
    """A 3- or 4-part version with optional ``v`` and ``-pre``/``+metadata``, else None."""
    read = read_version(text.strip().strip("\"'"))
    if read is None or read.parts < 3 or read.lts:
        return None
    return read.version


def _at_least(version: Version, target: Version) -> bool:
    # A target without a build number is met by any build of that release.
    if version.release != target.release:
        return version.release > target.release
    return target.build == 0 or version.build >= target.build


# ---------------------------------------------------------------------------------------------
# Line shapes

_NAME = r"[A-Za-z0-9][A-Za-z0-9._\-]*"  # a host-like name: no spaces, so prose never matches
_QUOTED_OR_NAME = rf"(?:\"[^\"]{{1,100}}\"|'[^']{{1,100}}'|{_NAME})"
_LEVEL = r"(?:verbose|info|information|warning|warn|error|fatal|highlight|wait|debug|trace)"

# Octopus task logs: "14:03:11   Info     |   text" (raw export), "| text" for section lines,
# or "14:03:11 Info text" when copied from the page. Tentacle log files: ISO date and time,
# optional thread/process numbers and a level.
_TASK_LOG_PREFIX = re.compile(
    rf"^\s*(?:[0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}}\s+{_LEVEL}\s*)?\|\s?"
    rf"|^\s*[0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}}\s+{_LEVEL}\s+",
    re.IGNORECASE,
)
_FILE_LOG_PREFIX = re.compile(
    rf"^\s*[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T][0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}}(?:[.,][0-9]+)?"
    rf"(?:\s*(?:Z|[+-][0-9]{{2}}:?[0-9]{{2}}))?\s+(?:[0-9]+\s+)*(?:{_LEVEL}\s+)?",
    re.IGNORECASE,
)

# A name of up to 100 characters that starts and ends with a non-space, followed by spaces that
# are never given back (possessive): with ".{1,100}?" and a plain "\s*" after it, a line with a
# megabyte of spaces after the name was rescanned from each of the 100 possible name ends.
_SPACED_NAME = r"\S(?:.{0,98}?\S)?"
_HEALTH_SECTION = re.compile(
    rf"^(?:==\s*)?(?P<status>[A-Za-z]+)\s*:\s*Check\s+(?P<name>{_SPACED_NAME})"
    r"\s++health\s*+(?:==)?$",
    re.IGNORECASE,
)
_HEALTH_CHECK_ON = re.compile(
    r"^(?:(?:Performing|Starting|Running)\s+(?:a\s+)?health\s+check\s+(?:on|for)"
    rf"|Check(?:ing)?\s+health\s+of)\s+(?P<name>{_SPACED_NAME})\s*+(?:\.{{1,3}})?$"
    rf"|^Check\s+(?P<name2>{_SPACED_NAME})\s++health$",
    re.IGNORECASE,
)
_HEALTH_OUTCOME = re.compile(
    rf"^(?:(?:the\s+)?(?:machine|deployment\s+target|target|tentacle)\s+)?(?P<name>{_QUOTED_OR_NAME})"
    r"\s+is\s+(?:now\s+)?(?P<state>healthy(?:\s+with\s+warnings)?|unhealthy|unavailable|offline"
    r"|online|unreachable|not\s+reachable|not\s+available)\s*[.!]?$",
    re.IGNORECASE,
)
_HEALTH_SUMMARY = re.compile(
    r"^(?:health\s*check\s+(?:completed|complete|finished|failed|succeeded|was\s+successful)"
    r"|health\s*check\s+completed\s+with\s+warnings"
    r"|the\s+health\s+check\s+(?:completed|failed))\b",
    re.IGNORECASE,
)
# A whole-fleet section or a count, not a machine: "Check deployment target health",
# "Performing health check on 3 deployment targets", "… on all machines in Production".
_NOT_A_MACHINE = re.compile(
    r"^(?:[0-9]+\b|all\b|the\b|each\b|every\b|any\b)"
    r"|^(?:deployment\s+)?(?:targets?|machines?|tentacles?|workers?|environments?)$",
    re.IGNORECASE,
)
_HEALTHY_STATES = {"healthy", "healthy with warnings", "online"}
_SECTION_STATES: dict[str, bool | None] = {
    "success": True,
    "succeeded": True,
    "successwithwarnings": True,
    "warning": True,
    "failed": False,
    "failure": False,
    "timedout": False,
    "error": False,
}

_TENTACLE_VERSION = re.compile(
    r"^(?P<banner>Octopus\s+Deploy\s*:\s*)?Tentacle\s+version\s*[:=]?\s*(?P<version>\S+)"
    r"(?:\s+\((?P<informational>[^)]*)\))?(?:\s+instance\s+\S.*)?$",
    re.IGNORECASE,
)
_VERSION_FIELD = re.compile(r"^(?:Tentacle\s+)?Version\s*[:=]\s*(?P<version>\S+)$", re.IGNORECASE)
_INLINE_NAME_VERSION = re.compile(rf"^(?P<name>{_NAME})\s*[:=]\s*(?P<version>\S+)$")
_HASH_NAME = re.compile(rf"^#+\s*(?P<name>{_NAME})\s*:?$")
_COLON_NAME = re.compile(rf"^(?P<name>{_NAME})\s*:$")
_KEYED_NAME = re.compile(
    r"^(?:machine(?:\s*name)?|computer(?:\s*name)?|ps\s*computer\s*name|host(?:\s*name)?"
    r"|server\s*name|tentacle(?:\s*name)?|deployment\s+target|target)\s*[:=]\s*"
    rf"(?P<name>{_QUOTED_OR_NAME}(?:\s+{_NAME}){{0,4}})$",
    re.IGNORECASE,
)
# Words that end with a colon on a line of their own in logs and shell output; not machines.
_NOT_A_NAME = frozenset(
    {"version", "error", "errors", "warning", "warnings", "info", "output", "exception",
     "result", "results", "note", "details", "stacktrace", "message", "status", "usage",
     "machine", "computer", "computername", "host", "hostname", "target", "tentacle", "server"}
)  # fmt: skip
_PAIR = re.compile(rf"^(?P<name>{_NAME})\s*[,;\t]\s*(?P<version>[^\s,;]+)\s*[,;]?$")

_PROMPT = re.compile(r"^(?:PS\s[^>]{0,200}>|[A-Za-z]:\\[^>]{0,200}>|[$#>])\s?(?P<command>.*)$")
_VERSION_COMMAND = re.compile(
    r"tentacle(?:\.exe)?[\"']?\s+version(?:\s+--?format[=\s]\S+)?\s*$", re.IGNORECASE
)
_HOSTNAME_COMMAND = re.compile(
    r"^(?:hostname|\$env:computername|echo\s+%computername%|\[environment\]::machinename)\s*$",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"^(?:task\s+(?:id|status|queued|started|completed|duration)\s*:"
    r"|related\s+ids\s*:|server\s+(?:version|node)\s*:"
    # A .NET stack frame. The method name stops at its "(": with \S+ there, a long line of "("
    # without a ")" was tried at every "(" against the rest of the line (quadratic).
    r"|at\s+[^\s(]+\(.*\)(?:\s+in\s+.*)?$"
    r"|--->|---\s*end\s+of\s+(?:inner\s+exception\s+)?stack\s+trace"
    r"|[=\-_*#]{3,}$)",
    re.IGNORECASE,
)

_NAME_COLUMNS = (
    "name", "machine", "machine_name", "machinename", "tentacle", "tentacle_name",
    "deployment_target", "target", "computer", "computer_name", "computername",
    "pscomputername", "hostname", "host",
)  # fmt: skip
_VERSION_COLUMNS = ("version", "tentacle_version", "tentacleversion")
_STATUS_COLUMNS = ("status", "health", "health_status", "healthstatus")
_STATUS_VALUES: dict[str, bool] = {
    "healthy": True,
    "haswarnings": True,
    "healthy with warnings": True,
    "healthywithwarnings": True,
    "online": True,
    "ok": True,
    "up": True,
    "true": True,
    "yes": True,
    "unhealthy": False,
    "unavailable": False,
    "offline": False,
    "failed": False,
    "down": False,
    "unreachable": False,
    "false": False,
    "no": False,
}


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Machine:
    name: str
    version: str = ""
    healthy: bool | None = None
    still_on_2x: bool = False
    source: EvidenceSource = "tentacle-version"
    source_line: int = 0
    signals: list[str] = field(default_factory=list)
    # An ordered set: a machine named on every line of a long paste is looked up in constant
    # time (a list's `in` made a pasted megabyte of one repeated line quadratic).
    lines: dict[int, None] = field(default_factory=dict)

    def frozen(self) -> MachineEvidence:
        return MachineEvidence(
            name=self.name,
            version=self.version,
            healthy=self.healthy,
            still_on_2x=self.still_on_2x,
            source_line=self.source_line,
            source=self.source,
            signals=tuple(self.signals),
            lines=tuple(self.lines),
        )


@dataclass
class _Context:
    """The machine that unnamed evidence on the following lines belongs to."""

    name: str
    kind: Literal["name", "health"]
    line: int
    text: str
    version: Version | None = None  # the version this context has already given
    used: bool = False


@dataclass
class _Csv:
    delimiter: str
    name: int
    version: int
    status: int | None


class _Parser:
    def __init__(self) -> None:
        self.machines: dict[str, _Machine] = {}
        self.unattributed_versions: list[tuple[int, str]] = []
        self.unattributed_signals: list[tuple[int, str]] = []
        self.unrecognised: list[tuple[int, str]] = []
        self.context: _Context | None = None
        self.csv: _Csv | None = None
        self.json_lines: list[tuple[int, str]] | None = None
        self.expect_hostname = False

    # -- results --------------------------------------------------------------------------

    def report(self) -> EvidenceReport:
        self._close_context()
        if self.json_lines is not None:  # an object never closed
            self.unrecognised += [(n, _shown(t.strip())) for n, t in self.json_lines if t.strip()]
        return EvidenceReport(
            machines=tuple(m.frozen() for m in self.machines.values()),
            unattributed_versions=tuple(self.unattributed_versions),
            unattributed_signals=tuple(self.unattributed_signals),
            unrecognised=tuple(sorted(self.unrecognised)),
        )

    def _machine(self, name: str, number: int, source: EvidenceSource) -> _Machine:
        key = name.casefold()
        machine = self.machines.get(key)
        if machine is None:
            machine = self.machines[key] = _Machine(name)
        machine.source, machine.source_line = source, number
        machine.lines[number] = None
        return machine

    def _set_version(
        self, name: str, version: Version, number: int, source: EvidenceSource
    ) -> None:
        machine = self._machine(name, number, source)
        machine.version = str(version)
        machine.still_on_2x = version.major < 3

    def _set_health(self, name: str, healthy: bool, number: int) -> None:
        self._machine(name, number, "health-log").healthy = healthy

    def _signal(self, code: str, number: int) -> None:
        context = self.context
        if context is None:
            self.unattributed_signals.append((number, code))
            return
        context.used = True
        # Log evidence, whether from the server's task log or the Tentacle's own log file.
        machine = self._machine(context.name, number, "health-log")
        if code not in machine.signals:
            machine.signals.append(code)
        if code in _SIGNALS_MEANING_2X:
            machine.still_on_2x = True
        if code.startswith("halibut-"):
            machine.healthy = False

    def _context_version(self, version: Version, number: int, source: EvidenceSource) -> None:
        """A version with no name on its line: it belongs to the current context, if any."""
        context = self.context
        if context is None or (context.version is not None and context.version != version):
            # No name, or a second, different version under one name: don't guess whose it is.
            self.unattributed_versions.append((number, str(version)))
            return
        context.version, context.used = version, True
        self._set_version(context.name, version, number, source)

    # -- contexts -------------------------------------------------------------------------

    def _open_context(
        self, name: str, kind: Literal["name", "health"], number: int, text: str
    ) -> _Context:
        self._close_context()
        self.context = _Context(_unquoted(name), kind, number, text)
        return self.context

    def _close_context(self) -> None:
        context, self.context = self.context, None
        if context is not None and context.kind == "name" and not context.used:
            # A name with nothing after it is not evidence of anything: show it back.
            self.unrecognised.append((context.line, _shown(context.text)))

    # -- lines ----------------------------------------------------------------------------

    def feed(self, number: int, raw: str) -> None:
        text = raw.strip()
        if self.json_lines is not None:
            self._json_line(self.json_lines, number, raw)
            return
        if not text:
            self.csv = None
            return
        table = self.csv
        if table is not None and self._csv_row(table, number, raw):
            return
        self.csv = None
        if not self._line(number, raw, text):
            self.unrecognised.append((number, _shown(text)))
            # A broken row does not end a table; a line that is something else does.
            self.csv = table

    def _line(self, number: int, raw: str, text: str) -> bool:
        """Take a line outside a table or JSON object; False when it is none of ours."""
        if self._csv_header(raw):
            self._close_context()
            return True
        if text.startswith("{"):
            self.json_lines = []
            self._json_line(self.json_lines, number, raw)
            return True
        if self.expect_hostname:
            self.expect_hostname = False
            if re.fullmatch(_NAME, text):
                self._open_context(text, "name", number, text)
                return True
        line = _without_log_prefix(text)
        if not line:
            return True
        return any(
            handler(number, line)
            for handler in (
                self._health_line,
                self._signal_line,
                self._version_line,
                self._name_line,
                self._shell_line,
                self._pair_line,
            )
        ) or bool(_BOILERPLATE.match(line))

    def _health_line(self, number: int, line: str) -> bool:
        if match := _HEALTH_SECTION.match(line):
            name = match["name"].strip()
            if _NOT_A_MACHINE.match(name):
                self._close_context()
                return True
            context = self._open_context(name, "health", number, line)
            healthy = _SECTION_STATES.get(match["status"].casefold())
            if healthy is not None:
                context.used = True
                self._set_health(context.name, healthy, number)
            return True
        if match := _HEALTH_CHECK_ON.match(line):
            name = (match["name"] or match["name2"]).strip()
            if _NOT_A_MACHINE.match(name):
                self._close_context()
            else:
                self._open_context(name, "health", number, line)
            return True
        if match := _HEALTH_OUTCOME.match(line):
            name = _unquoted(match["name"])
            current = self.context
            if current is None or current.name.casefold() != name.casefold():
                current = self._open_context(name, "health", number, line)
            current.used = True
            state = " ".join(match["state"].casefold().split())
            self._set_health(name, state in _HEALTHY_STATES, number)
            return True
        if _HEALTH_SUMMARY.match(line):
            self._close_context()
            return True
        return False

    def _signal_line(self, number: int, line: str) -> bool:
        if "ConnectionInitializationFailedException" in line:
            self._signal("halibut-connection-failed", number)
        elif "ProtocolViolationException" in line and (
            "Pipefish" in line or "Request line should have three parts" in line
        ):
            self._signal("pipefish-protocol-violation", number)
        elif "HalibutClientException" in line or line.startswith(
            "An error occurred when sending a request to"
        ):
            self._signal("halibut-request-failed", number)
        else:
            return False
        return True

    def _version_line(self, number: int, line: str) -> bool:
        if match := _TENTACLE_VERSION.match(line):
            version = evidence_version(match["version"])
            if version is None:
                return False
            in_health = self.context is not None and self.context.kind == "health"
            source: EvidenceSource = (
                "health-log" if in_health and not match["banner"] else "tentacle-version"
            )
            self._context_version(version, number, source)
            return True
        if match := _VERSION_FIELD.match(line):
            version = evidence_version(match["version"])
            if version is None:
                return False
            self._context_version(version, number, "tentacle-version")
            return True
        if version := evidence_version(line):
            self._context_version(version, number, "tentacle-version")
            return True
        if match := _INLINE_NAME_VERSION.match(line):
            version = evidence_version(match["version"])
            if version is None or match["name"].casefold() in _NOT_A_NAME:
                return False
            self._close_context()
            self._set_version(match["name"], version, number, "tentacle-version")
            return True
        return False

    def _name_line(self, number: int, line: str) -> bool:
        match = _HASH_NAME.match(line) or _KEYED_NAME.match(line) or _COLON_NAME.match(line)
        if match is None or match["name"].casefold() in _NOT_A_NAME:
            return False
        self._open_context(match["name"].strip(), "name", number, line)
        return True

    def _shell_line(self, number: int, line: str) -> bool:
        match = _PROMPT.match(line)
        command = (match["command"] if match else line).strip()
        if _VERSION_COMMAND.search(command):
            return True  # the command whose output follows
        if _HOSTNAME_COMMAND.match(command):
            self.expect_hostname = True
            return True
        return match is not None and line[:1] not in "#>$"  # any other Windows prompt line

    def _pair_line(self, number: int, line: str) -> bool:
        match = _PAIR.match(line)
        if match is None or (version := evidence_version(match["version"])) is None:
            return False
        self._close_context()
        self._set_version(match["name"], version, number, "csv")
        return True

    # -- JSON (Tentacle.exe version --format=json) -----------------------------------------

    def _json_line(self, lines: list[tuple[int, str]], number: int, raw: str) -> None:
        lines.append((number, raw))
        if not raw.rstrip().endswith("}"):
            if len(lines) > 50:  # not the small object we know: give it back
                self.unrecognised += [(n, _shown(t.strip())) for n, t in lines if t.strip()]
                self.json_lines = None
            return
        self.json_lines = None
        start = lines[0][0]
        try:
            document = json.loads("\n".join(t for _, t in lines))
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            document = None
        version = None
        if isinstance(document, dict):
            for key in ("MajorMinorPatch", "InformationalVersion", "NuGetVersion", "Version"):
                value = document.get(key)
                if isinstance(value, str) and (version := evidence_version(value)):
                    break
        if version is None:
            self.unrecognised += [(n, _shown(t.strip())) for n, t in lines if t.strip()]
            return
        self._context_version(version, start, "tentacle-version")

    # -- CSV ------------------------------------------------------------------------------

    def _csv_header(self, raw: str) -> bool:
        best: _Csv | None = None
        best_width = 0
        for delimiter in (",", ";", "\t"):
            if delimiter not in raw:
                continue
            cells = [_column(cell) for cell in _cells(raw, delimiter)]
            name = _first_index(cells, _NAME_COLUMNS)
            version = _first_index(cells, _VERSION_COLUMNS)
            if name is None or version is None or len(cells) <= best_width:
                continue
            best = _Csv(delimiter, name, version, _first_index(cells, _STATUS_COLUMNS))
            best_width = len(cells)
        self.csv = best
        return best is not None

    def _csv_row(self, spec: _Csv, number: int, raw: str) -> bool:
        """Take a row of the open CSV; False when the line is not a row of it."""
        if spec.delimiter not in raw:
            return False
        # A name the planner's inventory download wrote as '=web (not a formula) is =web again.
        cells = [formula_restored(cell.strip()) for cell in _cells(raw, spec.delimiter)]
        needed = max(spec.name, spec.version, spec.status or 0)
        name = cells[spec.name] if len(cells) > needed else ""
        version_text = cells[spec.version] if len(cells) > needed else ""
        version = evidence_version(version_text) if version_text else None
        if not name or (version_text and version is None):
            self.unrecognised.append((number, _shown(raw.strip())))
            return True
        machine = self._machine(name, number, "csv")
        if version is not None:
            machine.version = str(version)
            machine.still_on_2x = version.major < 3
        if spec.status is not None:
            state = " ".join(cells[spec.status].casefold().split())
            if state in _STATUS_VALUES:
                machine.healthy = _STATUS_VALUES[state]
        return True


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _column(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().strip("\"'").casefold())


def _first_index(cells: list[str], names: Iterable[str]) -> int | None:
    for name in names:
        if name in cells:
            return cells.index(name)
    return None


def _unquoted(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        return name[1:-1].strip()
    return name


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _without_log_prefix(text: str) -> str:
    text = _TASK_LOG_PREFIX.sub("", text, count=1)
    text = _FILE_LOG_PREFIX.sub("", text, count=1)
    return text.strip()


def parse_evidence(text: str) -> EvidenceReport:
    """Read a paste of Tentacle versions, health-check logs and/or CSV. Never raises."""
    parser = _Parser()
    # Notepad's BOM, Windows and old-Mac line endings; a BOM may also start a pasted file
    # in the middle of a paste.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for number, line in enumerate(text.split("\n"), start=1):
        parser.feed(number, line.replace("\ufeff", "").replace("\x00", ""))
    return parser.report()


# ---------------------------------------------------------------------------------------------
# Matching against the plan


def _tentacle_target(target_version: str) -> Version | None:
    """The target as a Tentacle version, or None when it cannot be one.

    Tentacles are numbered 1.x to 8.x; a year-numbered target (2018.10 LTS) is a server
    version, and no Tentacle version can be compared with it.
    """
    if not target_version.strip():
        return None
    try:
        target = parse_version(target_version, "target_version")
    except PlanningError as error:
        raise ValueError(error.message) from error
    return None if target.major >= 2018 else target


def _judge(
    name: str, in_plan: bool, evidence: MachineEvidence | None, target: Version | None
) -> Match:
    if evidence is None:
        return Match(name, in_plan, "no-evidence", None, "", None, None, None, False)
    version = evidence_version(evidence.version) if evidence.version else None
    on_target = None
    if evidence.still_on_2x:
        upgraded: bool | None = False
        verdict: Verdict = "still-on-2x"
    elif version is not None:
        upgraded = True  # still_on_2x is False, so the version is 3.0 or later
        if target is not None:
            on_target = _at_least(version, target)
            verdict = "on-target" if on_target else "behind-target"
        else:
            verdict = "upgraded"
    else:
        upgraded = None
        verdict = "health-only"
    return Match(
        name=name,
        in_plan=in_plan,
        verdict=verdict if in_plan else "not-in-plan",
        evidence=evidence,
        version=evidence.version,
        upgraded=upgraded,
        on_target=on_target,
        healthy=evidence.healthy,
        still_on_2x=evidence.still_on_2x,
    )


def match_evidence(
    report: EvidenceReport, tentacle_names: list[str], target_version: str
) -> list[Match]:
    """One Match per Tentacle of the plan (in the given order), then one per machine in the
    paste that matches no Tentacle of the plan (in paste order, verdict "not-in-plan").

    Names match case-insensitively and exactly: ``web-01.corp.local`` is not ``web-01``.
    `target_version` is the Tentacle version the plan aims for; a year-numbered server
    version (or "") leaves `on_target` None. A health result alone never decides whether a
    Tentacle was upgraded: a healthy check from the 2.6 server means the opposite of one
    from the new server, and the paste does not say which server ran it.
    """
    target = _tentacle_target(target_version)
    found = report.by_name()
    planned = {name.casefold() for name in tentacle_names}
    matches = [_judge(name, True, found.get(name.casefold()), target) for name in tentacle_names]
    matches += [
        _judge(m.name, False, m, target)
        for m in report.machines
        if m.name.casefold() not in planned
    ]
    return matches
