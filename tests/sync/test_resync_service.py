"""Re-syncing the inventory of a plan that is under way: only the changed Tentacles' steps move,
every other tick, piece of evidence and log entry stays."""

import pytest

from tests.factories import create_plan, fleet, tentacle
from tests.sync.helpers import (
    activity_ids,
    complete,
    in_place_plan_with_progress,
    inventory_of,
    replaced,
    snapshot,
    step,
    without,
)
from upgrade_planner.domain.inventory_diff import inventory_fingerprint
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans import services
from upgrade_planner.plans.documents import plan_document
from upgrade_planner.plans.models import Activity, Step

pytestmark = pytest.mark.django_db


def warning_codes(plan):
    plan.refresh_from_db()
    return {w["code"] for w in plan.warnings}


def test_adding_a_tentacle_creates_only_its_step_and_leaves_all_progress_alone():
    created = in_place_plan_with_progress()
    plan = created.plan
    before, logged, version = snapshot(plan), activity_ids(plan), plan.version

    outcome = services.inventory_replace(
        plan=plan, tentacles=[*inventory_of(plan), tentacle("web-0013")], actor="Bo"
    )

    assert outcome.diff.counts() == {"added": 1, "removed": 0, "changed": 0, "unchanged": 12}
    assert outcome.steps["created"] == 1 and outcome.steps["retired"] == 0
    assert snapshot(plan) == before
    assert activity_ids(plan) > logged
    new = step(plan, "0:upgrade-tentacle:web-0013")
    assert new.state == StepState.READY  # Hydra is prepared and the canary verified
    assert new.tentacle_ref.name == "web-0013"
    assert "|env=Production|" in new.labels
    # The fleet gate now waits for the new machine as well.
    gate = step(plan, "0:verify-old-server-cut-off")
    assert new.id in set(gate.depends_on.values_list("id", flat=True))
    plan.refresh_from_db()
    assert plan.version == version + 1
    entry = Activity.objects.filter(plan=plan).first()
    assert entry.action == "inventory-replaced" and entry.actor == "Bo"
    assert entry.details["added"] == 1
    assert entry.details["names"]["added"] == ["web-0013"]
    assert entry.details["summary"] == "1 added (web-0013)"


def test_removing_a_tentacle_retires_its_steps_but_keeps_them_and_their_history():
    created = in_place_plan_with_progress()
    plan = created.plan
    upgraded = step(plan, "0:upgrade-tentacle:web-0003")
    its_log = set(Activity.objects.filter(step=upgraded).values_list("id", flat=True))
    before = snapshot(plan)

    outcome = services.inventory_replace(
        plan=plan, tentacles=without(inventory_of(plan), "web-0003"), confirm_removals=True
    )

    assert outcome.diff.counts()["removed"] == 1
    upgraded.refresh_from_db()
    assert upgraded.retired is True
    assert upgraded.state == StepState.DONE  # retired, not reset or deleted
    assert upgraded.tentacle == "web-0003" and upgraded.tentacle_ref is None
    assert set(Activity.objects.filter(step=upgraded).values_list("id", flat=True)) == its_log
    assert not Tentacle.objects.filter(installation=plan.installation, name="web-0003").exists()
    expected = {key: value for key, value in before.items() if key != upgraded.key}
    after = snapshot(plan)
    assert after.pop(upgraded.key)["retired"] is True
    assert after == expected
    document = plan_document(plan)
    assert "web-0003" not in {s["tentacle"] for s in document["steps"]}
    assert len(document["instance"]["tentacles"]) == 11


