"""Which steps each approach has, in what order, and what they say."""

import random

import pytest

from tests.plans.builders import ancestors, by_key, fleet, kinds, only, plan, steps_of, tentacle
from upgrade_planner.domain.planner import STEP_KINDS, InstallationInput, make_plan
from upgrade_planner.domain.planning.content import catalogue

MIGRATION_KINDS = {
    "backup-license-key",
    "backup-database",
    "backup-master-key",
    "prune-history",
    "prepare-sql-server",
    "install-server-new-machine",
    "install-server-in-place",
    "migrate-data",
    "move-package-feed",
    "hydra-prepare",
    "upgrade-tentacle",
    "verify-canary",
    "verify-old-server-cut-off",
    "verify-new-server-health",
    "reinstall-tentacle-service",
    "reconfigure-service-account",
    "decommission-old-server",
    "cleanup-home-folder",
}


def test_new_server_follows_the_documented_order():
    result = plan(approach="new-server", uses_builtin_feed=True, tentacles=fleet(4))

    assert kinds(result) == [
        "backup-license-key",
        "backup-master-key",
        "backup-database",
        "prepare-sql-server",
        "install-server-new-machine",
        "migrate-data",
        "move-package-feed",
        "hydra-prepare",
        "upgrade-tentacle",  # the canary
        "verify-canary",
        "upgrade-tentacle",  # the rest
        "verify-old-server-cut-off",
        "verify-new-server-health",
        "decommission-old-server",
        "cleanup-home-folder",
    ]


def test_in_place_upgrades_every_tentacle_before_the_server():
    result = plan(approach="in-place", uses_builtin_feed=True, tentacles=fleet(4))

    assert kinds(result) == [
        "backup-license-key",
        "backup-master-key",
        "backup-database",
        "prepare-sql-server",
        "hydra-prepare",
        "upgrade-tentacle",
        "verify-canary",
        "upgrade-tentacle",
        "verify-old-server-cut-off",
        "install-server-in-place",
        "migrate-data",
        "move-package-feed",
        "verify-new-server-health",
        "cleanup-home-folder",
    ]
    install = only(result, "install-server-in-place")
    upgrades = {s.key for s in steps_of(result, "upgrade-tentacle")}
    assert upgrades | {"0:verify-old-server-cut-off"} <= set(install.depends_on)
    assert install.fleet_gate


def test_manual_upgrades_the_server_first_then_each_tentacle_by_hand():
    result = plan(approach="manual", uses_builtin_feed=True, tentacles=fleet(3))

    assert kinds(result) == [
        "backup-license-key",
        "backup-master-key",
        "backup-database",
        "prepare-sql-server",
        "install-server-in-place",
        "migrate-data",
        "move-package-feed",
        "upgrade-tentacle",
        "verify-new-server-health",
        "cleanup-home-folder",
    ]
    upgrades = steps_of(result, "upgrade-tentacle")
    assert all(s.method == "manual" and not s.canary for s in upgrades)
    assert all(s.depends_on == ("0:migrate-data",) for s in upgrades)
    assert not any(s.point_of_no_return for s in result.steps)
    assert result.canary == ()
    assert "no canary gate" in " ".join(result.assumptions)


BACKUP_KINDS = ("backup-license-key", "backup-master-key", "backup-database")


@pytest.mark.parametrize("approach", ["new-server", "in-place", "manual"])
def test_two_people_can_take_the_backups_at_once(approach):
    """Facts §d.1 and §b.1: no backup must come after another; the install waits for all."""
    result = plan(approach=approach, tentacles=fleet(4))
    keys = [only(result, kind).key for kind in BACKUP_KINDS]

    for key in keys:
        assert by_key(result)[key].depends_on == ()
    first_change = "install-server-new-machine" if approach == "new-server" else "hydra-prepare"
    if approach == "manual":
        first_change = "install-server-in-place"
    assert set(keys) <= set(only(result, first_change).depends_on)
    assert set(keys) <= ancestors(result, only(result, "migrate-data").key)


