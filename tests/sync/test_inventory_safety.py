"""An inventory that cannot be wiped by accident: empty or header-less bodies are refused,
removing every Tentacle or one whose work has started takes an explicit confirmation,
If-Match is honoured, and a dry run shows the change without making it — over the API, on the
page, and in the service both share."""

import json
import re
from html import unescape

import pytest

from tests.factories import create_plan, fleet, tentacle
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
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step

pytestmark = pytest.mark.django_db

ALL_TWELVE = [f"web-{n:04d}" for n in range(1, 13)]


def put(client, token, body, content_type="application/json", query="", **headers):
    data = json.dumps(body) if content_type == "application/json" else body
    return client.put(
        f"/api/v1/plans/{token}/tentacles{query}",
        data=data,
        content_type=content_type,
        headers=headers,
    )


def state_of(plan):
    """Everything a replacement could change: version, Tentacles, steps, progress, log."""
    plan.refresh_from_db()
    return (
        plan.version,
        list(
            Tentacle.objects.filter(installation=plan.installation).values_list(
                "name", "communication_style", "port"
            )
        ),
        snapshot(plan),
        sorted(Step.objects.filter(plan=plan).values_list("key", "retired")),
        activity_ids(plan),
    )


def etag_of(client, token):
    response = client.get(f"/api/v1/plans/{token}")
    assert response.status_code == 200
    return response["ETag"]


# --- Bodies that say nothing are refused --------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", ""])
@pytest.mark.parametrize("body", [b"", b" \r\n\t\n"], ids=["empty", "blank"])
def test_an_empty_body_is_refused_naming_the_body_and_saves_nothing(client, content_type, body):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = client.put(
        f"/api/v1/plans/{created.edit_token}/tentacles", data=body, content_type=content_type
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["body"]
    assert "The body is empty" in response.json()["errors"]["body"][0]
    assert state_of(created.plan) == before


@pytest.mark.parametrize(
    "csv",
    [b"sep=;\r\n\r\n", b"\xef\xbb\xbf\n", b",,,\n , ,\n", b'sep=,\n"",""\n'],
    ids=["only the sep hint", "only a BOM", "empty cells", "hint and empty cells"],
)
def test_a_csv_without_a_header_row_is_refused_and_saves_nothing(client, csv):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = put(client, created.edit_token, csv, "text/csv")

    assert response.status_code == 422
    assert "no header row" in response.json()["errors"]["body"][0]
    assert state_of(created.plan) == before


def test_a_csv_of_rows_without_a_header_is_refused_naming_the_first_line(client):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = put(client, created.edit_token, b"web-0001,web-0001.corp\n", "text/csv")

    assert response.status_code == 422
    assert "should be a header" in response.json()["errors"]["csv"][0]
    assert state_of(created.plan) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tentacles": None}, "tentacles"),
        ({"actor": "Ana", "confirm_removals": True}, "tentacles"),
        (None, "body"),
        ("web-0001", "body"),
        (7, "body"),
    ],
    ids=["tentacles null", "no tentacles key", "null", "a string", "a number"],
)
def test_a_json_body_without_a_list_of_rows_is_refused_and_saves_nothing(client, body, field):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = put(client, created.edit_token, body)

    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert state_of(created.plan) == before


# --- Removing every Tentacle, or one whose work has started --------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [([], "application/json"), ({"tentacles": []}, "application/json"), (b"name\n", "text/csv")],
    ids=["empty list", "empty tentacles", "csv with only a header"],
)
def test_removing_every_tentacle_answers_409_naming_them_and_saves_nothing(
    client, body, content_type
):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = put(client, created.edit_token, body, content_type)

    assert response.status_code == 409
    answer = response.json()
    assert answer["error"] == "removals-need-confirmation"
    assert answer["every_tentacle"] is True
    assert answer["removing"] == ALL_TWELVE
    assert answer["with_progress"] == ["web-0001", "web-0002", "web-0003", "web-0004", "web-0005"]
    assert "every Tentacle" in answer["detail"] and "confirm_removals=true" in answer["detail"]
    assert state_of(created.plan) == before