def test_a_rename_is_a_removal_and_an_addition():
    created = in_place_plan_with_progress()
    plan = created.plan
    before = snapshot(plan)
    renamed = replaced(inventory_of(plan), "web-0002", name="web-0002-new")

    outcome = services.inventory_replace(plan=plan, tentacles=renamed, confirm_removals=True)

    assert [t.name for t in outcome.diff.added] == ["web-0002-new"]
    assert [t.name for t in outcome.diff.removed] == ["web-0002"]
    old = step(plan, "0:upgrade-tentacle:web-0002")
    assert old.retired and old.state == StepState.DONE and old.evidence  # kept, with evidence
    new = step(plan, "0:upgrade-tentacle:web-0002-new")
    assert new.state == StepState.READY and new.evidence == []
    after = snapshot(plan)
    assert {k: v for k, v in after.items() if k != old.key} == {
        k: v for k, v in before.items() if k != old.key
    }


def test_a_name_whose_case_changed_is_the_same_tentacle_and_keeps_its_steps():
    created = in_place_plan_with_progress()
    plan = created.plan
    upgraded = step(plan, "0:upgrade-tentacle:web-0002")

    outcome = services.inventory_replace(
        plan=plan, tentacles=replaced(inventory_of(plan), "web-0002", name="WEB-0002")
    )

    assert outcome.diff.counts()["changed"] == 1 and outcome.diff.changed[0].fields == ("name",)
    assert outcome.steps["created"] == 0 and outcome.steps["retired"] == 0
    upgraded.refresh_from_db()
    assert upgraded.key == "0:upgrade-tentacle:WEB-0002"
    assert upgraded.state == StepState.DONE and upgraded.evidence and not upgraded.retired
    assert upgraded.tentacle == "WEB-0002"
    assert Tentacle.objects.get(installation=plan.installation, name="WEB-0002").position == 1


def test_listening_to_polling_keeps_progress_and_brings_the_polling_warnings():
    created = in_place_plan_with_progress()
    plan = created.plan
    assert "polling-port" not in warning_codes(plan)
    before = snapshot(plan)
    machine = step(plan, "0:upgrade-tentacle:web-0006")

    outcome = services.inventory_replace(
        plan=plan,
        tentacles=replaced(inventory_of(plan), "web-0006", communication_style="polling"),
    )

    assert outcome.diff.changed[0].fields == ("communication_style",)
    assert {"polling-port", "server-mapping"} <= warning_codes(plan)
    assert snapshot(plan) == before
    machine.refresh_from_db()
    assert "|style=polling|" in machine.labels
    assert machine.tentacle_ref.communication_style == "polling"
    assert "polling" in machine.detail.lower()

    # And back: the warnings go again.
    services.inventory_replace(
        plan=plan,
        tentacles=replaced(inventory_of(plan), "web-0006", communication_style="listening"),
    )
    assert "polling-port" not in warning_codes(plan)
    assert snapshot(plan) == before


def test_a_tentacle_going_offline_moves_to_the_manual_track_and_gains_its_own_steps():
    # 3.0.1's installer leaves the service on the old binaries: hand upgrades add a reinstall.
    created = create_plan(
        target_version="3.0.1", can_provision_new_server=False, tentacles=fleet(12)
    )
    plan = created.plan
    complete(plan, "0:backup-license-key", "0:prepare-sql-server")
    before = snapshot(plan)
    assert not Step.objects.filter(plan=plan, kind="reinstall-tentacle-service").exists()

    outcome = services.inventory_replace(
        plan=plan, tentacles=replaced(inventory_of(plan), "web-0007", online=False)
    )

    assert outcome.diff.changed[0].fields == ("online",)
    upgrade = step(plan, "0:upgrade-tentacle:web-0007")
    assert upgrade.method == "manual"
    added = Step.objects.get(plan=plan, kind="reinstall-tentacle-service")
    assert added.tentacle == "web-0007"
    assert outcome.steps["created"] == 1
    assert "offline-tentacles" in warning_codes(plan)
    assert step(plan, "0:upgrade-tentacle:web-0008").method == "hydra"
    assert snapshot(plan) == before

    services.inventory_replace(
        plan=plan, tentacles=replaced(inventory_of(plan), "web-0007", online=True)
    )
    added.refresh_from_db()
    assert added.retired
    assert "offline-tentacles" not in warning_codes(plan)