@pytest.mark.parametrize(
    ("fields", "prunes"),
    [
        ({"backup_size_mb": 300}, False),
        ({"backup_size_mb": 800}, False),
        ({"backup_size_mb": 1500}, True),
        ({"backup_size_mb": 100, "document_count": 200_000}, True),
    ],
)
def test_pruning_precedes_the_migrated_backup_only_for_large_data(fields, prunes):
    result = plan(**fields)

    assert bool(steps_of(result, "prune-history")) is prunes
    assert result.migration is not None and result.migration.prune_first is prunes
    if prunes:
        prune = only(result, "prune-history")
        assert only(result, "backup-database").depends_on == (prune.key,)
        assert prune.depends_on == ()
        assert "audit copy" in prune.detail
        assert "150,000" in prune.detail


@pytest.mark.parametrize(("ready", "optional"), [(True, True), (False, False)])
def test_preparing_sql_server_is_optional_only_when_it_is_ready(ready, optional):
    result = plan(sql_server_ready=ready)

    sql = only(result, "prepare-sql-server")
    assert sql.optional is optional
    assert sql.title.startswith("Confirm" if ready else "Prepare")
    assert "_CI_" in sql.detail
    assert sql.key in only(result, "install-server-new-machine").depends_on


@pytest.mark.parametrize("approach", ["new-server", "in-place", "manual"])
def test_the_package_feed_moves_after_the_data_only_when_used(approach):
    with_feed = plan(approach=approach, uses_builtin_feed=True)
    without = plan(approach=approach, uses_builtin_feed=False)

    feed = only(with_feed, "move-package-feed")
    assert feed.depends_on == ("0:migrate-data",)
    assert r"C:\Octopus\OctopusServer\Repository\Packages" in feed.detail
    assert feed.key in only(with_feed, "verify-new-server-health").depends_on
    assert steps_of(without, "move-package-feed") == []


def test_migrate_data_shows_the_migrator_command_with_the_sizing_flags():
    result = plan(backup_size_mb=900, history_days_to_keep=90)

    detail = only(result, "migrate-data").detail
    assert (
        'Octopus.Migrator.exe migrate --instance "OctopusServer" --file "<path to .octobak>" '
        '--master-key "<master key>" --maxage=90 --nologs'
    ) in detail
    assert "--onlylogs" in detail
    assert "at least 16 GB" in detail
    assert "cannot be undone" in detail


def test_hydra_is_prepared_on_the_old_server_after_the_migration_in_new_server():
    result = plan(approach="new-server", old_server_url="https://octopus2.corp")

    prepare = only(result, "hydra-prepare")
    assert prepare.depends_on == ("0:migrate-data",)
    assert "https://octopus2.corp" in prepare.detail
    assert "OctopusDeploy.Hydra" in prepare.detail
    assert "Hydra - Update Octopus Tentacle" in prepare.detail
    assert "leave it blank" in prepare.detail  # every Tentacle listens


def test_polling_tentacles_get_the_new_servers_polling_address_in_the_mapping():
    tentacles = (*fleet(2), tentacle("poller", communication_style="polling"))
    result = plan(tentacles=tentacles, new_server_url="https://octopus3.corp/", polling_port=10934)

    prepare = only(result, "hydra-prepare")
    assert "`https://octopus3.corp:10934`" in prepare.detail
    poller = next(s for s in steps_of(result, "upgrade-tentacle") if s.tentacle == "poller")
    assert "https://octopus3.corp:10934" in poller.detail


def test_the_mapping_uses_a_placeholder_host_when_the_new_server_is_unknown():
    tentacles = (tentacle("poller", communication_style="polling"),)
    result = plan(tentacles=tentacles, new_server_url="")

    assert "`https://<new-server>:10943`" in only(result, "hydra-prepare").detail


def test_in_place_mentions_that_the_older_guide_allows_a_blank_mapping():
    tentacles = (tentacle("poller", communication_style="polling"),)
    result = plan(approach="in-place", tentacles=tentacles, old_server_url="https://octo.corp")

    detail = only(result, "hydra-prepare").detail
    assert "`https://octo.corp:<polling-port>`" in detail
    assert "older in-place guide" in detail


