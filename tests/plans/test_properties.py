"""Properties that hold for any inventory: a sound dependency graph and honest warnings."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.plans.builders import ancestors, by_key, codes
from upgrade_planner.domain.planner import (
    APPROACHES,
    STEP_KINDS,
    WARNING_CODES,
    InstallationInput,
    Plan,
    PlannerSettings,
    PlanningError,
    TentacleInput,
    make_plan,
    parse_version,
)

SEVERITY = ["critical", "high", "medium", "info"]

names = st.text(alphabet="abcAB01-.:#_ ", min_size=1, max_size=6).filter(lambda s: s.strip())
tentacle_fields = st.fixed_dictionaries(
    {
        "hostname": st.sampled_from(["", "", "h1", "H1", "h2.corp", "app", "web-01"]),
        "version": st.sampled_from(
            ["", "2.6.5", "2.6.5.1581", "2.0.13.1100", "2.1.0", "junk", "1.6.3.1723", "3.4.0"]
        ),
        "communication_style": st.sampled_from(["listening", "polling"]),
        "environments": st.lists(st.sampled_from(["Dev", "Test", "Prod"]), max_size=2).map(tuple),
        "os": st.sampled_from(
            ["", "Windows Server 2012 R2", "Windows Server 2008", "Ubuntu 22.04"]
        ),
        "service_account": st.sampled_from(["", "", "CORP\\svc", "LocalSystem", "svc user"]),
        "restricted_permissions": st.booleans(),
        "online": st.booleans(),
    }
)
inventories = st.lists(
    st.tuples(names, tentacle_fields), max_size=60, unique_by=lambda pair: pair[0]
).map(lambda rows: tuple(TentacleInput(name=name, **fields) for name, fields in rows))

installations = st.builds(
    InstallationInput,
    server_version=st.sampled_from(["2.6.5", "2.6.0", "2.6.5.1581", "1.6", "2.1.3", "1.2"]),
    target_version=st.sampled_from(
        ["3.0.1", "3.17.14", "2018.10", "2018.8.5", "2018.5.0", "2019.3.1", "4.0.11", "2020.3.0"]
    ),
    ha_nodes=st.sampled_from([(), ("solo",), ("node-a", "node-b"), ("a", "b", "c")]),
    can_provision_new_server=st.booleans(),
    sql_server_ready=st.booleans(),
    uses_builtin_feed=st.booleans(),
    backup_size_mb=st.none() | st.integers(0, 5000),
    document_count=st.none() | st.integers(0, 500_000),
    history_days_to_keep=st.none() | st.integers(1, 365),
    polling_port=st.integers(1, 65535),
    old_server_url=st.sampled_from(["", "https://octopus2.corp"]),
    new_server_url=st.sampled_from(["", "https://octopus3.corp", "https://[::1]:8080", "junk"]),
    approach=st.none() | st.sampled_from(APPROACHES),
    tentacles=inventories,
)
planner_settings = st.builds(PlannerSettings, handful_threshold=st.integers(0, 20))


def migration_hop(plan: Plan) -> int | None:
    return next((i for i, hop in enumerate(plan.path) if hop.kind == "2.6-migration"), None)


@settings(max_examples=150)
@given(installations, planner_settings)
def test_the_dependencies_form_a_dag_listed_in_a_valid_order(installation, config):
    plan = make_plan(installation, config)

    keys = [step.key for step in plan.steps]
    assert len(keys) == len(set(keys))
    seen: set[str] = set()
    for step in plan.steps:
        assert step.kind in STEP_KINDS
        assert step.source
        assert 0 <= step.hop < len(plan.path)
        assert set(step.depends_on) <= set(keys)
        assert set(step.depends_on) <= seen, f"{step.key} listed before a prerequisite"
        assert len(step.depends_on) == len(set(step.depends_on))
        seen.add(step.key)


@settings(max_examples=150)
@given(installations, planner_settings)
def test_every_tentacle_is_in_exactly_one_upgrade_step(installation, config):
    plan = make_plan(installation, config)
    hop = migration_hop(plan)

    upgrades = [s for s in plan.steps if s.kind == "upgrade-tentacle"]
    if hop is None:
        assert upgrades == []
        return
    covered = [name for step in upgrades for name in step.tentacles]
    assert sorted(covered) == sorted(t.name for t in installation.tentacles)
    for step in upgrades:
        assert step.tentacle == step.tentacles[0]
        assert step.hop == hop
        assert step.method in ("hydra", "manual")


@settings(max_examples=150)
@given(installations, planner_settings)
def test_the_order_rules_of_each_approach_hold(installation, config):
    plan = make_plan(installation, config)
    hop = migration_hop(plan)
    if hop is None:
        assert plan.approach is None and plan.recommended_approach is None
        return
    steps = by_key(plan)
    upgrades = [s for s in plan.steps if s.kind == "upgrade-tentacle"]
    upgrade_keys = {s.key for s in upgrades}
    migrate = f"{hop}:migrate-data"
    health = f"{hop}:verify-new-server-health"

    if plan.approach == "in-place":
        install = steps[f"{hop}:install-server-in-place"]
        assert upgrade_keys <= set(install.depends_on)
        if upgrades:
            assert f"{hop}:verify-old-server-cut-off" in install.depends_on
            assert install.fleet_gate
        assert not install.point_of_no_return  # its own text gives the way back
    elif plan.approach == "new-server":
        decommission = steps[f"{hop}:decommission-old-server"]
        assert upgrade_keys | {health} <= set(decommission.depends_on)
        for step in upgrades:
            assert migrate in ancestors(plan, step.key)
    else:
        assert all(migrate in s.depends_on for s in upgrades)
        assert all(s.method == "manual" and not s.canary for s in upgrades)
        assert not any(s.point_of_no_return for s in plan.steps)

    canary = [s for s in upgrades if s.canary]
    assert all(s.method == "hydra" for s in canary)
    assert {name for s in canary for name in s.tentacles} == set(plan.canary)
    verify = steps.get(f"{hop}:verify-canary")
    if verify is None:
        assert canary == []
    else:
        assert set(verify.depends_on) == {s.key for s in canary}
        for step in upgrades:
            if not step.canary:
                assert verify.key in step.depends_on
    for step in plan.steps:
        if step.fleet_gate:
            hop_upgrades = {s.key for s in upgrades if s.hop == step.hop}
            assert hop_upgrades <= set(step.depends_on), step.key
    assert plan.approach_overridden == (plan.approach != plan.recommended_approach)
    if installation.approach is not None:
        assert plan.approach == installation.approach


@settings(max_examples=150)
@given(installations, planner_settings)
def test_each_warning_has_a_reason_to_be_there(installation, config):
    plan = make_plan(installation, config)
    found = codes(plan)
    hop = migration_hop(plan)
    migrating = hop is not None
    tentacles = installation.tentacles
    upgrades = [s for s in plan.steps if s.kind == "upgrade-tentacle"]
    by_name = {t.name: t for t in tentacles}

    assert found <= set(WARNING_CODES)
    assert len(found) == len(plan.warnings)
    assert [SEVERITY.index(w.severity) for w in plan.warnings] == sorted(
        SEVERITY.index(w.severity) for w in plan.warnings
    )
    assert all(w.text and w.action and w.source for w in plan.warnings)

    assert ("point-of-no-return" in found) == any(s.point_of_no_return for s in plan.steps)
    assert ("wrong-order-strands-tentacles" in found) == (
        plan.approach == "in-place" and bool(tentacles)
    )
    assert ("license-not-imported" in found) == migrating
    assert ("package-feed-not-in-backup" in found) == (migrating and installation.uses_builtin_feed)
    resets = [s for s in plan.steps if s.kind == "reconfigure-service-account" and not s.optional]
    assert ("service-account-reset" in found) == bool(resets)
    assert ("restricted-permissions" in found) == (
        migrating and any(t.restricted_permissions for t in tentacles)
    )
    assert ("multi-instance-host" in found) == any(len(s.tentacles) > 1 for s in upgrades)
    hydra_polling = any(
        s.method == "hydra" and by_name[n].communication_style == "polling"
        for s in upgrades
        for n in s.tentacles
    )
    assert ("server-mapping" in found) == hydra_polling
    assert ("polling-port" in found) == (
        migrating and any(t.communication_style == "polling" for t in tentacles)
    )
    large = (installation.backup_size_mb or 0) > 500 or (installation.document_count or 0) > 150_000
    assert ("slow-migration" in found) == (migrating and large)
    unreachable = any(
        not t.online or t.version in ("1.6.3.1723", "3.4.0") or t.os == "Ubuntu 22.04"
        for t in tentacles
    )
    assert ("offline-tentacles" in found) == (migrating and unreachable)
    per_user = any(t.version.startswith("2.0.") for t in tentacles)
    assert ("per-user-install" in found) == (migrating and per_user)
    compared = not installation.can_provision_new_server or (
        plan.approach == "manual" and len(tentacles) > config.handful_threshold
    )
    assert ("handful-threshold" in found) == (migrating and compared)
    if migrating:
        assert "use-latest" in found
    if "sql-server-version" in found:
        crosses_2020 = parse_version(installation.target_version) >= parse_version("2020.1")
        assert (migrating and not installation.sql_server_ready) or crosses_2020


UNREACHABLE_VERSIONS = ("1.6.3.1723", "3.4.0")


@settings(max_examples=150)
@given(installations, planner_settings)
def test_the_canary_is_a_few_machines_the_2_6_server_can_reach(installation, config):
    plan = make_plan(installation, config)
    by_name = {t.name: t for t in installation.tentacles}
    hydra = [s for s in plan.steps if s.kind == "upgrade-tentacle" and s.method == "hydra"]

    for name in plan.canary:
        t = by_name[name]
        assert t.online and t.version not in UNREACHABLE_VERSIONS and t.os != "Ubuntu 22.04"
    canary_machines = [s for s in hydra if s.canary]
    assert len(canary_machines) <= max(1, min(5, len(hydra) // 3)) if hydra else not canary_machines


@settings(max_examples=150)
@given(installations, planner_settings)
def test_hops_are_chained_and_share_one_maintenance_window(installation, config):
    plan = make_plan(installation, config)
    steps = by_key(plan)

    for step in plan.steps:
        if step.hop == 0:
            continue
        required = {s.key for s in plan.steps if s.hop == step.hop - 1 and not s.optional}
        assert required <= ancestors(plan, step.key), step.key
    modern = [i for i, hop in enumerate(plan.path) if hop.kind in ("modern", "detour")]
    on = [s for s in plan.steps if s.kind == "maintenance-mode-on"]
    off = [s for s in plan.steps if s.kind == "maintenance-mode-off"]
    tentacles = [s for s in plan.steps if s.kind == "upgrade-tentacles-modern"]
    # Modern hops come last in any path, so they form one run at most.
    assert len(on) == len(off) == len(tentacles) == (1 if modern else 0)
    if modern:
        assert on[0].hop == modern[0] and off[0].hop == tentacles[0].hop == modern[-1]
    nodes = len(installation.ha_nodes)
    for index in modern:
        stops = [s for s in plan.steps if s.kind == "stop-server-node" and s.hop == index]
        upgrades = [s for s in plan.steps if s.kind == "upgrade-server-modern" and s.hop == index]
        assert len(stops) == (nodes if nodes > 1 else 0)
        assert len(upgrades) == max(nodes, 1)
        for upgrade in upgrades:
            assert {s.key for s in stops} <= ancestors(plan, upgrade.key)
    assert all(steps[d].hop <= s.hop for s in plan.steps for d in s.depends_on)


@given(st.text(max_size=30))
def test_parsing_any_text_either_succeeds_or_explains(text):
    try:
        version = parse_version(text)
    except PlanningError as error:
        assert error.field == "version"
        assert error.message
    else:
        assert parse_version(str(version)) == version


@given(st.lists(st.integers(0, 99_999), min_size=3, max_size=4))
def test_a_normalised_version_parses_back_to_itself(parts):
    version = parse_version(".".join(map(str, parts)))

    assert parse_version(str(version)) == version
    assert parse_version(f" v{version} ") == version


BACKUP_KINDS = {
    "backup-license-key",
    "backup-master-key",
    "backup-database",
    "backup-server-folders",
}
# The steps that change the installation (or start the point of no return): every backup of
# their hop comes first.
CHANGING_KINDS = {
    "install-server-new-machine",
    "install-server-in-place",
    "migrate-data",
    "hydra-prepare",
    "upgrade-server-modern",
    "install-server-1.6",
    "install-server-2.x",
    "import-1.6-data",
    "upgrade-server-2.6",
}


@settings(max_examples=150)
@given(installations, planner_settings)
def test_independent_backups_have_no_path_between_them(installation, config):
    """Facts §d.1, §b.1, §j: two people can take a hop's backups at once; every step that
    changes the installation still waits for all of them."""
    plan = make_plan(installation, config)

    for hop in range(len(plan.path)):
        backups = {s.key for s in plan.steps if s.hop == hop and s.kind in BACKUP_KINDS}
        for key in backups:
            assert not (ancestors(plan, key) & backups), key
        for step in plan.steps:
            if step.hop == hop and step.kind in CHANGING_KINDS:
                assert backups <= ancestors(plan, step.key), step.key


@settings(max_examples=150)
@given(installations, planner_settings)
def test_each_phase_is_one_run_of_steps_per_hop(installation, config):
    """The checklist heads each (hop, phase) once: its steps are listed together."""
    plan = make_plan(installation, config)

    runs: list[tuple[int, str]] = []
    for step in plan.steps:
        if not runs or runs[-1] != (step.hop, step.phase):
            runs.append((step.hop, step.phase))
    assert len(runs) == len(set(runs)), runs
