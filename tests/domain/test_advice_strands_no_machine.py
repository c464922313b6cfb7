"""Advice that strands no machine (issue 14, deliverable 1): each rule, the situation it protects
and its source.

Sources (facts file § / docs path):
- HA order: §j (corrected), src/shared-content/upgrade/upgrade-high-availability.include.md.
- Re-pointing hand-upgraded polling Tentacles: §c.4, §g, §k.6,
  docs/administration/upgrading/upgrading-from-octopus-2.6/using-hydra.include.md and
  docs/administration/tentacle.exe-command-line/poll-server.md.
- Who the 2.6 server can reach, and the canary: §k.6, §c.3 (using-hydra.include.md),
  docs/administration/upgrading/legacy/upgrading-from-octopus-1.6-2.6.5.md; the canary's size
  is our inference.
- No Hydra, no "Hydra first": §b.1, §c.5 (manual-upgrade.md, using-hydra.include.md).
- No point of no return where the text gives the way back: §b.3, §f (in-place guide,
  troubleshooting.md).
- One window for consecutive hops: §k.5 (our inference from the standard process, §j).
- A major hop needs the folder backup: §k.5,
  src/pages/docs/administration/upgrading/guide/upgrading-major-releases.mdx.
"""

from __future__ import annotations

import pytest

from tests.plans.builders import (
    ancestors,
    by_key,
    codes,
    fleet,
    kinds,
    only,
    plan,
    steps_of,
    tentacle,
    warning,
)
from upgrade_planner.domain.planner import PlanningError

# --- HA: stop every node, back up, upgrade one node, then the others, start, test -------------

MODERN = {"server_version": "2023.1.0", "target_version": "2023.3.1"}


@pytest.mark.parametrize("nodes", [("node-a", "node-b"), ("n1", "n2", "n3", "n4")])
def test_ha_plan_stops_every_node_before_the_first_upgrade(nodes):
    result = plan(**MODERN, ha_nodes=nodes)

    stops = steps_of(result, "stop-server-node")
    upgrades = steps_of(result, "upgrade-server-modern")
    assert [s.key for s in stops] == [f"0:stop-server-node:{node}" for node in nodes]
    assert [s.key for s in upgrades] == [f"0:upgrade-server-modern:{node}" for node in nodes]
    backup = only(result, "backup-database")
    assert {s.key for s in stops} <= set(backup.depends_on)
    for upgrade in upgrades:
        assert {s.key for s in stops} | {backup.key} <= ancestors(result, upgrade.key)
    assert "0:maintenance-mode-on" in ancestors(result, stops[0].key)


def test_ha_plan_upgrades_one_node_first_then_the_others_then_starts_them_all():
    result = plan(**MODERN, ha_nodes=("alpha", "beta", "gamma"))

    first, *others = steps_of(result, "upgrade-server-modern")
    assert first.key.endswith(":alpha") and "first" in first.title
    assert "database --upgrade" in first.detail and "2023.2.9755" in first.detail
    for other in others:
        assert other.depends_on == (first.key,)
        assert "database --upgrade" not in other.detail
    starts = steps_of(result, "start-server-node")
    assert len(starts) == 3
    for start in starts:
        assert {s.key for s in [first, *others]} <= set(start.depends_on)
    verify = only(result, "verify-server-upgrade")
    assert {s.key for s in starts} <= set(verify.depends_on)
    assert "0:maintenance-mode-off" in [s.key for s in result.steps]
    assert ancestors(result, "0:maintenance-mode-off") >= {s.key for s in starts}


@pytest.mark.parametrize("nodes", [(), ("only-node",), ("node-a", "node-b")])
def test_no_modern_plan_says_drain_and_upgrade_one_node_first(nodes):
    result = plan(**MODERN, ha_nodes=nodes)

    for step in result.steps:
        assert "drain and upgrade one node first" not in step.detail
        if step.kind == "upgrade-server-modern":
            assert "--drain" not in step.detail


@pytest.mark.parametrize("nodes", [(), ("only-node",)])
def test_no_nodes_or_one_name_is_a_single_server(nodes):
    result = plan(**MODERN, ha_nodes=nodes)

    assert steps_of(result, "stop-server-node") == []
    assert steps_of(result, "start-server-node") == []
    (upgrade,) = steps_of(result, "upgrade-server-modern")
    assert upgrade.key == "0:upgrade-server-modern"
    assert "list its nodes" in upgrade.detail