def test_a_custom_service_account_is_reapplied_after_the_tentacle_is_healthy():
    tentacles = (*fleet(2), tentacle("svc", service_account="CORP\\deploy"))
    result = plan(tentacles=tentacles)

    step = only(result, "reconfigure-service-account")
    assert step.tentacle == "svc"
    assert step.optional is False
    assert (
        'Tentacle.exe service --instance "Tentacle" --reconfigure --username=CORP\\deploy '
        "--password=<password> --start --console"
    ) in step.detail
    upgrade = next(s for s in steps_of(result, "upgrade-tentacle") if s.tentacle == "svc")
    assert set(step.depends_on) == {"0:verify-new-server-health", upgrade.key}
    assert step.key in only(result, "decommission-old-server").depends_on


def test_local_system_is_not_a_custom_account():
    tentacles = (tentacle("a", service_account="LocalSystem"),)

    assert steps_of(plan(tentacles=tentacles), "reconfigure-service-account") == []


def test_a_hand_upgrade_without_reinstall_only_asks_to_check_the_account():
    tentacles = (tentacle("svc", service_account="CORP\\deploy"),)
    result = plan(approach="manual", tentacles=tentacles)

    step = only(result, "reconfigure-service-account")
    assert step.optional is True
    assert step.title.startswith("Check")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"restricted_permissions": True}, "restricted permissions"),
        ({"version": "2.0.13.1100"}, "per-user install"),
        ({"online": False}, "cannot reach it"),
    ],
)
def test_tentacles_hydra_cannot_reach_are_upgraded_by_hand(fields, reason):
    tentacles = (*fleet(3), tentacle("odd", **fields))
    result = plan(tentacles=tentacles)

    odd = next(s for s in steps_of(result, "upgrade-tentacle") if s.tentacle == "odd")
    assert odd.method == "manual"
    assert odd.canary is False
    assert reason in odd.detail
    assert "odd" not in result.canary
    assert "0:verify-canary" in odd.depends_on
    assert "odd" in only(result, "hydra-prepare").detail  # left out of the Hydra deployment


def test_a_per_user_install_gets_the_log_on_as_the_installer_advice():
    result = plan(tentacles=(tentacle("old", version="2.0.13.1100"),))

    (step,) = steps_of(result, "upgrade-tentacle")
    assert "Log on as the user who installed it" in step.detail


def test_in_place_hand_upgrades_still_happen_before_the_server_install():
    tentacles = (*fleet(3), tentacle("dark", online=False))
    result = plan(approach="in-place", tentacles=tentacles)

    dark = next(s for s in steps_of(result, "upgrade-tentacle") if s.tentacle == "dark")
    assert dark.key in only(result, "install-server-in-place").depends_on
    assert "before the server install" in dark.detail


def test_several_instances_on_one_host_share_one_upgrade_step():
    tentacles = (
        tentacle("db-b", hostname="DB01.corp"),
        tentacle("db-a", hostname="db01.corp"),
        tentacle("web", hostname="web.corp"),
    )
    result = plan(tentacles=tentacles)

    upgrades = steps_of(result, "upgrade-tentacle")
    assert len(upgrades) == 2
    host = next(s for s in upgrades if len(s.tentacles) == 2)
    assert host.key == "0:upgrade-tentacle:db01.corp"
    assert host.tentacles == ("db-a", "db-b")
    assert host.tentacle == "db-a"
    assert "2 Tentacle instances (db-a, db-b)" in host.detail


def test_a_host_named_like_another_tentacle_still_gets_a_unique_key():
    tentacles = (
        tentacle("app", hostname="elsewhere.corp"),
        tentacle("a1", hostname="app"),
        tentacle("a2", hostname="app"),
    )
    result = plan(tentacles=tentacles)

    keys = [s.key for s in steps_of(result, "upgrade-tentacle")]
    assert len(set(keys)) == 2
    assert "0:upgrade-tentacle:app" in keys


