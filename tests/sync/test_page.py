"""Updating the inventory from the plan page: paste or upload or fetch, review, confirm."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import create_plan, fleet, tentacle
from tests.fake_octopus import API_KEY, FakeOctopus, listening, polling
from tests.sync.helpers import (
    activity_ids,
    in_place_plan_with_progress,
    inventory_of,
    replaced,
    snapshot,
    step,
    without,
)
from upgrade_planner.domain.inventory import to_csv
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans import services
from upgrade_planner.plans.models import FetchState, InventoryFetch

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    """Celery runs the job in-process, as in the embedded default, whatever REDIS_URL says."""
    from upgrade_planner.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


@pytest.fixture
def octopus():
    server = FakeOctopus(
        machines=[
            listening("web-01", "web-01.corp"),
            listening("web-02", "web-02.corp"),
            polling("app-01", envs=["Environments-2"]),
            {"Id": "Machines-9", "Name": "linux-01", "Endpoint": {"CommunicationStyle": "Ssh"}},
        ]
    ).start()
    yield server
    server.stop()


def hidden(body, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', body)
    return unescape(match.group(1)) if match else None


def preview(client, token, csv_text):
    return client.post(f"/p/{token}/inventory/preview", {"inventory_csv": csv_text})


def test_the_edit_page_offers_the_update_and_the_read_only_page_does_not(client):
    created = create_plan()

    edit = client.get(f"/p/{created.edit_token}/").content.decode()
    view = client.get(f"/v/{created.view_token}/").content.decode()

    assert "Update the inventory" in edit
    assert f'action="/p/{created.edit_token}/inventory/preview"' in edit
    assert 'name="api_key"' in edit
    assert "Update the inventory" not in view


def test_the_preview_shows_the_diff_and_changes_nothing(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    before, logged, version = snapshot(plan), activity_ids(plan), plan.version
    new = [
        *replaced(
            without(inventory_of(plan), "web-0003"), "web-0006", communication_style="polling"
        ),
        tentacle("web-0013"),
    ]

    response = preview(client, created.edit_token, to_csv(new))

    assert response.status_code == 200
    body = response.content.decode()
    assert "1 added" in body and "1 removed" in body and "1 changed" in body
    assert "<strong>web-0013</strong>" in body
    assert "<del>listening</del>" in body and "<ins>polling</ins>" in body
    assert "with progress will be retired" in body
    assert "Apply these changes" in body
    assert hidden(body, "fingerprint")
    plan.refresh_from_db()
    assert (snapshot(plan), activity_ids(plan), plan.version) == (before, logged, version)


def test_confirming_applies_exactly_the_reviewed_inventory(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    new = [*without(inventory_of(plan), "web-0003"), tentacle("web-0013")]
    body = preview(client, created.edit_token, to_csv(new)).content.decode()

    response = client.post(
        f"/p/{created.edit_token}/inventory/apply",
        {
            "inventory_csv": hidden(body, "inventory_csv"),
            "fingerprint": hidden(body, "fingerprint"),
            "confirm_removals": "on",  # web-0003 was upgraded: its removal is confirmed
            "actor": "Ana",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/#tentacles"
    names = set(
        Tentacle.objects.filter(installation=plan.installation).values_list("name", flat=True)
    )
    assert "web-0013" in names and "web-0003" not in names
    assert step(plan, "0:upgrade-tentacle:web-0003").retired
    page = client.get(response["Location"]).content.decode()
    assert "Inventory updated: 1 added (web-0013); 1 removed (web-0003)" in page
    assert "updated the inventory: 1 added (web-0013); 1 removed (web-0003)" in page


def test_an_uploaded_file_is_read_like_a_pasted_one(client):
    created = create_plan(tentacles=fleet(3))
    upload = SimpleUploadedFile(
        "fleet.csv",
        b"\xef\xbb\xbfname;hostname;environments\nweb-0001;web-0001.corp;Production\n"
        b'web-0004;web-0004.corp;"Production;Staging"\n',
    )

    response = client.post(f"/p/{created.edit_token}/inventory/preview", {"inventory_file": upload})

    body = response.content.decode()
    assert "1 added" in body and "2 removed" in body
    assert "Production, Staging" in body


def test_a_bad_csv_shows_every_error_with_its_line_and_saves_nothing(client):
    created = create_plan()
    version = created.plan.version

    response = preview(client, created.edit_token, "name,port\nweb-01,abc\nweb-01,\n")

    body = unescape(response.content.decode())
    assert response.status_code == 200
    assert "Line 2, column port:" in body
    assert "Line 3, column name:" in body
    assert "name,port" in body  # what was pasted comes back to be fixed
    created.plan.refresh_from_db()
    assert created.plan.version == version


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Paste the new inventory or choose a CSV file"),
        (
            {"inventory_csv": "name\na", "inventory_file": SimpleUploadedFile("a.csv", b"name\nb")},
            "not both",
        ),
    ],
)
def test_it_needs_exactly_one_source(client, data, message):
    created = create_plan()

    response = client.post(f"/p/{created.edit_token}/inventory/preview", data)

    assert message in unescape(response.content.decode())


def test_an_approach_change_is_asked_and_applied_as_chosen(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    body = preview(client, created.edit_token, to_csv(inventory_of(plan)[:9])).content.decode()
    assert "The recommended approach changes" in body
    assert "recommends <strong>Manual</strong> instead of <strong>In-place</strong>" in body
    assert "This plan follows <strong>In-place</strong>" in body
    form = {
        "inventory_csv": hidden(body, "inventory_csv"),
        "fingerprint": hidden(body, "fingerprint"),
    }

    unanswered = client.post(f"/p/{created.edit_token}/inventory/apply", form)

    assert unanswered.status_code == 200
    assert "Choose whether to keep the approach or switch." in unanswered.content.decode()
    assert Tentacle.objects.filter(installation=plan.installation).count() == 12

    kept = client.post(
        f"/p/{created.edit_token}/inventory/apply", {**form, "approach_choice": "keep"}
    )

    assert kept.status_code == 302
    plan.refresh_from_db()
    assert plan.approach == "in-place" and plan.approach_overridden
    assert Tentacle.objects.filter(installation=plan.installation).count() == 9


def test_a_preview_made_stale_by_someone_else_is_shown_again(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    body = preview(
        client, created.edit_token, to_csv([*inventory_of(plan), tentacle("web-0013")])
    ).content.decode()
    services.inventory_replace(plan=plan, tentacles=[*inventory_of(plan), tentacle("web-0014")])

    response = client.post(
        f"/p/{created.edit_token}/inventory/apply",
        {
            "inventory_csv": hidden(body, "inventory_csv"),
            "fingerprint": hidden(body, "fingerprint"),
        },
    )

    page = unescape(response.content.decode())
    assert response.status_code == 200
    assert "changed this plan's inventory after you reviewed" in page
    assert "<strong>web-0014</strong>" in page  # would now be removed: shown in the new diff
    assert not Tentacle.objects.filter(name="web-0013").exists()


def test_a_tampered_confirmation_is_refused(client):
    created = create_plan()

    response = client.post(
        f"/p/{created.edit_token}/inventory/apply",
        {"inventory_csv": "name,port\nx,99999\n", "fingerprint": "abc"},
    )

    assert "did not come back intact" in response.content.decode()
    assert not Tentacle.objects.filter(name="x").exists()


def test_the_read_only_link_cannot_update_the_inventory(client):
    created = create_plan()

    for path in ("inventory/preview", "inventory/apply", "inventory/fetch"):
        assert client.post(f"/p/{created.view_token}/{path}", {}).status_code == 404
    assert client.get(f"/p/{created.view_token}/inventory.csv").status_code == 404


def test_the_current_inventory_downloads_as_csv(client):
    created = create_plan(tentacles=(tentacle("web-01", service_account="CORP\\svc"),))

    response = client.get(f"/p/{created.edit_token}/inventory.csv")

    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.startswith("name,hostname,port,")
    assert "web-01,web-01.corp,,2.6.5,listening,Production,web,,CORP\\svc,no,yes" in text


@pytest.mark.parametrize("size", [20, 600])
def test_the_preview_costs_the_same_queries_whatever_the_fleet_size(
    client, django_assert_max_num_queries, size
):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(size))
    new = [*without(list(fleet(size)), "web-0002"), tentacle("web-9999")]
    csv_text = to_csv(new)

    with django_assert_max_num_queries(5):
        response = preview(client, created.edit_token, csv_text)

    assert response.status_code == 200
    assert "1 added" in response.content.decode()


@pytest.mark.parametrize("size", [20, 600])
def test_a_finished_fetch_costs_the_same_queries_whatever_the_fleet_size(
    client, django_assert_max_num_queries, size
):
    created = create_plan(tentacles=fleet(size))
    fetch = InventoryFetch.objects.create(
        plan=created.plan,
        server_url="http://127.0.0.1:1",
        state=FetchState.DONE,
        rows=[{"name": t.name, "hostname": t.hostname} for t in fleet(size)][1:],
    )

    with django_assert_max_num_queries(7):
        response = client.get(f"/p/{created.edit_token}/inventory/fetch/{fetch.id}")

    assert "1 removed" in response.content.decode()


def test_fetching_from_octopus_previews_the_servers_machines_then_applies_them(
    client, eager, octopus, django_capture_on_commit_callbacks
):
    created = create_plan(
        tentacles=(
            tentacle("web-01", service_account="CORP\\svc-octo", hostname="web-01.corp"),
            tentacle("old-01"),
        )
    )
    plan = created.plan

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            f"/p/{created.edit_token}/inventory/fetch",
            {"server_url": octopus.url, "api_key": API_KEY},
        )

    assert started.status_code == 302
    fetch = InventoryFetch.objects.get(plan=plan)
    assert started["Location"] == f"/p/{created.edit_token}/inventory/fetch/{fetch.id}"
    page = client.get(started["Location"])
    body = unescape(page.content.decode())
    assert fetch.__class__.objects.get(pk=fetch.pk).state == FetchState.DONE
    assert "Octopus 2.6.5.1010 lists 3 Tentacles, and 1 machine that could not be used" in body
    assert "It is an SSH target, not a Tentacle." in body
    assert "2 added" in body and "1 removed" in body  # web-02 and app-01 in, old-01 out
    # Octopus knows web-01's port, not its service account: only the port changes.
    assert '<span class="field-name">port</span>: <del>—</del>' in body
    assert "service account</span>" not in body
    assert API_KEY not in body

    applied = client.post(
        f"/p/{created.edit_token}/inventory/apply",
        {
            "inventory_csv": hidden(body, "inventory_csv"),
            "fingerprint": hidden(body, "fingerprint"),
        },
    )

    assert applied.status_code == 302
    saved = {t.name: t for t in Tentacle.objects.filter(installation=plan.installation)}
    assert set(saved) == {"web-01", "web-02", "app-01"}
    assert saved["web-01"].service_account == "CORP\\svc-octo"  # Octopus does not know it
    assert saved["web-01"].port == 10933  # Octopus does
    assert saved["app-01"].communication_style == "polling"
    assert saved["app-01"].environments == ["Staging"]


def test_a_failed_fetch_says_what_went_wrong_and_what_to_try(
    client, eager, octopus, django_capture_on_commit_callbacks
):
    created = create_plan()

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            f"/p/{created.edit_token}/inventory/fetch",
            {"server_url": octopus.url, "api_key": "API-WRONGKEY"},
        )

    body = unescape(client.get(started["Location"]).content.decode())
    assert "The server refused the API key (HTTP 401)" in body
    assert "Try again" in body
    assert "API-WRONGKEY" not in body


def test_the_fetch_form_checks_its_fields_and_never_echoes_the_key(client):
    created = create_plan()

    response = client.post(
        f"/p/{created.edit_token}/inventory/fetch",
        {"server_url": "ftp://octopus", "api_key": "API-SECRET KEY"},
    )

    body = unescape(response.content.decode())
    assert "must start with http:// or https://" in body
    assert "copy it again from your Octopus profile" in body
    assert "API-SECRET" not in body
    assert not InventoryFetch.objects.exists()


def test_a_running_fetch_is_polled_until_it_finishes(client):
    created = create_plan()
    fetch = InventoryFetch.objects.create(
        plan=created.plan,
        server_url="http://127.0.0.1:1",
        state=FetchState.RUNNING,
        progress="Read 120 of 480 machines",
    )
    url = f"/p/{created.edit_token}/inventory/fetch/{fetch.id}"

    running = client.get(url, headers={"HX-Request": "true"}).content.decode()

    assert running.lstrip().startswith('<div id="fetch-status"')
    assert 'hx-trigger="every 1s"' in running
    assert "Read 120 of 480 machines" in running
    assert "<html" not in running

    InventoryFetch.objects.filter(pk=fetch.pk).update(state=FetchState.DONE, rows=[])
    done = client.get(url, headers={"HX-Request": "true"}).content.decode()

    assert "hx-trigger" not in done
    assert "Review the changes" in done


def test_another_plans_fetch_is_not_found(client):
    mine, theirs = create_plan(), create_plan()
    fetch = InventoryFetch.objects.create(plan=theirs.plan, server_url="http://127.0.0.1:1")

    assert client.get(f"/p/{mine.edit_token}/inventory/fetch/{fetch.id}").status_code == 404


def test_steps_of_unchanged_tentacles_keep_their_state_through_the_page(client):
    created = in_place_plan_with_progress()
    plan = created.plan
    body = preview(
        client, created.edit_token, to_csv([*inventory_of(plan), tentacle("web-0013")])
    ).content.decode()

    client.post(
        f"/p/{created.edit_token}/inventory/apply",
        {
            "inventory_csv": hidden(body, "inventory_csv"),
            "fingerprint": hidden(body, "fingerprint"),
        },
    )

    assert step(plan, "0:upgrade-tentacle:web-0002").state == StepState.DONE
    assert step(plan, "0:upgrade-tentacle:web-0004").state == StepState.IN_PROGRESS
    assert step(plan, "0:upgrade-tentacle:web-0005").state == StepState.SKIPPED


def test_a_fetch_no_worker_has_picked_up_says_so(client):
    created = create_plan()
    fetch = InventoryFetch.objects.create(plan=created.plan, server_url="http://127.0.0.1:1")
    InventoryFetch.objects.filter(pk=fetch.pk).update(
        created_at=fetch.created_at - timedelta(minutes=2)
    )

    body = client.get(f"/p/{created.edit_token}/inventory/fetch/{fetch.id}").content.decode()

    assert "is a Celery worker running" in body
