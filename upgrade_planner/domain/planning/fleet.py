"""The Tentacle fleet: instances grouped by machine, the manual track and the canary."""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from upgrade_planner.domain.planning.content import catalogue
from upgrade_planner.domain.planning.types import TentacleInput
from upgrade_planner.domain.versions import Version, try_version
from upgrade_planner.domain.vocabulary import CommunicationStyle

_DEFAULT_ACCOUNTS = {"", "localsystem", "local system", "system", "nt authority\\system"}


def custom_account(tentacle: TentacleInput) -> str:
    account = tentacle.service_account.strip()
    return "" if account.lower() in _DEFAULT_ACCOUNTS else account


def is_per_user_install(tentacle: TentacleInput) -> bool:
    version = try_version(tentacle.version)
    line = catalogue().quirks["per_user_tentacle_line"]
    return version is not None and f"{version.major}.{version.minor}" == line


# Who the 2.6 server can reach (facts §k.6): a 2.x server cannot talk to a 1.x Tentacle
# (docs/administration/upgrading/legacy/upgrading-from-octopus-1.6-2.6.5.md), and once a
# Tentacle runs 3.x or later the 2.6 server cannot talk to it either
# (docs/administration/upgrading/upgrading-from-octopus-2.6/using-hydra.include.md).
FIRST_2X_TENTACLE = Version(2, 0)
FIRST_NEW_PROTOCOL_TENTACLE = Version(3, 0)

# Octopus 2.6 had Windows Tentacles only (facts §k.6): an OS that names another system is a row
# to question. Matched by name, so that a Windows OS written without the word ("2012 R2") is
# not questioned; an OS that names Windows is never questioned.
_WINDOWS = re.compile(r"\bwin", re.IGNORECASE)
_OTHER_SYSTEMS = re.compile(
    r"linux|ubuntu|debian|cent\s*os|red\s*hat|rhel|fedora|suse|alpine|mac\s*os|os\s*x|darwin|"
    r"unix|aix|solaris|bsd|oracle\s+linux|rocky|alma",
    re.IGNORECASE,
)


def is_too_old_for_2_6(tentacle: TentacleInput) -> bool:
    """A 1.x Tentacle: the 2.6 server cannot talk to it, so Hydra cannot reach it."""
    version = try_version(tentacle.version)
    return version is not None and version < FIRST_2X_TENTACLE


def is_already_new(tentacle: TentacleInput) -> bool:
    """A Tentacle already on 3.x or later: it speaks the new protocol, not the 2.6 server's."""
    version = try_version(tentacle.version)
    return version is not None and version >= FIRST_NEW_PROTOCOL_TENTACLE


def is_non_windows(tentacle: TentacleInput) -> bool:
    """The OS names a system other than Windows: not a Tentacle of a 2.6 estate."""
    return _names_other_system(tentacle.os)


# A fleet names a handful of operating systems for thousands of Tentacles: each is matched
# once, not twice per Tentacle.
@functools.lru_cache(maxsize=1024)
def _names_other_system(os: str) -> bool:
    return _OTHER_SYSTEMS.search(os) is not None and _WINDOWS.search(os) is None


# In the order they are mentioned; each has "reason_*" and "short_*" wording fragments.
ManualReason = Literal["offline", "restricted", "per_user", "too_old", "already_new", "non_windows"]
MANUAL_REASONS: tuple[ManualReason, ...] = (
    "offline",
    "restricted",
    "per_user",
    "too_old",
    "already_new",
    "non_windows",
)


@dataclass(frozen=True)
class Machine:
    """One machine and the Tentacle instances on it (they share one copy of the binaries)."""

    identity: str  # the key part: the hostname for multi-instance machines, else the name
    display: str
    tentacles: tuple[TentacleInput, ...]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tentacles)

    @property
    def multi(self) -> bool:
        return len(self.tentacles) > 1

    @functools.cached_property
    def manual_reasons(self) -> tuple[ManualReason, ...]:
        """Why Hydra cannot upgrade this machine, or () when it can."""
        reasons: list[ManualReason] = []
        if any(not t.online for t in self.tentacles):
            reasons.append("offline")
        if any(t.restricted_permissions for t in self.tentacles):
            reasons.append("restricted")
        if any(is_per_user_install(t) for t in self.tentacles):
            reasons.append("per_user")
        if any(is_too_old_for_2_6(t) for t in self.tentacles):
            reasons.append("too_old")
        if any(is_already_new(t) for t in self.tentacles):
            reasons.append("already_new")
        if any(is_non_windows(t) for t in self.tentacles):
            reasons.append("non_windows")
        return tuple(reasons)

    @functools.cached_property
    def polling(self) -> bool:
        return any(t.communication_style == CommunicationStyle.POLLING for t in self.tentacles)

    @functools.cached_property
    def features(self) -> frozenset[tuple[str, str]]:
        found: set[tuple[str, str]] = {("style", t.communication_style) for t in self.tentacles}
        found |= {("env", env) for t in self.tentacles for env in t.environments}
        found |= {("os", t.os.strip().lower()) for t in self.tentacles if t.os.strip()}
        return frozenset(found)


