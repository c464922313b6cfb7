"""A new plan's 201 answer is built from the rows it wrote, not read back: it must say exactly
what a read of the plan says, and the states it derives without the database must be the ones
the database derives."""

from __future__ import annotations

import gc
import json
import uuid

import pytest

from tests.factories import api_body, create_plan, fleet
from upgrade_planner.bulk import insert_rows
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Plan, Step
from upgrade_planner.plans.services import reconcile

pytestmark = pytest.mark.django_db

# Several machines of each sort the planner treats apart: listening and polling, several
# instances on one host, offline and restricted ones done by hand, a second environment.
MIXED_FLEET = [
    {**row, "hostname": "shared.corp"} if index in {3, 4} else row
    for index, row in enumerate(
        api_body(
            tentacles=[
                {
                    "name": f"web-{index:02d}",
                    "hostname": f"web-{index:02d}.corp",
                    "port": 10933,
                    "version": "2.6.5",
                    "communication_style": "polling" if index % 3 == 0 else "listening",
                    "environments": ["Production", "Staging"][: 1 + index % 2],
                    "roles": ["web", "api"][: 1 + index % 2],
                    "os": "Windows Server 2012 R2",
                    "service_account": "CORP\\svc" if index == 5 else "",
                    "restricted_permissions": index == 6,
                    "online": index != 7,
                }
                for index in range(12)
            ]
        )["tentacles"]
    )
]


@pytest.mark.parametrize("approach", [None, "new-server", "in-place"])
def test_the_created_answer_is_the_plan_as_read_back(client, approach):
    created = client.post(
        "/api/v1/plans",
        api_body(tentacles=MIXED_FLEET, approach=approach),
        content_type="application/json",
    )
    assert created.status_code == 201
    answer = created.json()

    read = client.get(f"/api/v1/plans/{answer['edit_token']}")

    document = read.json()
    for key in ("edit_token", "view_token", "edit_url", "view_url"):
        answer.pop(key)
    # Computed from the clock at each read: the only part allowed to differ.
    answer["schedule"].pop("computed_at")
    document["schedule"].pop("computed_at")
    assert answer == document
    # The rows written are given in the order a read gives them, key for key. (PostgreSQL keeps
    # the plan's own JSON fields with their keys sorted, which no reader can rely on either.)
    for part in ("steps", "instance"):
        assert json.dumps(answer[part]) == json.dumps(document[part])
    assert created["ETag"] == read["ETag"]


def test_a_new_plans_states_are_what_the_database_derives():
    plan = create_plan(tentacles=fleet(5)).plan
    before = dict(Step.objects.filter(plan=plan).values_list("id", "state"))
    assert set(before.values()) == {StepState.READY, StepState.BLOCKED}

    reconcile._states_rederive(plan)

    assert dict(Step.objects.filter(plan=plan).values_list("id", "state")) == before
    assert Plan.objects.get(pk=plan.pk).finished_steps == plan.finished_steps == 0


def test_a_step_without_prerequisites_is_ready_and_every_other_blocked():
    plan = create_plan(tentacles=fleet(3)).plan

    for step in Step.objects.filter(plan=plan).prefetch_related("depends_on"):
        expected = StepState.BLOCKED if step.depends_on.exists() else StepState.READY
        assert step.state == expected, step.key


def test_the_collector_is_back_on_after_a_plan_is_created_or_refused():
    assert gc.isenabled()
    create_plan(tentacles=fleet(2))
    assert gc.isenabled()

    with pytest.raises(services.PlanInputInvalid):
        create_plan(target_version="2.6.5")

    assert gc.isenabled()


def test_the_collector_stays_off_if_it_was_off():
    gc.disable()
    try:
        create_plan(tentacles=fleet(2))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_bulk_rows_read_back_as_written():
    """Values go to the database unconverted where its driver takes them as they are: text
    with COPY's special characters, JSON, keys, NULLs."""
    installation = Installation.objects.create(
        name="x", server_version="2.6.5", target_version="3.17.14"
    )
    rows = [
        [
            None,
            installation.pk,
            0,
            "web-01",
            "",
            None,
            "",
            "listening",
            [],
            [],
            "",
            "",
            False,
            True,
        ],
        [
            None,
            installation.pk,
            1,
            'odd "name"\t\\ \n ü',
            "h.corp",
            10933,
            "2.6.5",
            "polling",
            ['Pro"duction', "b\\c"],
            ["web"],
            "Windows",
            "CORP\\svc",
            True,
            False,
        ],
    ]
    for row in rows:
        row[0] = uuid.uuid4()
    columns = ["id", "installation", "position", "name", "hostname", "port", "version",
               "communication_style", "environments", "roles", "os", "service_account",
               "restricted_permissions", "online"]  # fmt: skip

    assert insert_rows(Tentacle, columns, rows) == 2

    stored = list(
        Tentacle.objects.filter(installation=installation)
        .order_by("position")
        .values_list(*[("installation_id" if c == "installation" else c) for c in columns])
    )
    assert [list(row) for row in stored] == rows


def test_ordered_ids_are_uuids_of_this_millisecond_each_above_the_last():
    from upgrade_planner.bulk import ordered_ids

    ids = ordered_ids(200)

    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(text) for text in ids]
    assert [str(value) for value in parsed] == ids
    assert {value.version for value in parsed} == {7}
    assert {value.variant for value in parsed} == {uuid.RFC_4122}
    assert ids == sorted(ids)


def test_a_new_plans_tentacle_keys_follow_its_order():
    created = create_plan(tentacles=fleet(30))
    ids = list(
        Tentacle.objects.filter(installation=created.plan.installation)
        .order_by("position")
        .values_list("id", flat=True)
    )

    assert len(ids) == 30
    assert ids == sorted(ids)


def test_json_lists_that_compare_equal_as_tuples_are_stored_apart():
    """The JSON text of repeated lists is remembered; [1] and [True] are equal tuples."""
    installation = Installation.objects.create(
        name="x", server_version="2.6.5", target_version="3.17.14"
    )
    lists = [["Production"], [1], [True], ["Production"], [], ["1"], [{"a": 1}], []]
    columns = ["id", "installation", "position", "name", "hostname", "port", "version",
               "communication_style", "environments", "roles", "os", "service_account",
               "restricted_permissions", "online"]  # fmt: skip
    rows = [
        [
            uuid.uuid4(),
            installation.pk,
            index,
            f"web-{index}",
            "",
            None,
            "",
            "listening",
            value,
            ["web"],
            "",
            "",
            False,
            True,
        ]
        for index, value in enumerate(lists)
    ]

    insert_rows(Tentacle, columns, rows)

    stored = Tentacle.objects.filter(installation=installation).order_by("position")
    assert [tentacle.environments for tentacle in stored] == lists