@pytest.mark.parametrize("approach", ["manual", "in-place", "new-server"])
def test_hand_upgrades_to_3_0_1_reinstall_the_service(approach):
    tentacles = (*fleet(2), tentacle("dark", online=False, service_account="CORP\\svc"))
    result = plan(approach=approach, target_version="3.0.1", tentacles=tentacles)

    reinstalls = steps_of(result, "reinstall-tentacle-service")
    expected = {"web-01", "web-02", "dark"} if approach == "manual" else {"dark"}
    assert {s.tentacle for s in reinstalls} == expected
    dark = next(s for s in reinstalls if s.tentacle == "dark")
    assert dark.depends_on == ("0:upgrade-tentacle:dark",)
    account = only(result, "reconfigure-service-account")
    assert dark.key in account.depends_on
    assert account.optional is False  # Reinstall resets the account


@pytest.mark.parametrize("target", ["3.0.2", "3.17.14", "3.0.0"])
def test_no_reinstall_step_for_other_targets(target):
    result = plan(approach="manual", target_version=target)

    assert steps_of(result, "reinstall-tentacle-service") == []


def test_the_canary_covers_every_environment_style_and_os_among_hydra_machines():
    tentacles = (
        *fleet(20, environments=("Production",)),
        tentacle("test-1", environments=("Test",)),
        tentacle("poll-1", communication_style="polling"),
        tentacle("old-os", os="Windows Server 2008 R2"),
        tentacle("dark", online=False, environments=("Secret",)),
    )
    result = plan(tentacles=tentacles)

    canary = set(result.canary)
    assert {"test-1", "poll-1", "old-os"} <= canary
    assert "dark" not in canary  # only machines Hydra upgrades can be canaries
    assert len(canary) <= 5
    verify = only(result, "verify-canary")
    assert "environments, communication styles and operating systems" in verify.detail
    assert "our inference" in verify.detail
    canary_steps = [s for s in steps_of(result, "upgrade-tentacle") if s.canary]
    assert {s.tentacle for s in canary_steps} == canary
    assert set(verify.depends_on) == {s.key for s in canary_steps}
    for step in steps_of(result, "upgrade-tentacle"):
        if not step.canary:
            assert verify.key in step.depends_on


@pytest.mark.parametrize(
    ("count", "size"),
    [
        (1, 1),
        (3, 1),
        (5, 1),
        (6, 2),
        (10, 2),
        (60, 2),
        (100, 2),
        (101, 3),
        (151, 4),
        (400, 5),
        (1000, 5),
    ],
)
def test_the_canary_is_small_for_a_uniform_fleet(count, size):
    result = plan(tentacles=fleet(count))

    assert len(result.canary) == size
    assert list(result.canary) == sorted(result.canary)


def test_the_plan_does_not_depend_on_inventory_order():
    tentacles = [*fleet(30), tentacle("poll", communication_style="polling")]
    shuffled = tentacles[:]
    random.Random(7).shuffle(shuffled)

    first = plan(tentacles=tuple(tentacles))
    second = plan(tentacles=tuple(shuffled))

    assert first.steps == second.steps
    assert first.canary == second.canary


def test_adding_a_tentacle_keeps_every_other_key():
    before = plan(tentacles=fleet(5))
    after = plan(tentacles=(*fleet(5), tentacle("web-99")))

    assert {s.key for s in before.steps} < {s.key for s in after.steps}
    added = {s.key for s in after.steps} - {s.key for s in before.steps}
    assert added == {"0:upgrade-tentacle:web-99"}


@pytest.mark.parametrize("approach", ["new-server", "in-place"])
def test_the_canary_deployment_is_the_point_of_no_return(approach):
    result = plan(approach=approach, tentacles=(*fleet(3), tentacle("dark", online=False)))

    marked = [s for s in result.steps if s.point_of_no_return]
    canary = [s for s in steps_of(result, "upgrade-tentacle") if s.canary]
    assert canary
    assert marked == canary  # installing in place gives its own way back: not marked
    assert "point of no return for it" in canary[0].detail


def test_without_hydra_the_first_hand_upgrade_is_the_point_of_no_return():
    offline = tuple(tentacle(f"dark-{i}", online=False) for i in range(3))
    result = plan(approach="new-server", tentacles=offline)

    marked = [s for s in result.steps if s.point_of_no_return]
    assert [s.key for s in marked] == ["0:upgrade-tentacle:dark-0"]


