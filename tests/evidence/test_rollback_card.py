"""The "If we stop now" card, stage by stage, for every approach and kind of hop."""

import tomllib
from importlib import resources

import pytest

from upgrade_planner.domain.rollback import StopNowCard, change_kind, stages, stop_now

BACKUPS = {"backup-license-key", "backup-master-key", "backup-database", "prepare-sql-server"}
NEW_SERVER_MIGRATED = BACKUPS | {"install-server-new-machine", "migrate-data", "hydra-prepare"}
MODERN_BACKED_UP = {"backup-license-key", "backup-master-key", "maintenance-mode-on"}


def card(
    approach="new-server",
    hop_kind="2.6-migration",
    done=(),
    partial=(),
    total=10,
    upgraded=0,
    from_version="2.6.5",
    to_version="2018.10 LTS",
):
    return stop_now(
        approach=approach,
        hop_kind=hop_kind,
        done_kinds=frozenset(done),
        partially_done_kinds=frozenset(partial),
        tentacles_total=total,
        tentacles_upgraded=upgraded,
        from_version=from_version,
        to_version=to_version,
    )


# (what has happened, the card's arguments, its stage, text the card must contain)
CASES = [
    # ---- 2.6 migration: nothing changed yet, whatever the approach
    ("new-server, backups only", {"done": BACKUPS}, "migration/nothing-changed",
     ["Nothing to undo. Stop here; 2.6 keeps deploying as before."]),
    ("in-place, backups only", {"approach": "in-place", "done": BACKUPS},
     "migration/nothing-changed", ["Nothing to undo."]),
    ("manual, license key only", {"approach": "manual", "done": {"backup-license-key"}},
     "migration/nothing-changed", ["Nothing to undo."]),
    ("new-server, feed copied but nothing installed",
     {"done": BACKUPS, "partial": {"move-package-feed"}}, "migration/nothing-changed", []),
    # ---- new server
    ("new-server, installer running", {"done": BACKUPS, "partial": {"install-server-new-machine"}},
     "new-server/server-installed", ["Do not run Hydra before the data migration"]),
    ("new-server, data migrated", {"done": NEW_SERVER_MIGRATED}, "new-server/data-migrated",
     ["the 2.6 server is still in charge",
      "throw the new server and its database away",
      "The data migration cannot be reversed"]),
    ("new-server, migration running", {"done": BACKUPS | {"install-server-new-machine"},
                                       "partial": {"migrate-data"}},
     "new-server/data-migrated", ["The data migration cannot be reversed"]),
    ("new-server, canary upgraded", {"done": NEW_SERVER_MIGRATED, "partial": {"upgrade-tentacle"},
                                     "upgraded": 3},
     "new-server/tentacles-partly",
     ["Tentacles upgraded so far: 3 of 10.",
      "run Hydra from the 2.6 server for the remaining 7 Tentacles",
      "Do not decommission or switch off the 2.6 server"]),
    ("new-server, Hydra deployed, none confirmed",
     {"done": NEW_SERVER_MIGRATED, "partial": {"upgrade-tentacle"}},
     "new-server/tentacles-partly", ["Tentacles upgraded so far: 0 of 10.",
                                     "it cannot be called back"]),
    ("new-server, all upgraded", {"done": NEW_SERVER_MIGRATED | {"upgrade-tentacle"},
                                  "upgraded": 10},
     "new-server/tentacles-all",
     ["Every Tentacle in the plan is upgraded (10).",
      "Do not decommission the 2.6 server until the new server's health check passes"]),
    ("new-server, 2.6 retired", {"done": NEW_SERVER_MIGRATED | {"upgrade-tentacle",
                                                                 "decommission-old-server"},
                                 "upgraded": 10},
     "new-server/old-server-retired", ["No rollback: fix problems forward"]),
    # ---- in place
    ("in-place, canary done, server still 2.6",
     {"approach": "in-place", "done": BACKUPS | {"hydra-prepare"}, "partial": {"upgrade-tentacle"},
      "upgraded": 4},
     "in-place/tentacles-partly",
     ["Tentacles upgraded so far: 4 of 10, and the server still runs 2.6.",
      "The upgraded ones are cut off",
      "Do not roll the upgraded Tentacles back by hand",
      "Do not install 2018.10 LTS on the server until every Tentacle is upgraded or deliberately "
      "excluded"]),
    ("in-place, every Tentacle done, server still 2.6",
     {"approach": "in-place", "done": BACKUPS | {"upgrade-tentacle"}, "upgraded": 10},
     "in-place/tentacles-all",
     ["nothing can be deployed until 2018.10 LTS is installed over 2.6"]),
    ("in-place, server installed over 2.6",
     {"approach": "in-place", "done": BACKUPS | {"upgrade-tentacle", "install-server-in-place"},
      "upgraded": 10},
     "in-place/server-installed",
     ["run the 2.6 installer over 2018.10 LTS. The upgrade is lossless",
      "each of them needs the 2.6 Tentacle installed again by hand",
      "Do not clean up the Octopus Home folder"]),
    ("in-place, server installed with Tentacles left behind",
     {"approach": "in-place", "done": BACKUPS, "upgraded": 8,
      "partial": {"upgrade-tentacle", "install-server-in-place", "migrate-data"}},
     "in-place/server-installed",
     ["The remaining 2 Tentacles still on 2.6 can no longer be reached",
      "The data migration cannot be reversed"]),
    ("in-place, 2.6 files cleaned up",
     {"approach": "in-place", "done": BACKUPS | {"upgrade-tentacle", "install-server-in-place",
                                                  "migrate-data", "cleanup-home-folder"},
      "upgraded": 10},
     "over-2.6/files-cleaned",
     ["The 2.6 installer can no longer bring 2.6 back with its data."]),
    # ---- manual
    ("manual, server upgraded, no Tentacle yet",
     {"approach": "manual", "done": BACKUPS | {"install-server-in-place", "migrate-data"},
      "total": 4},
     "manual/server-installed",
     ["every deployment fails until it is upgraded by hand",
      "since no Tentacle is upgraded yet, they all work with 2.6 straight away",
      "The data migration cannot be reversed"]),
    ("manual, some Tentacles done",
     {"approach": "manual", "done": BACKUPS | {"install-server-in-place", "migrate-data"},
      "partial": {"upgrade-tentacle"}, "total": 4, "upgraded": 1},
     "manual/tentacles-partly",
     ["Tentacles upgraded so far: 1 of 4.", "deployments to the other 3 Tentacles fail"]),
    ("manual, every Tentacle done",
     {"approach": "manual", "done": BACKUPS | {"install-server-in-place", "migrate-data",
                                                "upgrade-tentacle"},
      "total": 4, "upgraded": 4},
     "manual/tentacles-all", ["Fix forward: health-check all environments"]),
    ("manual, a Tentacle upgraded before the server",
     {"approach": "manual", "done": BACKUPS, "partial": {"upgrade-tentacle"}, "total": 4,
      "upgraded": 1},
     "manual/tentacles-before-server",
     ["the upgraded ones are cut off until the server runs 2018.10 LTS"]),
    ("manual, 2.6 files cleaned up",
     {"approach": "manual", "done": BACKUPS | {"install-server-in-place", "cleanup-home-folder"},
      "total": 4, "upgraded": 4},
     "over-2.6/files-cleaned", ["Do not delete the 2.6 backup or its master key."]),
    # ---- modern hops
    ("modern, backups only",
     {"hop_kind": "modern", "done": {"backup-license-key"}, "from_version": "2020.4.1",
      "to_version": "2020.5.0"},
     "modern/nothing-changed", ["The server still runs 2020.4.1"]),
    ("modern, maintenance mode on",
     {"hop_kind": "modern", "done": MODERN_BACKED_UP, "from_version": "2020.4.1",
      "to_version": "2020.5.0"},
     "modern/maintenance-on", ["Turn maintenance mode off and stop."]),
    ("modern, maintenance mode on and off again",
     {"hop_kind": "modern", "done": MODERN_BACKED_UP | {"maintenance-mode-off"},
      "from_version": "2020.4.1", "to_version": "2020.5.0"},
     "modern/nothing-changed", []),
    ("modern patch, server upgraded",
     {"hop_kind": "modern", "done": MODERN_BACKED_UP | {"upgrade-server-modern"},
      "from_version": "2018.10.1", "to_version": "2018.10.3"},
     "modern/server-upgraded-patch",
     ["To go back, install 2018.10.1 over the top. No database restore is needed.",
      "nothing was changed: the scripts run in a transaction",
      "Maintenance mode is still on"]),
    ("modern minor, server upgraded after a backup",
     {"hop_kind": "modern", "from_version": "2020.4.1", "to_version": "2020.5.0",
      "done": MODERN_BACKED_UP | {"backup-database", "upgrade-server-modern",
                                  "maintenance-mode-off"}},
     "modern/server-upgraded-minor",
     ["restore the database backup taken before the upgrade, then install 2020.4.1 again",
      "Do not reinstall 2020.4.1 without restoring the database"]),
    ("modern minor, server upgraded without a backup",
     {"hop_kind": "modern", "from_version": "2020.4.1", "to_version": "2020.5.0",
      "done": MODERN_BACKED_UP, "partial": {"upgrade-server-modern"}},
     "modern/server-upgraded-minor", ["Without one there is no way back to 2020.4.1"]),
    ("modern major, folders not copied",
     {"hop_kind": "modern", "from_version": "3.17.14", "to_version": "2018.10.0",
      "done": MODERN_BACKED_UP | {"backup-database", "upgrade-server-modern"}},
     "modern/server-upgraded-major",
     ["restore the server folders you copied (packages, artifacts, task logs)",
      "The server folders were not copied before the upgrade"]),
    ("detour hop, major, Tentacles upgraded too",
     {"hop_kind": "detour", "from_version": "3.4.15", "to_version": "2018.7.14",
      "done": MODERN_BACKED_UP | {"backup-database", "backup-server-folders",
                                  "upgrade-server-modern", "upgrade-tentacles-modern"}},
     "modern/server-upgraded-major", ["Tentacles you upgraded can stay as they are"]),
    # ---- hops before 2.6
    ("1.x, backup only", {"hop_kind": "pre-1.6", "done": {"backup-database"},
                          "from_version": "1.5.2", "to_version": "1.6.3.1723"},
     "older/nothing-changed", ["The server and the Tentacles still run 1.5.2"]),
    ("1.x, 1.6 installed", {"hop_kind": "pre-1.6", "done": {"install-server-1.6"},
                            "from_version": "1.5.2", "to_version": "1.6.3.1723"},
     "pre-1.6/server-installed", ["the only way back to 1.5.2"]),
    ("1.6, import running", {"hop_kind": "1.6-to-2.6", "done": {"install-server-2.x"},
                             "partial": {"import-1.6-data"}, "from_version": "1.6.3",
                             "to_version": "2.6.5"},
     "1.6-to-2.6/server-installed", ["uninstall the new server"]),
    ("1.6, Tentacles being moved", {"hop_kind": "1.6-to-2.6", "partial": {"upgrade-tentacles-1.6"},
                                    "done": {"install-server-2.x", "import-1.6-data"},
                                    "from_version": "1.6.3", "to_version": "2.6.5"},
     "1.6-to-2.6/tentacles-started", ["it keeps opening invalid connections"]),
    ("1.6, old server retired", {"hop_kind": "1.6-to-2.6",
                                 "done": {"upgrade-tentacles-1.6", "retire-1.6-server"},
                                 "from_version": "1.6.3", "to_version": "2.6.5"},
     "1.6-to-2.6/old-server-retired", ["Do not delete the 1.6 backup."]),
    ("2.x, server upgraded", {"hop_kind": "2.x-to-2.6", "done": {"upgrade-server-2.6"},
                              "from_version": "2.5.12", "to_version": "2.6.5"},
     "2.x-to-2.6/server-installed", ["Upgrade machines on the Environments page"]),
    ("2.x, Tentacles pushed", {"hop_kind": "2.x-to-2.6",
                               "done": {"upgrade-server-2.6", "upgrade-tentacles-2.6"},
                               "from_version": "2.5.12", "to_version": "2.6.5"},
     "2.x-to-2.6/tentacles-started", ["Hydra is built for 2.6 Tentacles"]),
]  # fmt: skip


