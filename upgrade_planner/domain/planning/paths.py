"""The version path: required stops (facts §a) and the known broken paths of the release
catalogue (facts §a.2, §k.3), compared build by build."""

from __future__ import annotations

from dataclasses import dataclass

from upgrade_planner.domain.catalogue import BrokenPath, release_catalogue
from upgrade_planner.domain.planning.content import catalogue, fill
from upgrade_planner.domain.planning.types import Hop
from upgrade_planner.domain.versions import Version


@dataclass(frozen=True)
class Leg:
    start: Version
    end: Version
    start_label: str
    end_label: str
    kind: str
    reason: str
    source: str
    avoid: BrokenPath | None = None  # a target the catalogue says to avoid (the first rule)

    def hop(self) -> Hop:
        return Hop(self.start_label, self.end_label, self.kind, self.reason, self.source)

    @property
    def major_change(self) -> bool:
        return self.start.major != self.end.major


def detour(start: Version, end: Version) -> tuple[tuple[Version, ...], BrokenPath | None]:
    """The stops a known broken path forces between `start` and `end`, and the rule."""
    for rule in release_catalogue().broken_paths_for(start, end):
        if rule.via:
            via = tuple(v for v in rule.via if start < v < end)
            if via:
                return via, rule
    return (), None


def modern_jump(start: Version, end: Version) -> tuple[str, str, str]:
    reason, source = catalogue().hops["modern_major" if start.major != end.major else "modern"]
    return "modern", reason, source


def plan_path(current: Version, target: Version) -> list[Leg]:
    cat = catalogue()
    stops, hops = cat.stops, cat.hops
    one_six, two_six, lts = stops["one_six"], stops["two_six"], stops["lts_2018_10"]
    legs: list[Leg] = []
    at, at_label = current, str(current)

    def add(end: Version, label: str, kind: str, reason: str, source: str) -> None:
        nonlocal at, at_label
        values = {"current": at_label, "to": label, "target": str(target)}
        legs.append(Leg(at, end, at_label, label, kind, fill(reason, values), source))
        at, at_label = end, label

    def jump(end: Version, label: str, first_kind: str, reason: str, source: str) -> None:
        # A direct jump, unless a known broken path forces stops in between.
        via, rule = detour(at, end)
        if rule is None:
            add(end, label, first_kind, reason, source)
            return
        rule_reason = fill(rule.reason, {"target": label})
        if first_kind == "2.6-migration":
            # Leaving 2.6 stays the migration hop even when it has to stop short.
            add(via[0], str(via[0]), first_kind, f"{reason} {rule_reason}", source)
        else:
            add(via[0], str(via[0]), "detour", rule_reason, rule.source)
        for stop in via[1:]:
            add(stop, str(stop), "detour", rule_reason, rule.source)
        jump(end, label, *modern_jump(at, end))

    while at < target:
        if at < Version(1, 6):
            if target.major <= 1 and target < one_six.version:
                add(target, str(target), "pre-1.6", *hops["pre_1_6"])
            else:
                end = min(target, one_six.version)
                label = one_six.label if end == one_six.version else str(end)
                add(end, label, "pre-1.6", one_six.reason, one_six.source)
        elif at.major == 1:
            if target.major == 1:
                add(target, str(target), "pre-1.6", *hops["pre_1_6"])
            else:
                end = min(target, two_six.version)
                label = two_six.label if end == two_six.version else str(end)
                add(end, label, "1.6-to-2.6", *hops["one_six_to_two"])
        elif at.major == 2 and at < two_six.version:
            end = min(target, two_six.version)
            if end == two_six.version:
                add(end, two_six.label, "2.x-to-2.6", *hops["two_x_to_two_six"])
            else:
                add(end, str(end), "2.x-to-2.6", *hops["two_x_patch"])
        elif at.major == 2 and target.major == 2:
            add(target, str(target), "2.x-to-2.6", *hops["two_x_patch"])
        elif at.major == 2:
            reason, source = hops["migration"]
            if (target.major, target.minor) <= (lts.version.major, lts.version.minor):
                jump(target, str(target), "2.6-migration", reason, source)
            else:
                lts_reason = fill(lts.reason, {"target": str(target)})
                jump(lts.version, lts.label, "2.6-migration", f"{reason} {lts_reason}", source)
        else:
            jump(target, str(target), *modern_jump(at, target))

    # Targets to avoid: there is no way round them but another target. The leg's reason gives
    # every rule; the first one is the leg's `avoid`.
    last = legs[-1]
    for rule in release_catalogue().broken_paths_for(last.start, last.end):
        if not rule.via:
            note = f"{fill(rule.reason, {'target': last.end_label})} {rule.advice}"
            last = Leg(
                last.start,
                last.end,
                last.start_label,
                last.end_label,
                last.kind,
                f"{last.reason} {note}",
                last.source,
                avoid=last.avoid or rule,
            )
    legs[-1] = last
    return legs