def test_a_changed_environment_updates_the_rows_and_the_step_labels():
    created = in_place_plan_with_progress()
    plan = created.plan

    services.inventory_replace(
        plan=plan,
        tentacles=replaced(inventory_of(plan), "web-0003", environments=("Staging",)),
    )

    upgraded = step(plan, "0:upgrade-tentacle:web-0003")
    assert "|env=Staging|" in upgraded.labels and "|env=Production|" not in upgraded.labels
    assert upgraded.state == StepState.DONE
    assert Tentacle.objects.get(name="web-0003", installation=plan.installation).environments == [
        "Staging"
    ]


def test_the_last_but_one_instance_leaving_a_host_keeps_the_machines_progress():
    created = create_plan(
        tentacles=(
            tentacle("app-a", hostname="app.corp"),
            tentacle("app-b", hostname="app.corp"),
            tentacle("web-01"),
        )
    )
    plan = created.plan
    machine = Step.objects.get(plan=plan, kind="upgrade-tentacle", tentacles=["app-a", "app-b"])
    Step.objects.filter(pk=machine.pk).update(state=StepState.DONE)

    outcome = services.inventory_replace(
        plan=plan, tentacles=without(inventory_of(plan), "app-b"), confirm_removals=True
    )

    machine.refresh_from_db()
    assert machine.key == "0:upgrade-tentacle:app-a"
    assert machine.state == StepState.DONE and not machine.retired
    assert machine.tentacles == ["app-a"]
    assert outcome.steps["created"] == 0


def test_an_identical_inventory_changes_nothing_not_even_the_version():
    created = in_place_plan_with_progress()
    plan = created.plan
    version, logged = plan.version, activity_ids(plan)
    # Spelt differently where spelling means nothing: host case, list order.
    same = replaced(inventory_of(plan), "web-0001", hostname="WEB-0001.CORP")

    outcome = services.inventory_replace(plan=plan, tentacles=same)

    assert outcome.diff.empty
    plan.refresh_from_db()
    assert plan.version == version and activity_ids(plan) == logged
    assert Tentacle.objects.get(name="web-0001").hostname == "web-0001.corp"


def test_a_change_of_recommended_approach_is_not_made_silently():
    created = in_place_plan_with_progress()  # 12 Tentacles, no new server: in-place
    plan = created.plan
    version, before = plan.version, snapshot(plan)
    fewer = inventory_of(plan)[:9]  # a handful: the planner now recommends manual

    with pytest.raises(services.ApproachChangeRequired) as prompt:
        services.inventory_replace(plan=plan, tentacles=fewer)

    assert (prompt.value.current, prompt.value.recommended) == ("in-place", "manual")
    assert "manual" in prompt.value.detail
    plan.refresh_from_db()
    assert plan.version == version and plan.approach == "in-place"
    assert Tentacle.objects.filter(installation=plan.installation).count() == 12
    assert snapshot(plan) == before


def test_keeping_the_approach_records_it_as_the_teams_choice():
    created = in_place_plan_with_progress()
    plan = created.plan

    outcome = services.inventory_replace(
        plan=plan, tentacles=inventory_of(plan)[:9], approach_choice="keep"
    )

    plan.refresh_from_db()
    assert plan.approach == "in-place" and plan.approach_overridden
    assert plan.recommended_approach == "manual"
    assert outcome.approach_after == "in-place"
    assert step(plan, "0:verify-canary").state == StepState.DONE
    assert Activity.objects.filter(plan=plan).first().details["approach_choice"] == "keep"
    # The override then holds: a further change asks nothing.
    services.inventory_replace(plan=plan, tentacles=inventory_of(plan)[:8])
    plan.refresh_from_db()
    assert plan.approach == "in-place"


