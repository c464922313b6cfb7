"""The Tentacle fleet: instances grouped by machine, the manual track and the canary."""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from upgrade_planner.domain.planning.content import catalogue
from upgrade_planner.domain.planning.types import TentacleInput
from upgrade_planner.domain.versions import try_version
from upgrade_planner.domain.vocabulary import CommunicationStyle

_DEFAULT_ACCOUNTS = {"", "localsystem", "local system", "system", "nt authority\\system"}


def custom_account(tentacle: TentacleInput) -> str:
    account = tentacle.service_account.strip()
    return "" if account.lower() in _DEFAULT_ACCOUNTS else account


def is_per_user_install(tentacle: TentacleInput) -> bool:
    version = try_version(tentacle.version)
    line = catalogue().quirks["per_user_tentacle_line"]
    return version is not None and f"{version.major}.{version.minor}" == line


# In the order they are mentioned; each has "reason_*" and "short_*" wording fragments.
ManualReason = Literal["offline", "restricted", "per_user"]
MANUAL_REASONS: tuple[ManualReason, ...] = ("offline", "restricted", "per_user")


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


def choose_canary(machines: Sequence[Machine]) -> tuple[Machine, ...]:
    """The canary cohort among the machines Hydra upgrades.

    Rule: at least max(1, min(5, ⌈2% of the Hydra machines⌉)) machines; then more, greedily
    taking the machine that covers the most still-uncovered environments, communication styles
    and operating systems (ties broken by name order), until each one present among the Hydra
    machines is covered at least once; then, if still short of the minimum, the next machines in
    name order. Deterministic for a given inventory. A fleet where every machine has its own
    environment gets a canary of every machine; that is the honest answer to "cover each one".
    """
    candidates = sorted(machines, key=lambda m: sort_key(m.identity))
    if not candidates:
        return ()
    minimum = max(1, min(5, math.ceil(len(candidates) * 0.02)))
    features = [m.features for m in candidates]
    uncovered: set[tuple[str, str]] = set().union(*features)
    heap = [(-len(f), index) for index, f in enumerate(features)]
    heapq.heapify(heap)
    chosen: set[int] = set()
    # Lazy greedy set cover: a stale gain is only ever an over-estimate, so re-check on pop.
    while uncovered and heap:
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
        if len(chosen) >= minimum:
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
