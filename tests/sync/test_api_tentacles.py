"""PUT /api/v1/plans/<edit_token>/tentacles: replace the inventory over the API."""

import json

import pytest

from tests.factories import create_plan, tentacle
from tests.sync.helpers import (
    activity_ids,
    in_place_plan_with_progress,
    inventory_of,
    replaced,
    rows,
    snapshot,
    step,
    without,
)
from upgrade_planner.domain.inventory import to_csv
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.models import Step
from upgrade_planner.plans.services import resync

pytestmark = pytest.mark.django_db


def put(client, token, body, content_type="application/json", query=""):
    data = json.dumps(body) if content_type == "application/json" else body
    return client.put(
        f"/api/v1/plans/{token}/tentacles{query}", data=data, content_type=content_type
    )


def state_of(plan):
    plan.refresh_from_db()
    return (
        plan.version,
        [
            (t.name, t.communication_style, t.port)
            for t in Tentacle.objects.filter(installation=plan.installation)
        ],
        snapshot(plan),
        Step.objects.filter(plan=plan).count(),
        activity_ids(plan),
    )


def test_a_json_list_replaces_the_inventory_and_reports_the_diff(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    new = [*without(inventory_of(plan), "web-0012"), tentacle("web-0013")]
    before = snapshot(plan)

    response = put(client, created.edit_token, rows(new))

    assert response.status_code == 200
    body = response.json()
    assert (body["added"], body["removed"], body["changed"], body["unchanged"]) == (1, 1, 0, 11)
    assert body["diff"]["added"] == ["web-0013"] and body["diff"]["removed"] == ["web-0012"]
    assert body["steps"] == {"created": 1, "kept": 22, "retired": 1}
    plan.refresh_from_db()
    assert body["version"] == plan.version
    assert response["ETag"] == f'"{plan.id.hex[:12]}-{plan.version}"'
    assert snapshot(plan) == before
    assert step(plan, "0:upgrade-tentacle:web-0012").retired


def test_an_object_body_carries_the_actor_and_the_approach_choice(client):
    created = in_place_plan_with_progress()
    plan = created.plan

    response = put(
        client,
        created.edit_token,
        {"tentacles": rows(inventory_of(plan)[:9]), "approach_choice": "keep", "actor": "Ci"},
    )

    assert response.status_code == 200
    assert response.json()["approach"] == "in-place"
    assert response.json()["approach_overridden"] is True
    assert plan.activities.first().actor == "Ci"


def test_a_csv_body_is_read_like_an_uploaded_file(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    new = replaced(inventory_of(plan), "web-0006", communication_style="polling")

    response = put(client, created.edit_token, to_csv(new).encode(), "text/csv", "?actor=Di")

    assert response.status_code == 200
    assert response.json()["changed"] == 1
    assert response.json()["diff"]["changed"] == [
        {"name": "web-0006", "fields": ["communication_style"]}
    ]
    assert Tentacle.objects.get(name="web-0006").communication_style == "polling"
    assert plan.activities.first().actor == "Di"


def test_bad_json_rows_get_422_naming_the_row_and_field_and_change_nothing(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)
    body = rows(inventory_of(plan))
    body[1]["port"] = 70000
    body[4]["communication_style"] = "carrier-pigeon"
    body.append({"name": "web-0013", "hostname": "http://web-0013"})

    response = put(client, created.edit_token, body)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {
        "tentacles[1].port",
        "tentacles[4].communication_style",
        "tentacles[12].hostname",
    }
    assert "65535" in errors["tentacles[1].port"][0]
    assert state_of(plan) == before


def test_bad_csv_gets_422_naming_each_line_and_column(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)
    csv = "name,port,online\nweb-0001,10933,yes\nweb-0002,abc,yes\nweb-0003,1,maybe\nweb-0001,,\n"

    response = put(client, created.edit_token, csv.encode(), "text/csv")

    assert response.status_code == 422
    messages = response.json()["errors"]["csv"]
    assert messages[0].startswith("Line 3, column port:")
    assert messages[1].startswith("Line 4, column online:")
    assert messages[2].startswith("Line 5, column name:") and "line 2" in messages[2]
    assert state_of(plan) == before


def test_the_read_only_link_is_refused(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)

    response = put(client, created.view_token, rows(inventory_of(plan)[:3]))

    assert response.status_code == 403
    assert response.json()["error"] == "read-only"
    assert state_of(plan) == before


def test_an_unknown_link_is_404(client):
    assert put(client, "no-such-token", []).status_code == 404


def test_a_change_of_approach_answers_409_until_someone_chooses(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)
    fewer = rows(inventory_of(plan)[:9])

    asked = put(client, created.edit_token, fewer)

    assert asked.status_code == 409
    body = asked.json()
    assert (body["error"], body["current"], body["recommended"]) == (
        "approach-change",
        "in-place",
        "manual",
    )
    assert "keep" in body["detail"] and "switch" in body["detail"]
    assert state_of(plan) == before

    switched = put(client, created.edit_token, fewer, query="?approach_choice=switch")

    assert switched.status_code == 200
    assert switched.json()["approach"] == "manual"
    assert step(plan, "0:backup-database").state == StepState.DONE


def test_a_failure_half_way_leaves_nothing_half_applied(client, monkeypatch):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(resync, "steps_reconcile", broken)
    with pytest.raises(RuntimeError):
        put(
            client,
            created.edit_token,
            rows([*inventory_of(plan)[1:], tentacle("web-0013")]),
            query="?confirm_removals=true",
        )

    assert state_of(plan) == before


def test_an_identical_inventory_is_a_no_op(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    version = plan.version

    response = put(client, created.edit_token, rows(inventory_of(plan)))

    assert response.status_code == 200
    assert response.json()["version"] == version
    assert response.json()["unchanged"] == 12


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"{not json", "application/json", 422, "body"),
        (json.dumps({"rows": []}).encode(), "application/json", 422, "rows"),
        (json.dumps({"approach_choice": "keep"}).encode(), "application/json", 422, "tentacles"),
        (json.dumps("web-01").encode(), "application/json", 422, "body"),
        (json.dumps({"tentacles": "web-01"}).encode(), "application/json", 422, "tentacles"),
        (
            json.dumps({"tentacles": [], "approach_choice": "maybe"}).encode(),
            "application/json",
            422,
            "approach_choice",
        ),
        (b"name\nweb-01\n", "text/plain", 415, None),
    ],
)
def test_malformed_bodies_get_clear_errors(client, body, content_type, status, field):
    created = create_plan()

    response = client.put(
        f"/api/v1/plans/{created.edit_token}/tentacles", data=body, content_type=content_type
    )

    assert response.status_code == status
    if field:
        assert field in response.json()["errors"]


def test_the_endpoint_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").json()

    operation = document["paths"]["/api/v1/plans/{token}/tentacles"]["put"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "text/csv"}
    assert "409" in operation["responses"]


def test_a_body_over_the_size_limit_gets_413(client, settings):
    created = create_plan()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = put(client, created.edit_token, ("name\n" + "web-01\n" * 50).encode(), "text/csv")

    assert response.status_code == 413
    assert "body" in response.json()["errors"]