def test_new_server_decommissions_only_after_every_tentacle_step():
    tentacles = (*fleet(3), tentacle("svc", service_account="CORP\\svc"))
    result = plan(approach="new-server", tentacles=tentacles)

    decommission = only(result, "decommission-old-server")
    per_tentacle = {s.key for s in result.steps if s.tentacles}
    assert per_tentacle <= set(decommission.depends_on)
    assert "0:verify-new-server-health" in decommission.depends_on
    assert decommission.fleet_gate
    assert only(result, "cleanup-home-folder").optional


def test_steps_are_listed_in_an_order_that_respects_dependencies():
    result = plan(server_version="1.2", target_version="2019.3.1", tentacles=fleet(12))

    seen: set[str] = set()
    for step in result.steps:
        assert set(step.depends_on) <= seen, step.key
        seen.add(step.key)


def test_step_details_cite_their_sources_and_the_target_2018_pages_are_the_legacy_ones():
    three = plan(target_version="3.17.14", uses_builtin_feed=True)
    legacy = plan(target_version="2018.10.2", uses_builtin_feed=True)

    assert all(s.source for s in three.steps)
    assert only(three, "install-server-new-machine").source.endswith(
        "upgrade-with-a-new-3.0-server-instance.md"
    )
    assert only(legacy, "install-server-new-machine").source == (
        "docs/administration/upgrading/legacy/upgrading-from-octopus-2.6.5-2018.10lts/"
        "upgrade-with-a-new-server-instance.md"
    )
    assert "RE-INDEX NOW" in only(legacy, "move-package-feed").detail
    assert "restart the Octopus Server service" in only(three, "move-package-feed").detail


def test_server_installs_carry_the_local_drive_workaround():
    result = plan(approach="manual", target_version="3.17.14")

    assert 'msiexec /i Octopus.3.17.14-x64.msi WIXUI_DONTVALIDATEPATH="1"' in (
        only(result, "install-server-in-place").detail
    )


def test_no_placeholder_is_left_unfilled():
    result = plan(
        server_version="1.2",
        target_version="2020.3.0",
        tentacles=(*fleet(3), tentacle("p", communication_style="polling", online=False)),
        uses_builtin_feed=True,
        backup_size_mb=5000,
    )

    for step in result.steps:
        assert "{" not in step.title and "{" not in step.detail, step.key
    for item in (*result.reasons, *result.assumptions, *(w.text for w in result.warnings)):
        assert "{" not in item


def test_the_migration_hop_only_uses_the_fixed_vocabulary_and_every_kind_is_described():
    scenarios = [
        InstallationInput("2.6.5", "3.0.1", approach=a, tentacles=tentacles, **extra)
        for a in ("new-server", "in-place", "manual")
        for tentacles in ((), (*fleet(3), tentacle("x", online=False, service_account="C\\s")))
        for extra in ({}, {"uses_builtin_feed": True, "backup_size_mb": 4000})
    ]
    scenarios.append(InstallationInput("1.2", "2019.3.1", tentacles=fleet(120)))
    seen: set[str] = set()
    for scenario in scenarios:
        result = make_plan(scenario)
        migration = {s.kind for s in result.steps if result.path[s.hop].kind == "2.6-migration"}
        assert migration <= MIGRATION_KINDS
        seen |= {s.kind for s in result.steps}
    assert seen <= set(STEP_KINDS)
    assert seen >= MIGRATION_KINDS
    assert all(STEP_KINDS[kind] for kind in seen)


def test_the_plan_carries_the_content_version():
    assert plan().content_version == catalogue().content_version == "2026.12-1"


def test_re_planning_the_same_input_gives_the_same_plan():
    tentacles = (*fleet(8), tentacle("p", communication_style="polling"))

    assert plan(tentacles=tentacles) == plan(tentacles=tentacles)


def test_the_canary_gates_the_rest_of_the_rollout_transitively():
    result = plan(approach="in-place", tentacles=fleet(30))

    steps = by_key(result)
    for step in steps_of(result, "upgrade-tentacle"):
        if not step.canary:
            assert "0:hydra-prepare" in ancestors(result, step.key)
            assert steps["0:verify-canary"].key in step.depends_on