def test_removing_every_tentacle_of_a_plan_without_progress_needs_confirmation_too(client):
    created = create_plan(tentacles=fleet(3))
    before = state_of(created.plan)

    response = put(client, created.edit_token, [])

    assert response.status_code == 409
    assert response.json()["removing"] == ["web-0001", "web-0002", "web-0003"]
    assert response.json()["with_progress"] == []
    assert state_of(created.plan) == before


def test_a_file_of_other_machines_removes_every_tentacle_and_needs_confirmation(client):
    created = create_plan(tentacles=fleet(3))
    before = state_of(created.plan)

    response = put(client, created.edit_token, rows(list(fleet(3, prefix="db"))))

    assert response.status_code == 409
    assert response.json()["every_tentacle"] is True
    assert state_of(created.plan) == before


def test_removing_every_tentacle_with_confirmation_retires_every_tentacle_step(client):
    created = in_place_plan_with_progress()
    plan = created.plan

    # With no Tentacles the planner would recommend another approach: keep this one.
    response = put(
        client,
        created.edit_token,
        [],
        query="?confirm_removals=true&approach_choice=keep&actor=Ana",
    )

    assert response.status_code == 200
    assert response.json()["removed"] == 12
    assert not Tentacle.objects.filter(installation=plan.installation).exists()
    per_tentacle = Step.objects.filter(plan=plan).exclude(tentacle="")
    assert per_tentacle.exists() and not per_tentacle.filter(retired=False).exists()
    # Retired, not reset: what was done stays on record.
    assert step(plan, "0:upgrade-tentacle:web-0003").state == StepState.DONE
    assert plan.activities.first().actor == "Ana"


def fail_web_0004(plan):
    services.step_fail(
        step_id=step(plan, "0:upgrade-tentacle:web-0004").id, plan=plan, reason="timed out"
    )


@pytest.mark.parametrize(
    ("name", "prepare"),
    [
        ("web-0003", None),  # done
        ("web-0004", None),  # in progress
        ("web-0005", None),  # skipped
        ("web-0004", fail_web_0004),  # failed
    ],
    ids=["done", "in-progress", "skipped", "failed"],
)
def test_removing_a_started_tentacle_answers_409_naming_it_and_saves_nothing(client, name, prepare):
    created = in_place_plan_with_progress()
    plan = created.plan
    if prepare:
        prepare(plan)
    before = state_of(plan)
    # web-0012 has not started: it may go without a word; the started one may not.
    new = without(inventory_of(plan), name, "web-0012")

    response = put(client, created.edit_token, rows(new))

    assert response.status_code == 409
    answer = response.json()
    assert answer["error"] == "removals-need-confirmation"
    assert (answer["removing"], answer["with_progress"]) == ([name], [name])
    assert answer["every_tentacle"] is False
    assert name in answer["detail"]
    assert state_of(plan) == before