@pytest.mark.parametrize(
    ("nodes", "field", "words"),
    [
        (("a", ""), "ha_nodes[1]", "Give the node a name"),
        (("a", "   "), "ha_nodes[1]", "Give the node a name"),
        (("Node-A", "node-a"), "ha_nodes[1]", "listed twice"),
        (("a", "x" * 101), "ha_nodes[1]", "at most 100 characters"),
        (("a\x00b",), "ha_nodes[0]", "control characters"),
        (tuple(f"n{i}" for i in range(33)), "ha_nodes[32]", "at most 32 nodes"),
    ],
)
def test_bad_node_names_are_refused_naming_the_node(nodes, field, words):
    with pytest.raises(PlanningError) as refused:
        plan(**MODERN, ha_nodes=nodes)

    assert refused.value.field == field
    assert words in refused.value.message


def test_a_name_of_100_characters_and_32_nodes_are_accepted():
    nodes = ("x" * 100, *(f"n{i}" for i in range(31)))

    result = plan(**MODERN, ha_nodes=nodes)

    assert len(steps_of(result, "stop-server-node")) == 32


def test_ha_nodes_get_their_steps_in_every_hop_of_the_window():
    result = plan(server_version="2019.13.0", target_version="2023.3.1", ha_nodes=("a", "b"))

    for hop in range(len(result.path)):
        hop_kinds = kinds(result, hop=hop)
        assert "stop-server-node" in hop_kinds and "start-server-node" in hop_kinds


# --- Polling Tentacles upgraded by hand are re-pointed when the address changes ---------------


@pytest.mark.parametrize(
    ("approach", "fields", "address"),
    [
        ("new-server", {"new_server_url": "https://octo3.corp"}, "--server=https://octo3.corp"),
        ("new-server", {}, "--server=https://<new-server>"),
        (
            "in-place",
            {"old_server_url": "https://old.corp", "new_server_url": "https://octo3.corp"},
            "--server=https://octo3.corp",
        ),
        (
            "manual",
            {"old_server_url": "https://old.corp", "new_server_url": "https://octo3.corp"},
            "--server=https://octo3.corp",
        ),
    ],
)
def test_a_polling_tentacle_upgraded_by_hand_is_repointed_when_the_address_changes(
    approach, fields, address
):
    tentacles = (
        *fleet(12),
        tentacle("locked", communication_style="polling", restricted_permissions=True),
    )
    result = plan(approach=approach, tentacles=tentacles, **fields)

    step = only(result, "repoint-polling-tentacle")
    assert step.tentacles == ("locked",)
    assert "Tentacle.exe poll-server" in step.detail and address in step.detail
    assert "--server-comms-port=" in step.detail and "--stop --start" in step.detail
    assert step.source == "docs/administration/tentacle.exe-command-line/poll-server.md"
    before = ancestors(result, step.key)
    assert "0:upgrade-tentacle:locked" in before and "0:migrate-data" in before
    assert step.key in ancestors(result, "0:verify-new-server-health")
    if approach == "new-server":
        assert step.key in ancestors(result, "0:decommission-old-server")
        assert "--server-comms-port=10943" in step.detail


@pytest.mark.parametrize(
    ("approach", "fields"),
    [
        ("in-place", {}),
        ("in-place", {"old_server_url": "https://octo.corp"}),
        (
            "in-place",
            {"old_server_url": "https://octo.corp", "new_server_url": "https://octo.corp"},
        ),
        ("manual", {"old_server_url": "https://octo.corp"}),
    ],
)
def test_no_repoint_step_when_the_server_keeps_its_address(approach, fields):
    tentacles = (*fleet(12), tentacle("locked", communication_style="polling", online=False))
    result = plan(approach=approach, tentacles=tentacles, **fields)

    assert steps_of(result, "repoint-polling-tentacle") == []
    upgrade = by_key(result)["0:upgrade-tentacle:locked"]
    assert "reconnect" in upgrade.detail and "poll-server" in upgrade.detail


def test_polling_tentacles_upgraded_by_hydra_are_not_repointed_by_hand():
    tentacles = tuple(tentacle(f"p-{i}", communication_style="polling") for i in range(6))
    result = plan(approach="new-server", tentacles=tentacles)

    assert steps_of(result, "repoint-polling-tentacle") == []
    assert "Server Mapping" in only(result, "hydra-prepare").detail


def test_a_multi_instance_machine_is_repointed_once_naming_each_polling_instance():
    tentacles = (
        tentacle("m1", hostname="multi.corp", communication_style="polling", online=False),
        tentacle("m2", hostname="multi.corp", communication_style="polling", online=False),
        tentacle("m3", hostname="multi.corp", online=False),
    )
    result = plan(approach="new-server", tentacles=tentacles)

    step = only(result, "repoint-polling-tentacle")
    assert step.tentacles == ("m1", "m2")
    assert "m1, m2" in step.detail and "own instance name" in step.detail


