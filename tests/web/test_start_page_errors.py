"""The start page after a failed submit: a summary at the top naming every error and linking to
it, focused on load, and the inventory as it was given, an uploaded file's too."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.web.test_start_page import WEB_01, form_data
from upgrade_planner.installations.models import Tentacle
from upgrade_planner.plans.models import Plan

pytestmark = pytest.mark.django_db

BAD_CSV = "name,port,online\nweb-02,abc,yes\nweb-03,10933,maybe\n"
GOOD_FILE = b"\xef\xbb\xbfname;communication_style\napp-01;polling\napp-02;listening\n"


def summary_links(body: str) -> list[tuple[str, str]]:
    """(href, text) of each link of the error summary."""
    summary = body.split('id="form-errors"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', summary)


def ids_in(body: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', body))


def test_a_failed_submit_opens_with_a_summary_linking_to_every_error(client):
    data = form_data(
        rows=[WEB_01, {"name": "web-09", "port": "99999"}],
        server_version="two point six",
        inventory_csv=BAD_CSV,
    )

    response = client.post("/", data)

    body = response.content.decode()
    links = summary_links(body)
    assert response.status_code == 200
    assert body.index('id="form-errors"') < body.index('class="hero"')  # at the very top
    assert [href for href, _ in links] == [
        "#id_server_version",
        "#id_tentacles-1-port",
        "#csv-error-1",
        "#csv-error-2",
    ]
    assert links[0][1].startswith("Current Octopus Server version: ")
    assert "Tentacle row 2, port:" in links[1][1]
    assert links[2][1].startswith("Pasted CSV: Line 2, column port:")
    assert links[3][1].startswith("Pasted CSV: Line 3, column online:")
    assert {href[1:] for href, _ in links} <= ids_in(body)  # every link has its target
    assert "there are 4 problems" in body
    assert Plan.objects.count() == Tentacle.objects.count() == 0


def test_the_summary_takes_the_focus_when_the_page_opens(client):
    body = client.post("/", form_data(server_version="")).content.decode()

    heading = re.search(r"<h2 [^>]*id=\"error-summary-heading\"[^>]*>", body).group()
    assert "autofocus" in heading and 'tabindex="-1"' in heading
    assert body.count("autofocus") == 1
    assert 'role="alert"' in body.split('id="error-summary-heading"')[0].rsplit("<div", 1)[1]


def test_a_page_without_errors_has_no_summary(client):
    body = client.get("/").content.decode()

    assert 'id="form-errors"' not in body and "autofocus" not in body


def test_an_uploaded_file_is_kept_as_text_after_an_error_elsewhere(client):
    upload = SimpleUploadedFile("fleet.csv", GOOD_FILE, "text/csv")

    response = client.post("/", {**form_data(server_version="two"), "inventory_file": upload})

    body = response.content.decode()
    assert "The file you uploaded, <strong>fleet.csv</strong>, was kept as pasted text" in body
    textarea = re.search(r'<textarea name="inventory_file_text".*?</textarea>', body, re.S)
    assert "app-01;polling\napp-02;listening" in textarea.group()
    assert "\ufeff" not in textarea.group()
    assert 'name="inventory_file_name" value="fleet.csv"' in body
    assert Plan.objects.count() == 0


def test_the_kept_file_is_read_as_the_file_on_the_next_submit(client):
    kept = {"inventory_file_text": "name;communication_style\napp-01;polling\n"}

    response = client.post("/", form_data(**kept, inventory_file_name="fleet.csv"))

    assert response.status_code == 302
    assert list(Tentacle.objects.values_list("name", "communication_style")) == [
        ("web-01", "listening"),
        ("app-01", "polling"),
    ]


def test_a_new_upload_replaces_the_kept_file(client):
    upload = SimpleUploadedFile("new.csv", b"name\napp-07\n", "text/csv")
    data = form_data(inventory_file_text="name\napp-01\n", inventory_file_name="old.csv")

    response = client.post("/", {**data, "inventory_file": upload})

    assert response.status_code == 302
    assert list(Tentacle.objects.values_list("name", flat=True)) == ["web-01", "app-07"]


def test_errors_in_an_uploaded_file_link_to_its_lines_and_the_file_is_kept(client):
    upload = SimpleUploadedFile("fleet.csv", b"name,port\napp-01,port\n", "text/csv")

    body = client.post("/", {**form_data(), "inventory_file": upload}).content.decode()

    assert summary_links(body) == [
        (
            "#file-error-1",
            "Uploaded file: Line 2, column port: Port &quot;port&quot; is not a number between "
            "1 and 65535.",
        )
    ]
    assert 'id="file-error-1"' in body
    assert "app-01,port" in body  # in the kept box, to correct there
    assert Plan.objects.count() == 0


def test_a_file_that_is_not_utf8_is_not_kept_and_its_error_says_why(client):
    upload = SimpleUploadedFile("fleet.csv", b"name\ncaf\xe9\n", "text/csv")

    body = client.post("/", {**form_data(), "inventory_file": upload}).content.decode()

    assert 'name="inventory_file_text"' not in body
    (href, text), *_ = summary_links(body)
    assert href == "#file-error-1" and "UTF-8" in text
    assert Plan.objects.count() == 0


def test_a_csv_with_hundreds_of_bad_lines_names_ten_in_the_summary(client):
    pasted = "name,port\n" + "".join(f"web-{n:03d},x\n" for n in range(2, 302))

    body = client.post("/", form_data(inventory_csv=pasted)).content.decode()

    links = summary_links(body)
    assert [href for href, _ in links] == [f"#csv-error-{n}" for n in range(1, 11)] + [
        "#csv-errors"
    ]
    assert links[-1][1] == "Pasted CSV: 290 more errors, listed beside it"
    assert 'id="csv-error-300"' in body


def test_a_name_the_planner_refuses_is_linked_like_any_field(client):
    body = client.post("/", form_data(name="   ")).content.decode()

    assert summary_links(body)[0] == ("#id_name", "Plan name: This field is required.")