def test_removing_a_started_tentacle_with_confirmation_retires_its_steps(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    new = without(inventory_of(plan), "web-0004")

    by_query = put(client, created.edit_token, rows(new), query="?confirm_removals=true")

    assert by_query.status_code == 200
    assert by_query.json()["diff"]["removed"] == ["web-0004"]
    upgrading = step(plan, "0:upgrade-tentacle:web-0004")
    assert upgrading.retired and upgrading.state == StepState.IN_PROGRESS

    in_body = put(
        client,
        created.edit_token,
        {
            "tentacles": rows(without(new, "web-0003")),
            "confirm_removals": True,
            "approach_choice": "keep",  # ten Tentacles are a handful: manual is recommended
        },
    )

    assert in_body.status_code == 200
    assert step(plan, "0:upgrade-tentacle:web-0003").retired


def test_removing_only_tentacles_not_started_needs_no_confirmation(client):
    created = in_place_plan_with_progress()
    plan = created.plan

    response = put(client, created.edit_token, rows(without(inventory_of(plan), "web-0012")))

    assert response.status_code == 200
    assert step(plan, "0:upgrade-tentacle:web-0012").retired


def test_an_instance_leaving_a_host_whose_upgrade_is_done_needs_confirmation(client):
    created = create_plan(
        tentacles=(
            tentacle("app-a", hostname="app.corp"),
            tentacle("app-b", hostname="app.corp"),
            tentacle("web-01"),
        )
    )
    plan = created.plan
    Step.objects.filter(plan=plan, tentacles=["app-a", "app-b"]).update(state=StepState.DONE)
    before = state_of(plan)

    response = put(client, created.edit_token, rows(without(inventory_of(plan), "app-b")))

    assert response.status_code == 409
    assert response.json()["removing"] == ["app-b"]
    assert state_of(plan) == before


def test_a_bad_confirmation_value_is_a_field_error(client):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = put(client, created.edit_token, [], query="?confirm_removals=perhaps")

    assert response.status_code == 422
    assert "confirm_removals" in response.json()["errors"]
    assert state_of(created.plan) == before


# --- If-Match -------------------------------------------------------------------------------------


def test_a_stale_if_match_answers_412_and_saves_nothing(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    read = etag_of(client, created.edit_token)
    services.step_start(step_id=step(plan, "0:upgrade-tentacle:web-0006").id, plan=plan)
    before = state_of(plan)
    new = rows([*inventory_of(plan), tentacle("web-0013")])

    response = put(client, created.edit_token, new, **{"If-Match": read})

    assert response.status_code == 412
    answer = response.json()
    assert answer["error"] == "plan-changed"
    assert answer["version"] == plan.version
    assert response["ETag"] == f'"{plan.id.hex[:12]}-{plan.version}"'
    assert state_of(plan) == before

    current = put(client, created.edit_token, new, **{"If-Match": response["ETag"]})

    assert current.status_code == 200
    assert Tentacle.objects.filter(name="web-0013").exists()


def test_an_if_match_of_another_plan_or_of_nothing_known_answers_412(client):
    created = in_place_plan_with_progress()
    other = create_plan()
    before = state_of(created.plan)
    new = rows([*inventory_of(created.plan), tentacle("web-0013")])

    for tag in (etag_of(client, other.edit_token), '"abc"', "garbage"):
        response = put(client, created.edit_token, new, **{"If-Match": tag})
        assert response.status_code == 412, tag

    assert state_of(created.plan) == before


def test_if_match_star_a_list_or_a_weakened_etag_that_holds_the_version_are_honoured(client):
    created = in_place_plan_with_progress()
    plan = created.plan

    # Each tag is made from the ETag just before it is sent: every change moves it on.
    for number, tag_of in enumerate(
        (
            lambda etag: "*",
            lambda etag: f'"stale-1", {etag}',
            lambda etag: f"W/{etag}",
        ),
        start=13,
    ):
        tag = tag_of(etag_of(client, created.edit_token))
        new = rows([*inventory_of(plan), tentacle(f"web-{number:04d}")])
        response = put(client, created.edit_token, new, **{"If-Match": tag})
        assert response.status_code == 200, tag

    assert Tentacle.objects.filter(installation=plan.installation).count() == 15


def test_the_service_refuses_a_version_the_plan_has_moved_on_from_under_its_lock():
    created = in_place_plan_with_progress()
    plan = created.plan
    read = plan.version
    services.step_start(step_id=step(plan, "0:upgrade-tentacle:web-0006").id, plan=plan)
    before = state_of(plan)

    with pytest.raises(services.PlanChangedSinceRead) as moved:
        services.inventory_replace(
            plan=plan, tentacles=[*inventory_of(plan), tentacle("web-0013")], expected_version=read
        )

    assert (moved.value.expected, moved.value.current) == (read, read + 1)
    assert state_of(plan) == before


# --- Dry run --------------------------------------------------------------------------------------


def test_a_dry_run_returns_the_diff_and_the_steps_and_saves_nothing(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)
    new = [
        *replaced(
            without(inventory_of(plan), "web-0003", "web-0012"),
            "web-0006",
            communication_style="polling",
        ),
        tentacle("web-0013"),
    ]

    response = put(client, created.edit_token, rows(new), query="?dry_run=true")

    assert response.status_code == 200
    answer = response.json()
    assert answer["dry_run"] is True
    assert (answer["added"], answer["removed"], answer["changed"], answer["unchanged"]) == (
        1,
        2,
        1,
        9,
    )
    assert answer["diff"] == {
        "added": ["web-0013"],
        "removed": ["web-0003", "web-0012"],
        "changed": [{"name": "web-0006", "fields": ["communication_style"]}],
    }
    assert [s["key"] for s in answer["created_steps"]] == ["0:upgrade-tentacle:web-0013"]
    retired = {s["key"]: s["state"] for s in answer["retired_steps"]}
    assert retired == {
        "0:upgrade-tentacle:web-0003": "done",
        "0:upgrade-tentacle:web-0012": "ready",
    }
    assert answer["steps"] == {"created": 1, "kept": 21, "retired": 2}
    assert answer["removals_to_confirm"] == ["web-0003"]
    assert answer["removes_every_tentacle"] is False
    assert answer["approach_change"] is None
    assert answer["version"] == plan.version
    assert response["ETag"] == f'"{plan.id.hex[:12]}-{plan.version}"'
    assert state_of(plan) == before

    # What it said is what happens, applied to the version it was made against.
    applied = put(
        client,
        created.edit_token,
        rows(new),
        query="?confirm_removals=true",
        **{"If-Match": response["ETag"]},
    )

    assert applied.status_code == 200
    assert applied.json()["steps"] == answer["steps"]
    assert step(plan, "0:upgrade-tentacle:web-0013").title == answer["created_steps"][0]["title"]


def test_a_dry_run_of_a_wipe_says_what_needs_confirming_and_saves_nothing(client):
    created = in_place_plan_with_progress()
    before = state_of(created.plan)

    response = put(client, created.edit_token, {"tentacles": [], "dry_run": True})

    assert response.status_code == 200
    assert response.json()["removes_every_tentacle"] is True
    assert response.json()["removals_to_confirm"] == ALL_TWELVE
    assert state_of(created.plan) == before


def test_a_dry_run_shows_both_answers_to_an_approach_change_and_follows_the_choice(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)
    fewer = rows(inventory_of(plan)[:9])

    unanswered = put(client, created.edit_token, fewer, query="?dry_run=true").json()
    switched = put(
        client, created.edit_token, fewer, query="?dry_run=true&approach_choice=switch"
    ).json()

    change = unanswered["approach_change"]
    assert (change["current"], change["recommended"]) == ("in-place", "manual")
    assert unanswered["steps"] == change["effects"]["keep"]
    assert switched["steps"] == change["effects"]["switch"]
    assert switched["steps"]["retired"] > unanswered["steps"]["retired"]
    assert "0:hydra-prepare" in {s["key"] for s in switched["retired_steps"]}
    assert "0:hydra-prepare" not in {s["key"] for s in unanswered["retired_steps"]}
    assert state_of(plan) == before


def test_a_dry_run_with_a_stale_if_match_answers_412(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    read = etag_of(client, created.edit_token)
    services.step_start(step_id=step(plan, "0:upgrade-tentacle:web-0006").id, plan=plan)

    response = put(client, created.edit_token, [], query="?dry_run=true", **{"If-Match": read})

    assert response.status_code == 412
    assert response.json()["error"] == "plan-changed"


# --- The service: one rule for every entry point --------------------------------------------------


def test_the_service_refuses_removing_a_started_tentacle_without_confirmation():
    created = in_place_plan_with_progress()
    plan = created.plan
    before = state_of(plan)

    with pytest.raises(services.RemovalsNeedConfirmation) as refused:
        services.inventory_replace(
            plan=plan, tentacles=without(inventory_of(plan), "web-0002", "web-0011")
        )

    removals = refused.value.removals
    assert removals.removed == ["web-0002", "web-0011"]
    assert removals.with_progress == ["web-0002"] == removals.to_confirm
    assert not removals.every_tentacle
    assert "web-0002" in refused.value.detail
    assert state_of(plan) == before


def test_the_service_refuses_removing_every_tentacle_without_confirmation():
    created = create_plan(tentacles=fleet(2))
    before = state_of(created.plan)

    with pytest.raises(services.RemovalsNeedConfirmation) as refused:
        services.inventory_replace(plan=created.plan, tentacles=[])

    assert refused.value.removals.to_confirm == ["web-0001", "web-0002"]
    assert refused.value.removals.every_tentacle
    assert state_of(created.plan) == before


def test_the_preview_names_the_removals_to_confirm():
    created = in_place_plan_with_progress()
    plan = created.plan

    some = services.inventory_preview(
        plan=plan, tentacles=without(inventory_of(plan), "web-0001", "web-0012")
    )
    every = services.inventory_preview(plan=plan, tentacles=[])
    none = services.inventory_preview(plan=plan, tentacles=without(inventory_of(plan), "web-0012"))

    assert some.removals.to_confirm == ["web-0001"]
    assert every.removals.every_tentacle and every.removals.to_confirm == ALL_TWELVE
    assert not none.removals.confirmation_needed and none.removals.removed == ["web-0012"]


# --- The page ------------------------------------------------------------------------------------


def preview_page(client, token, csv_text):
    response = client.post(f"/p/{token}/inventory/preview", {"inventory_csv": csv_text})
    assert response.status_code == 200
    return response.content.decode()


def hidden(body, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', body)
    return unescape(match.group(1)) if match else None


def apply_page(client, token, body, **extra):
    return client.post(
        f"/p/{token}/inventory/apply",
        {
            "inventory_csv": hidden(body, "inventory_csv"),
            "fingerprint": hidden(body, "fingerprint"),
            **extra,
        },
    )


def test_the_page_asks_for_a_tick_naming_the_started_tentacles_before_removing_them(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    new = [
        *without(inventory_of(plan), "web-0003", "web-0004", "web-0012"),
        tentacle("web-0013"),
        tentacle("web-0014"),
    ]

    body = preview_page(client, created.edit_token, to_csv(new))

    assert "Tentacles with progress would be removed" in body
    assert "<li><strong>web-0003</strong></li><li><strong>web-0004</strong></li>" in body
    assert 'name="confirm_removals"' in body
    assert "Remove 2 Tentacles with progress and retire their steps" in body
    before = state_of(plan)

    unticked = apply_page(client, created.edit_token, body)

    assert unticked.status_code == 200
    page = unticked.content.decode()
    assert "This inventory removes web-0003 and web-0004" in page
    assert "Tick the box to remove them anyway, or cancel." in page
    assert state_of(plan) == before

    ticked = apply_page(client, created.edit_token, body, confirm_removals="on")

    assert ticked.status_code == 302
    assert not Tentacle.objects.filter(name__in=["web-0003", "web-0004", "web-0012"]).exists()
    assert step(plan, "0:upgrade-tentacle:web-0004").retired


def test_the_page_asks_for_a_tick_before_removing_every_tentacle(client):
    created = in_place_plan_with_progress()
    plan = created.plan

    body = preview_page(client, created.edit_token, "name\n")

    assert "Every Tentacle would be removed" in body
    assert "Remove every Tentacle and retire all their steps" in body
    assert all(f"<li><strong>{name}</strong></li>" in body for name in ALL_TWELVE)
    before = state_of(plan)

    unticked = apply_page(client, created.edit_token, body)

    assert "removes every Tentacle of the plan (12)" in unticked.content.decode()
    assert state_of(plan) == before

    ticked = apply_page(
        client, created.edit_token, body, confirm_removals="on", approach_choice="keep"
    )

    assert ticked.status_code == 302
    assert not Tentacle.objects.filter(installation=plan.installation).exists()


def test_the_page_asks_no_tick_when_only_untouched_tentacles_go(client):
    created = in_place_plan_with_progress()
    plan = created.plan

    body = preview_page(client, created.edit_token, to_csv(without(inventory_of(plan), "web-0012")))

    assert 'name="confirm_removals"' not in body
    assert apply_page(client, created.edit_token, body).status_code == 302
    assert not Tentacle.objects.filter(name="web-0012").exists()