def test_switching_the_approach_keeps_progress_on_the_steps_both_plans_have():
    created = in_place_plan_with_progress()
    plan = created.plan

    outcome = services.inventory_replace(
        plan=plan, tentacles=inventory_of(plan)[:9], approach_choice="switch", actor="Ana"
    )

    plan.refresh_from_db()
    assert plan.approach == "manual" and not plan.approach_overridden
    assert (outcome.approach_before, outcome.approach_after) == ("in-place", "manual")
    for key in ("0:backup-license-key", "0:backup-master-key", "0:backup-database"):
        assert step(plan, key).state == StepState.DONE
    # Hydra has no place in the manual approach: its step is retired with its tick.
    hydra = step(plan, "0:hydra-prepare")
    assert hydra.retired and hydra.state == StepState.DONE
    # Per-Tentacle upgrades exist in both plans and keep their progress.
    assert step(plan, "0:upgrade-tentacle:web-0003").state == StepState.DONE
    assert step(plan, "0:upgrade-tentacle:web-0002").evidence
    entry = Activity.objects.filter(plan=plan).first()
    assert (entry.from_state, entry.to_state) == ("in-place", "manual")


def test_an_overridden_plan_keeps_its_override_without_asking():
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12), approach="manual")
    plan = created.plan
    assert plan.approach_overridden

    services.inventory_replace(plan=plan, tentacles=inventory_of(plan)[:4])

    plan.refresh_from_db()
    assert plan.approach == "manual"


def test_a_stale_preview_is_refused():
    created = in_place_plan_with_progress()
    plan = created.plan
    reviewed = inventory_fingerprint(inventory_of(plan))
    services.inventory_replace(plan=plan, tentacles=inventory_of(plan)[:11], approach_choice=None)

    with pytest.raises(services.InventoryChangedSincePreview):
        services.inventory_replace(
            plan=plan, tentacles=inventory_of(plan)[:10], expected_fingerprint=reviewed
        )


def test_duplicate_names_are_refused_before_anything_is_written():
    created = in_place_plan_with_progress()
    plan = created.plan

    with pytest.raises(services.PlanInputInvalid) as invalid:
        services.inventory_replace(plan=plan, tentacles=[*inventory_of(plan), tentacle("WEB-0001")])

    assert "tentacles[12].name" in invalid.value.errors


def test_the_preview_says_what_would_happen_and_writes_nothing():
    created = in_place_plan_with_progress()
    plan = created.plan
    version, before = plan.version, snapshot(plan)
    Step.objects.filter(plan=plan, key="0:verify-old-server-cut-off").update(state=StepState.DONE)
    new = [
        *replaced(
            without(inventory_of(plan), "web-0003"), "web-0006", communication_style="polling"
        ),
        tentacle("web-0013"),
    ]

    preview = services.inventory_preview(plan=plan, tentacles=new)

    assert preview.diff.counts() == {"added": 1, "removed": 1, "changed": 1, "unchanged": 10}
    assert preview.steps == {"created": 1, "kept": 22, "retired": 1}
    assert preview.approach_change is None
    assert (step(plan, "0:upgrade-tentacle:web-0003").title, "done") in (
        preview.retiring_with_progress
    )
    assert step(plan, "0:verify-old-server-cut-off").title in preview.finished_before_new_work
    plan.refresh_from_db()
    assert plan.version == version
    assert {k: v for k, v in snapshot(plan).items() if "cut-off" not in k} == before


def test_the_preview_shows_both_answers_to_an_approach_change():
    created = in_place_plan_with_progress()

    preview = services.inventory_preview(
        plan=created.plan, tentacles=inventory_of(created.plan)[:9]
    )

    change = preview.approach_change
    assert (change.current, change.recommended) == ("in-place", "manual")
    assert change.effects["keep"]["retired"] == 3
    assert change.effects["switch"]["retired"] > change.effects["keep"]["retired"]