def all_text(result: StopNowCard) -> str:
    return "\n".join([result.situation, *result.rollback, *result.must_not])


@pytest.mark.parametrize(
    ("kwargs", "stage", "texts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_card_fits_what_is_done(kwargs, stage, texts):
    result = card(**kwargs)

    assert result.stage == stage
    for text in texts:
        assert text in all_text(result)
    assert result.situation and result.rollback and result.sources
    assert "{" not in all_text(result)  # every placeholder filled
    assert len(set(result.sources)) == len(result.sources)


def test_the_table_covers_every_stage_in_the_content_file():
    assert {c[2] for c in CASES} == set(stages())


def test_a_migration_card_lists_its_sources_then_its_notes_sources():
    result = card(done=NEW_SERVER_MIGRATED | {"prune-history"})

    assert result.sources == (
        "docs/administration/upgrading/upgrading-from-octopus-2.6/upgrade-with-a-new-3.0-server-instance.md",
        "docs/administration/upgrading/upgrading-from-octopus-2.6/migrating-data-from-octopus-2.6-to-3.x.md",
        "docs/administration/upgrading/upgrading-from-octopus-2.6/manual-upgrade.md",
        "docs/administration/upgrading/upgrading-from-octopus-2.6/minimize-migration-time.md",
    )
    assert result.rollback[-2:] == (
        "The data migration cannot be reversed. The 2.6 backup it read is treated as the truth: "
        "importing it again overwrites whatever it matches by name.",
        "The 2.6 retention policies have deleted old history. The full backup you set aside "
        "before pruning is its only copy: keep it, with its master key.",
    )


def test_without_versions_the_card_says_the_new_version():
    result = card(approach="in-place", partial={"upgrade-tentacle"}, upgraded=1, to_version="")

    assert "then install the new version over 2.6" in all_text(result)


def test_an_in_place_plan_with_no_tentacles_strands_none():
    result = card(approach="in-place", done=BACKUPS | {"install-server-in-place"}, total=0)

    assert result.stage == "in-place/server-installed"
    assert "remaining" not in all_text(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"approach": None}, "needs an approach"),
        ({"approach": "big-bang"}, "needs an approach"),
        ({"hop_kind": "sideways"}, "Unknown hop kind"),
        ({"total": 3, "upgraded": 4}, "must be between 0 and"),
        ({"total": -1, "upgraded": 0}, "must be between 0 and"),
        ({"hop_kind": "modern", "from_version": ""}, "from_version"),
        ({"hop_kind": "modern", "to_version": "soon"}, "to_version"),
    ],
)
def test_input_that_cannot_describe_a_plan_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        card(**kwargs)


@pytest.mark.parametrize(
    ("start", "end", "kind"),
    [
        ("2018.10.1", "2018.10.3", "patch"),
        ("3.4.2", "3.4.12", "patch"),
        ("2020.4.1", "2020.5.0", "minor"),
        ("3.4.15", "3.17.14", "minor"),
        ("3.17.14", "2018.10 LTS", "major"),
        ("2020.6.4", "2021.1.0", "major"),
    ],
)
def test_the_kind_of_modern_change_comes_from_the_first_part_that_changes(start, end, kind):
    assert change_kind(start, end) == kind


def test_every_entry_of_the_content_file_has_words_and_a_doc_source():
    text = resources.files("upgrade_planner.domain.content").joinpath("rollback.toml")
    content = tomllib.loads(text.read_text("utf-8"))

    for name, stage in content["stages"].items():
        assert stage["situation"].strip(), name
        assert stage["rollback"], name
        assert stage["sources"], name
        for source in stage["sources"]:
            assert source.startswith("docs/") and source.endswith(".md"), (name, source)
    for name, note in content["notes"].items():
        assert note["source"].startswith("docs/") and note["source"].endswith(".md"), name
        assert note.get("rollback") or note.get("must_not"), name