def sort_key(text: str) -> tuple[str, str]:
    return (text.casefold(), text)


def group_machines(tentacles: Sequence[TentacleInput]) -> list[Machine]:
    """One Machine per host name (case-insensitive); Tentacles without one stand alone."""
    by_host: dict[str, list[TentacleInput]] = {}
    machines: list[Machine] = []
    for tentacle in tentacles:
        host = tentacle.hostname.strip().lower()
        if host:
            by_host.setdefault(host, []).append(tentacle)
        else:
            machines.append(Machine(tentacle.name, tentacle.name, (tentacle,)))
    groups: list[tuple[str, list[TentacleInput]]] = []
    for host, group in by_host.items():
        if len(group) == 1:
            machines.append(Machine(group[0].name, group[0].hostname.strip(), (group[0],)))
        else:
            group.sort(key=lambda t: sort_key(t.name))
            groups.append((host, group))
    # A host name may equal some other Tentacle's name; keys must stay unique all the same.
    names = {t.name for t in tentacles}
    taken = {m.identity for m in machines}
    for host, group in sorted(groups):
        identity, suffix = host, 1
        while identity in taken or (identity in names and all(t.name != identity for t in group)):
            identity = f"{host}#host{suffix if suffix > 1 else ''}"
            suffix += 1
        taken.add(identity)
        machines.append(Machine(identity, group[0].hostname.strip(), tuple(group)))
    machines.sort(key=lambda m: sort_key(m.identity))
    return machines


CANARY_CAP = 5


def canary_size(candidates: int) -> tuple[int, int]:
    """(at least, at most) machines in the canary of `candidates` Hydra machines.

    Our inference from "test on a few machines first" (facts §k.6, using-hydra.include.md): a
    few, more than one where the fleet allows, never most of a small fleet. At most a third of
    the machines (rounded down, at least 1), capped at CANARY_CAP; at least 2 (or ⌈2%⌉ in a
    large fleet) within that cap.
    """
    if candidates <= 0:
        return 0, 0
    most = max(1, min(CANARY_CAP, candidates // 3))
    least = min(most, max(2, math.ceil(candidates * 0.02)))
    return least, most


def choose_canary(machines: Sequence[Machine]) -> tuple[Machine, ...]:
    """The canary cohort among the machines Hydra upgrades.

    Rule (canary_size): between "at least" and "at most" machines. Greedily take the machine
    covering the most still-uncovered environments, communication styles and operating systems
    (ties broken by name order) while any is uncovered and the cohort is below "at most"; then,
    if still below "at least", the next machines in name order. Deterministic for a given
    inventory. Callers pass only machines the 2.6 server can reach with Hydra.
    """
    candidates = sorted(machines, key=lambda m: sort_key(m.identity))
    least, most = canary_size(len(candidates))
    if not candidates:
        return ()
    features = [m.features for m in candidates]
    uncovered: set[tuple[str, str]] = set().union(*features)
    heap = [(-len(f), index) for index, f in enumerate(features)]
    heapq.heapify(heap)
    chosen: set[int] = set()
    # Lazy greedy set cover: a stale gain is only ever an over-estimate, so re-check on pop.
    while uncovered and heap and len(chosen) < most:
        stale, index = heapq.heappop(heap)
        gain = len(features[index] & uncovered)
        if gain == 0:
            continue
        if gain < -stale:
            heapq.heappush(heap, (-gain, index))
            continue
        chosen.add(index)
        uncovered -= features[index]
    for index in range(len(candidates)):
        if len(chosen) >= least:
            break
        chosen.add(index)
    return tuple(candidates[i] for i in sorted(chosen))


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def name_list(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b and 3 more'."""
    if len(names) <= 1:
        return "".join(names)
    if len(names) <= 3:
        return f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{', '.join(names[:2])} and {len(names) - 2} more"