# --- The canary: only machines the 2.6 server can reach, a few, worded to its size ------------


@pytest.mark.parametrize(
    ("version", "os", "hydra"),
    [
        ("1.6.3.1723", "Windows Server 2008 R2", False),  # a 2.x server cannot talk to 1.6
        ("1.9.99", "Windows Server 2012", False),
        ("2.0.0", "Windows Server 2012", False),  # 2.0 per-user install
        ("2.6.5", "Windows Server 2012", True),
        ("2.99.0", "Windows Server 2012", True),
        ("3.0.0", "Windows Server 2012", False),  # already the new protocol
        ("3.17.14", "Windows Server 2012", False),
        ("2.6.5", "Ubuntu 22.04", False),  # 2.6 had Windows Tentacles only
        ("2.6.5", "CentOS 7", False),
        ("2.6.5", "2012 R2", True),  # no system named: not questioned
        ("2.6.5", "", True),
    ],
)
def test_the_canary_never_holds_a_tentacle_the_2_6_server_cannot_reach(version, os, hydra):
    odd = tentacle("aaa-odd", version=version, os=os, environments=("Lonely",))
    result = plan(tentacles=(odd, *fleet(12)))

    upgrade = by_key(result)["0:upgrade-tentacle:aaa-odd"]
    assert (upgrade.method == "hydra") is hydra
    assert ("aaa-odd" in result.canary) is (hydra and upgrade.canary)
    if not hydra:
        assert "aaa-odd" not in result.canary
        assert "manual track" in upgrade.detail


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"version": "1.6.0"}, "Running a 1.x Tentacle"),
        ({"version": "3.4.0"}, "Already running Tentacle 3.x"),
        ({"os": "Ubuntu 22.04"}, "Octopus 2.6 had Windows Tentacles only"),
        ({"online": False}, "Offline: odd"),
    ],
)
def test_a_tentacle_the_2_6_server_cannot_reach_is_named_in_a_warning(fields, words):
    result = plan(tentacles=(tentacle("odd", **fields), *fleet(4)))

    found = warning(result, "offline-tentacles")
    assert words in found.text
    assert "odd" in found.text


def test_a_non_windows_machine_is_questioned_even_in_the_manual_approach():
    result = plan(approach="manual", tentacles=(tentacle("lin", os="Ubuntu 22.04"), *fleet(2)))

    assert "offline-tentacles" in codes(result)
    assert "not Windows" in by_key(result)["0:upgrade-tentacle:lin"].detail


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 8, 9, 12, 15, 20, 30])
def test_the_canary_is_a_few_machines_never_most_of_a_small_fleet(count):
    # Every machine in its own environment: full coverage would take the whole fleet.
    tentacles = tuple(tentacle(f"m-{i:02d}", environments=(f"Env{i}",)) for i in range(count))
    result = plan(tentacles=tentacles)

    assert 1 <= len(result.canary) <= max(1, min(5, count // 3))
    if count >= 6:
        assert len(result.canary) >= 2


@pytest.mark.parametrize(
    ("count", "phrase"),
    [(3, "the canary machine"), (6, "the 2 canary machines"), (15, "the 2 canary machines")],
)
def test_the_canary_steps_are_worded_for_the_canary_size(count, phrase):
    result = plan(tentacles=fleet(count))

    verify = only(result, "verify-canary")
    assert phrase in verify.title
    assert phrase in only(result, "hydra-prepare").detail
    if len(result.canary) == 1:
        assert "the canaries should" not in verify.detail
        assert "canary or two" not in verify.detail
    else:
        assert "Canary machines:" in verify.detail


# --- A fleet Hydra cannot reach is not "in-place, Hydra first" --------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"restricted_permissions": True},
        {"version": "2.0.13.1100"},
        {"online": False},
        {"version": "3.4.0"},
    ],
)
def test_a_fleet_hydra_cannot_reach_is_recommended_the_manual_upgrade(fields):
    result = plan(can_provision_new_server=False, tentacles=fleet(15, **fields))

    assert result.recommended_approach == "manual" and result.approach == "manual"
    assert "Hydra can reach none" in result.reasons[0]
    why_not = {a.approach: a.why_not for a in result.alternatives}
    assert "Hydra can reach none" in why_not["in-place"]
    assert "Hydra can reach none" in warning(result, "handful-threshold").text


