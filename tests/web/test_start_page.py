"""The start page: describing an installation and its Tentacles, and what bad input gets."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from upgrade_planner.domain.vocabulary import Approach
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans.models import Plan

pytestmark = pytest.mark.django_db


WEB_01 = {
    "name": "web-01",
    "hostname": "web-01.corp",
    "port": "10933",
    "version": "2.6.5",
    "communication_style": "listening",
    "environments": "Production",
    "roles": "web",
    "online": "on",
}


def typed_rows(rows):
    """The POST keys of `rows` typed into the start page's table, with the row count."""
    data = {"tentacles-TOTAL_FORMS": str(len(rows)), "tentacles-INITIAL_FORMS": "0"}
    for index, cells in enumerate(rows):
        data.update({f"tentacles-{index}-{column}": value for column, value in cells.items()})
    return data


def form_data(rows=(WEB_01,), **changes):
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
        **typed_rows(rows),
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
    assert 'name="tentacles-0-name"' in body
    assert 'name="tentacles-TOTAL_FORMS" value="1"' in body


def test_submitting_typed_rows_creates_the_plan_and_redirects_to_it(client):
    response = client.post("/", form_data(rows=[WEB_01, {"name": "db-01", "online": "on"}]))

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
    response = client.post("/", form_data(rows=[WEB_01, {"name": "web-01", "port": "99999"}]))

    body = response.content.decode()
    assert "Tentacle row 2, port: Port &quot;99999&quot; is not a number" in body
    assert (
        "Tentacle row 2, name: Name &quot;web-01&quot; is already used in Tentacle row 1." in body
    )
    assert "99999" in body
    assert Plan.objects.count() == 0


def test_adding_and_removing_rows_works_without_javascript(client):
    added = client.post("/", form_data(add_row="1"))
    assert 'name="tentacles-1-name"' in added.content.decode()
    assert 'name="tentacles-TOTAL_FORMS" value="2"' in added.content.decode()
    assert Plan.objects.count() == 0

    two_rows = [WEB_01, {"name": "db-01"}]
    removed = client.post("/", form_data(rows=two_rows, remove_row="0"))
    body = removed.content.decode()
    assert 'value="db-01"' in body and 'value="web-01"' not in body
    assert 'name="tentacles-TOTAL_FORMS" value="1"' in body

    # A row number int() cannot read removes nothing, and is no error.
    kept = client.post("/", form_data(rows=two_rows, remove_row="²"))
    assert kept.status_code == 200 and 'value="web-01"' in kept.content.decode()


