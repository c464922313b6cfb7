"""The start page: describing an installation and its Tentacles, and what bad input gets."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans.models import Plan

pytestmark = pytest.mark.django_db


def form_data(**changes):
    data = {
        "name": "Prod Octopus",
        "server_version": "2.6.5",
        "target": "2018.10",
        "target_other": "",
        "can_provision_new_server": "on",
        "sql_server_ready": "on",
        "polling_port": "10943",
        "approach": "",
        "inventory_csv": "",
        "t-0-name": "web-01",
        "t-0-hostname": "web-01.corp",
        "t-0-port": "10933",
        "t-0-version": "2.6.5",
        "t-0-communication_style": "listening",
        "t-0-environments": "Production",
        "t-0-roles": "web",
        "t-0-online": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_start_page_shows_the_form_with_sensible_defaults(client):
    response = client.get("/")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="server_version"' in body
    assert 'value="10943"' in body
    assert "10934" in body  # the note about the port in the Hydra examples
    assert "3.17.14" in body and "2018.10 LTS" in body
    assert 'name="t-0-name"' in body


def test_submitting_typed_rows_creates_the_plan_and_redirects_to_it(client):
    response = client.post("/", form_data(**{"t-1-name": "db-01", "t-1-online": "on"}))

    assert response.status_code == 302
    plan = Plan.objects.get()
    assert response["Location"].startswith("/p/")
    assert list(Tentacle.objects.values_list("name", flat=True)) == ["web-01", "db-01"]
    assert plan.installation.target_version == "2018.10"
    follow = client.get(response["Location"])
    assert follow.status_code == 200
    assert "Prod Octopus" in follow.content.decode()


def test_pasted_csv_and_an_uploaded_file_are_both_read(client):
    upload = SimpleUploadedFile(
        "fleet.csv", b"\xef\xbb\xbfname;communication_style\napp-01;polling\n", "text/csv"
    )
    data = form_data(inventory_csv="name,roles\ndb-01,sql;backup\n")
    data["inventory_file"] = upload

    response = client.post("/", data)

    assert response.status_code == 302
    assert sorted(Tentacle.objects.values_list("name", flat=True)) == ["app-01", "db-01", "web-01"]
    assert Tentacle.objects.get(name="app-01").communication_style == "polling"
    assert Tentacle.objects.get(name="db-01").roles == ["sql", "backup"]


def test_a_bad_csv_shows_every_error_with_line_and_column_and_saves_nothing(client):
    data = form_data(inventory_csv="name,port,online\nweb-02,abc,yes\nweb-03,10933,maybe\n")

    response = client.post("/", data)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in body
    assert "Line 2" in body and "port" in body
    assert "Line 3" in body and "online" in body
    assert Plan.objects.count() == Installation.objects.count() == Tentacle.objects.count() == 0
    # What was typed is still there.
    assert "web-02,abc,yes" in body


def test_an_invalid_version_is_named_in_words(client):
    response = client.post("/", form_data(server_version="two point six"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "two point six" in body
    assert Plan.objects.count() == 0


def test_a_target_not_newer_than_the_current_version_is_refused(client):
    response = client.post("/", form_data(target="other", target_other="2.6.5"))

    assert response.status_code == 200
    assert "not newer" in response.content.decode()
    assert Plan.objects.count() == 0


def test_another_target_needs_a_version(client):
    response = client.post("/", form_data(target="other", target_other=""))

    assert "Type the version you want to upgrade to." in response.content.decode()
    assert Plan.objects.count() == 0


def test_bad_rows_are_shown_next_to_the_row(client):
    response = client.post("/", form_data(**{"t-1-name": "web-01", "t-1-port": "99999"}))

    body = response.content.decode()
    assert "Row 2" in body
    assert "99999" in body
    assert Plan.objects.count() == 0


def test_adding_and_removing_rows_works_without_javascript(client):
    added = client.post("/", form_data(add_row="1"))
    assert 'name="t-1-name"' in added.content.decode()
    assert Plan.objects.count() == 0

    removed = client.post("/", form_data(**{"t-1-name": "db-01", "remove_row": "0"}))
    body = removed.content.decode()
    assert 'value="db-01"' in body and 'value="web-01"' not in body

    # A row number int() cannot read removes nothing, and is no error.
    kept = client.post("/", form_data(**{"t-1-name": "db-01", "remove_row": "²"}))
    assert kept.status_code == 200 and 'value="web-01"' in kept.content.decode()


def test_adding_a_row_with_htmx_returns_only_the_rows(client):
    response = client.post("/", form_data(add_row="1"), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="inventory-rows">')
    assert "<html" not in body


def test_the_override_is_recorded(client):
    client.post("/", form_data(approach="in-place"))

    plan = Plan.objects.get()
    assert plan.approach == "in-place"
    assert plan.approach_overridden is True


def test_the_start_page_lists_only_the_plans_this_browser_made(client, django_user_model):
    client.post("/", form_data(name="Mine"))
    other = type(client)()
    other.post("/", form_data(name="Theirs"))

    mine = client.get("/").content.decode()
    theirs = other.get("/").content.decode()
    assert "Mine" in mine and "Theirs" not in mine
    assert "Theirs" in theirs and "Mine" not in theirs


def test_an_oversized_upload_gets_a_clear_message(client, settings):
    big = SimpleUploadedFile("big.csv", b"name\n" + b"x" * (5 * 1024 * 1024 + 10), "text/csv")
    data = form_data()
    data["inventory_file"] = big

    response = client.post("/", data)

    assert response.status_code == 200
    assert "the limit is 5 MB" in response.content.decode()
    assert Plan.objects.count() == 0


def test_server_urls_are_checked_and_saved_without_a_trailing_slash(client):
    refused = client.post("/", form_data(old_server_url="ftp://octopus.corp"))

    assert refused.status_code == 200
    assert "must start with http:// or https://" in refused.content.decode()
    assert Plan.objects.count() == 0

    client.post("/", form_data(new_server_url=" https://octopus3.corp/ "))
    assert Plan.objects.get().installation.new_server_url == "https://octopus3.corp"