def test_one_tentacle_hydra_can_reach_keeps_in_place_for_a_large_fleet():
    tentacles = (*fleet(15, restricted_permissions=True), tentacle("reachable"))
    result = plan(can_provision_new_server=False, tentacles=tentacles)

    assert result.recommended_approach == "in-place"


def test_a_new_server_stays_the_recommendation_when_hydra_cannot_reach_any_tentacle():
    result = plan(can_provision_new_server=True, tentacles=fleet(15, online=False))

    assert result.recommended_approach == "new-server"


# --- In-place plans: no false point of no return, no new server's placeholder -----------------


def test_the_in_place_server_install_is_no_point_of_no_return_its_text_gives_the_way_back():
    result = plan(approach="in-place", tentacles=fleet(12))

    install = only(result, "install-server-in-place")
    assert "re-running the 2.6 installer is the way back" in install.detail
    assert install.point_of_no_return is False
    assert install.fleet_gate is True


@pytest.mark.parametrize("approach", ["in-place", "manual"])
def test_a_plan_without_a_new_server_never_shows_the_new_server_placeholder(approach):
    tentacles = (*fleet(12, communication_style="polling"), tentacle("x", online=False))
    result = plan(approach=approach, tentacles=tentacles, polling_port=10934)

    texts = [s.detail for s in result.steps] + [s.title for s in result.steps]
    texts += [w.text + w.action for w in result.warnings] + list(result.reasons)
    texts += list(result.assumptions)
    assert not any("<new-server>" in text for text in texts)
    assert not any("10934" in text and "this plan uses" in text for text in texts)
    assert not any("new server's address" in text for text in texts)


def test_the_new_server_mapping_uses_the_port_given_for_it():
    tentacles = (tentacle("p", communication_style="polling"),)
    result = plan(approach="new-server", tentacles=tentacles, polling_port=10934)

    assert "`https://<new-server>:10934`" in only(result, "hydra-prepare").detail


# --- Consecutive hops run as one window -------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target"),
    [("3.2.0", "2018.4.0"), ("2018.10.0", "2023.3.1"), ("2.6.5", "2020.3.0"), ("1.2", "2019.3.1")],
)
def test_consecutive_hops_run_as_one_window(current, target):
    result = plan(server_version=current, target_version=target, tentacles=fleet(3))

    assert len(steps_of(result, "maintenance-mode-on")) == 1
    assert len(steps_of(result, "maintenance-mode-off")) == 1
    (tentacles,) = steps_of(result, "upgrade-tentacles-modern")
    last = len(result.path) - 1
    assert tentacles.hop == last and only(result, "maintenance-mode-off").hop == last
    for step in result.steps:
        if step.hop == 0:
            continue
        required = {s.key for s in result.steps if s.hop == step.hop - 1 and not s.optional}
        assert required <= ancestors(result, step.key), step.key


def test_the_maintenance_window_is_not_closed_between_hops():
    result = plan(server_version="3.2.0", target_version="2018.4.0")

    off = only(result, "maintenance-mode-off")
    upgrades = steps_of(result, "upgrade-server-modern")
    assert len(upgrades) == 3
    assert {s.key for s in upgrades} <= ancestors(result, off.key)
    assert "one window" in only(result, "maintenance-mode-on").detail


def test_the_old_2_6_server_is_decommissioned_after_every_tentacle_before_the_next_hop():
    tentacles = (*fleet(6), tentacle("dark", online=False, communication_style="polling"))
    result = plan(server_version="2.6.5", target_version="2020.3.0", tentacles=tentacles)

    decommission = only(result, "decommission-old-server")
    per_tentacle = {s.key for s in result.steps if s.tentacles and s.hop == decommission.hop}
    assert per_tentacle <= ancestors(result, decommission.key)
    assert decommission.key in ancestors(result, "1:backup-license-key")


# --- A major-version hop requires the folder backup -------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "required"),
    [
        ("2019.1.0", "2019.3.1", False),
        ("2019.13.0", "2020.1.0", True),
        ("2020.6.0", "2021.1.8018", True),
        ("3.17.14", "2018.10.0", True),
        ("3.4.0", "3.17.14", False),
    ],
)
def test_a_major_version_hop_requires_the_folder_backup(current, target, required):
    result = plan(server_version=current, target_version=target)

    (folders,) = steps_of(result, "backup-server-folders")
    assert folders.optional is not required
    if required:
        assert "required" in folders.detail
        assert folders.key in ancestors(result, "0:upgrade-server-modern")