def test_adding_a_row_with_htmx_returns_only_the_rows(client):
    response = client.post("/", form_data(add_row="1"), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="inventory-rows">')
    assert "<html" not in body
    # The row count travels with the rows it counts.
    assert 'name="tentacles-TOTAL_FORMS" value="2"' in body


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
    big = SimpleUploadedFile("big.csv", b"name\n" + b"x" * (10 * 1024 * 1024 + 10), "text/csv")
    data = form_data()
    data["inventory_file"] = big

    response = client.post("/", data)

    assert response.status_code == 200
    assert "the limit is 10 MB" in response.content.decode()
    assert Plan.objects.count() == 0


def test_server_urls_are_checked_and_saved_without_a_trailing_slash(client):
    refused = client.post("/", form_data(old_server_url="ftp://octopus.corp"))

    assert refused.status_code == 200
    assert "must start with http:// or https://" in refused.content.decode()
    assert Plan.objects.count() == 0

    client.post("/", form_data(new_server_url=" https://octopus3.corp/ "))
    assert Plan.objects.get().installation.new_server_url == "https://octopus3.corp"


def test_every_wrong_typed_row_is_named_with_its_field_and_nothing_is_saved(client):
    rows = [
        {"name": "web-01", "port": "abc"},
        {"name": "web-02"},
        {},
        {"name": "web-04", "hostname": "http://web-04.corp", "version": "two"},
        {"hostname": "db.corp"},
    ]

    response = client.post("/", form_data(rows=rows))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in body
    assert "Tentacle row 1, port: Port &quot;abc&quot; is not a number" in body
    assert "Tentacle row 4, hostname: Hostname &quot;http://web-04.corp&quot;" in body
    assert "Tentacle row 4, version: Version &quot;two&quot;" in body
    assert "Tentacle row 5, name: Name is required." in body
    assert "Tentacle row 2" not in body and "Tentacle row 3" not in body
    assert Plan.objects.count() == Installation.objects.count() == Tentacle.objects.count() == 0


def test_a_wrong_cell_points_at_its_message(client):
    response = client.post("/", form_data(rows=[{"name": "web-01", "port": "0"}]))

    body = response.content.decode()
    assert 'aria-invalid="true" aria-describedby="id_tentacles-0-port_error"' in body
    assert '<li id="id_tentacles-0-port_error">Tentacle row 1, port:' in body
    assert Plan.objects.count() == 0


def test_a_style_that_is_not_offered_is_refused_naming_the_row(client):
    response = client.post(
        "/", form_data(rows=[WEB_01, {"name": "app-01", "communication_style": "carrier"}])
    )

    assert "Tentacle row 2, communication style: Select a valid choice." in (
        response.content.decode()
    )
    assert Plan.objects.count() == 0


def test_a_nul_in_a_typed_row_is_refused_naming_the_row_and_the_field(client):
    response = client.post("/", form_data(rows=[WEB_01, {"name": "app-01", "os": "Win\x00dows"}]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Tentacle row 2, OS: OS &quot;Win\\x00dows&quot; contains a control character" in body
    assert Plan.objects.count() == Tentacle.objects.count() == 0


def test_blank_rows_are_left_out_wherever_they_are(client):
    rows = [
        {"online": "on"},
        WEB_01,
        {"communication_style": "polling", "restricted_permissions": "on"},
        {"name": "  ", "hostname": ""},
        {"name": "db-01", "communication_style": "polling"},
    ]

    response = client.post("/", form_data(rows=rows))

    assert response.status_code == 302
    assert list(Tentacle.objects.order_by("name").values_list("name", "communication_style")) == [
        ("db-01", "polling"),
        ("web-01", "listening"),
    ]


def test_typed_rows_are_read_by_the_inventory_rules(client):
    row = {
        "name": " app-01 ",
        "port": "10933",
        "version": "v2.6.5.1581",
        "environments": "Production; Staging;",
        "service_account": "LocalSystem",
        "restricted_permissions": "on",
    }

    client.post("/", form_data(rows=[row]))

    tentacle = Tentacle.objects.get()
    assert (tentacle.name, tentacle.port, tentacle.version) == ("app-01", 10933, "2.6.5.1581")
    assert tentacle.environments == ["Production", "Staging"]
    assert tentacle.service_account == ""
    assert (tentacle.restricted_permissions, tentacle.online) == (True, False)


def test_after_a_failed_submit_the_typed_rows_come_back_as_typed(client):
    rows = [
        {"name": "web-01", "port": "abc", "roles": "web;api", "restricted_permissions": "on"},
        {"name": "app-01", "communication_style": "polling", "online": "on"},
    ]

    response = client.post("/", form_data(rows=rows, server_version="two"))

    body = response.content.decode()
    assert Plan.objects.count() == 0
    assert 'name="tentacles-TOTAL_FORMS" value="2"' in body
    assert 'name="tentacles-0-port" value="abc"' in body
    assert 'name="tentacles-0-roles" value="web;api"' in body
    assert re.search(r'name="tentacles-0-restricted_permissions"[^>]*checked', body)
    assert not re.search(r'name="tentacles-0-online"[^>]*checked', body)
    assert 'name="tentacles-1-name" value="app-01"' in body
    assert '<option value="polling" selected>' in body
    assert re.search(r'name="tentacles-1-online"[^>]*checked', body)


def test_a_missing_row_count_is_a_clear_error_not_a_crash(client):
    data = form_data()
    del data["tentacles-TOTAL_FORMS"]

    response = client.post("/", data)

    body = response.content.decode()
    assert response.status_code == 200
    assert "The typed Tentacle rows could not be read" in body
    assert "ManagementForm" not in body
    assert 'name="tentacles-0-name"' in body  # a row to type into again
    assert Plan.objects.count() == Installation.objects.count() == 0


@pytest.mark.parametrize("count", ["abc", "-3", "1e3", ""])
def test_a_row_count_that_is_no_count_is_a_clear_error(client, count):
    response = client.post("/", form_data(**{"tentacles-TOTAL_FORMS": count}))

    assert response.status_code == 200
    assert "The typed Tentacle rows could not be read" in response.content.decode()
    assert Plan.objects.count() == 0


def test_a_huge_row_count_is_refused_and_only_the_typed_rows_are_shown_again(client):
    response = client.post("/", form_data(**{"tentacles-TOTAL_FORMS": "999999999999"}))

    body = response.content.decode()
    assert response.status_code == 200
    assert "The page can take up to 200 typed Tentacle rows. For more, paste the" in body
    assert body.count('name="tentacles-') == 4 + 11  # the row count, and the one typed row
    assert 'name="tentacles-TOTAL_FORMS" value="1"' in body  # so that sending again works
    assert 'name="tentacles-0-name" value="web-01"' in body
    assert Plan.objects.count() == 0


def test_the_approach_choices_are_the_vocabulary(client):
    body = client.get("/").content.decode()

    select = body[
        body.index('<select name="approach"') : body.index(
            "</select>", body.index('<select name="approach"')
        )
    ]
    assert re.findall(r'value="([^"]*)"', select) == ["", *Approach.values]
    assert "In-place: upgrade every Tentacle with Hydra" in select
