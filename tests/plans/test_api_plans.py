"""POST /api/v1/plans and GET /api/v1/plans/<token>: the contract of product.md §5.2."""

import csv
import io
import json
from urllib.parse import urlsplit

import pytest

from tests.factories import api_body, create_plan, fleet
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans.models import Plan, PlanLink, Step

pytestmark = pytest.mark.django_db


def post_plan(client, body):
    return client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")


def nothing_saved():
    return (
        Plan.objects.count() == 0
        and Installation.objects.count() == 0
        and Tentacle.objects.count() == 0
        and Step.objects.count() == 0
    )


def test_it_creates_a_plan_and_returns_the_document_with_both_links(client):
    response = post_plan(client, api_body())

    assert response.status_code == 201
    doc = response.json()
    assert doc["approach"] == "new-server"
    assert doc["approach_overridden"] is False
    assert doc["instance"]["server_version"] == "2.6.5"
    assert doc["instance"]["tentacles"][0]["name"] == "web-01"
    assert doc["edit_url"].endswith(f"/p/{doc['edit_token']}/")
    assert doc["view_url"].endswith(f"/v/{doc['view_token']}/")
    assert len(doc["edit_token"]) >= 43 and len(doc["view_token"]) >= 43
    kinds = [step["kind"] for step in doc["steps"]]
    assert "backup-master-key" in kinds and "upgrade-tentacle" in kinds
    assert doc["progress"]["total"] == len(doc["steps"]) == Step.objects.count()
    # Only hashes of the tokens are stored.
    stored = set(PlanLink.objects.values_list("token_hash", flat=True))
    assert doc["edit_token"] not in stored and doc["view_token"] not in stored


def test_steps_are_listed_in_an_order_that_respects_every_dependency(client):
    doc = post_plan(client, api_body()).json()

    seen = set()
    for step in doc["steps"]:
        assert set(step["depends_on"]) <= seen, step["title"]
        seen.add(step["id"])


def test_step_ids_are_random_uuids(client):
    doc = post_plan(client, api_body()).json()

    ids = [step["id"] for step in doc["steps"]]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 36 and i.count("-") == 4 for i in ids)
    assert ids != sorted(ids)


def test_an_approach_override_is_honoured_and_recorded(client):
    doc = post_plan(client, api_body(approach="in-place")).json()

    assert doc["approach"] == "in-place"
    assert doc["recommended_approach"] == "new-server"
    assert doc["approach_overridden"] is True


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"server_version": "2.6.x"}, "server_version", "2.6.x"),
        ({"target_version": "banana"}, "target_version", "banana"),
        ({"target_version": "2.6.5"}, "target_version", "2.6.5"),
        ({"polling_port": 70000}, "polling_port", "65535"),
        ({"approach": "yolo"}, "approach", "new-server"),
        ({"new_server_url": "ftp://octopus"}, "new_server_url", "http"),
        ({"name": ""}, "name", ""),
        ({"surprise": 1}, "surprise", "Unknown"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_saves_nothing(client, changes, field, words):
    response = post_plan(client, api_body(**changes))

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert nothing_saved()


def test_a_missing_required_field_is_named(client):
    body = api_body()
    del body["server_version"]

    response = post_plan(client, body)

    assert response.status_code == 422
    assert response.json()["errors"] == {"server_version": ["This field is required."]}


def test_bad_tentacle_rows_are_named_by_index_and_field(client):
    rows = api_body()["tentacles"] * 1 + [
        {"name": "web-01", "port": "abc"},
        {"name": "db-01", "communication_style": "carrier-pigeon"},
    ]

    response = post_plan(client, api_body(tentacles=rows))

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "tentacles[1].port" in errors
    assert "tentacles[1].name" in errors  # duplicate of row 0
    assert "tentacles[2].communication_style" in errors
    assert nothing_saved()


def test_a_body_that_is_not_json_is_refused_clearly(client):
    response = client.post("/api/v1/plans", data="{not json", content_type="application/json")

    assert response.status_code in {400, 422}
    assert "errors" in response.json()
    assert nothing_saved()


def test_the_plan_reads_back_by_edit_or_view_token_with_an_etag(client):
    created = post_plan(client, api_body()).json()

    by_edit = client.get(f"/api/v1/plans/{created['edit_token']}")
    by_view = client.get(f"/api/v1/plans/{created['view_token']}")

    assert by_edit.status_code == by_view.status_code == 200
    assert by_edit.json()["steps"] == created["steps"]
    assert by_edit["ETag"] == by_view["ETag"]
    assert "edit_token" not in by_view.json()


def test_an_unchanged_plan_answers_304_with_one_query(client, django_assert_max_num_queries):
    created = post_plan(client, api_body()).json()
    etag = client.get(f"/api/v1/plans/{created['view_token']}")["ETag"]

    with django_assert_max_num_queries(1):
        response = client.get(f"/api/v1/plans/{created['view_token']}", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""


def test_an_unknown_token_is_404(client):
    response = client.get("/api/v1/plans/not-a-real-token-at-all")

    assert response.status_code == 404
    assert response.json()["error"] == "not-found"


@pytest.mark.parametrize("tentacles", [10, 1000])
def test_reading_a_plan_costs_the_same_queries_whatever_its_size(
    client, django_assert_num_queries, tentacles
):
    created = create_plan(tentacles=fleet(tentacles))

    # Two of them read the readiness report: its findings and the steps they guard.
    with django_assert_num_queries(7):
        response = client.get(f"/api/v1/plans/{created.view_token}")

    assert response.status_code == 200
    assert len(response.json()["instance"]["tentacles"]) == tentacles


def test_the_openapi_document_describes_the_plan_endpoints(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/plans" in paths
    assert "/api/v1/plans/{token}" in paths
    assert "/api/v1/plans/{token}/steps/{step_id}/{action}" in paths
    assert "upgrade-tentacle" in response.json()["info"]["description"]


def test_exports_give_the_checklist_as_markdown_and_csv(client):
    created = create_plan()

    markdown = client.get(f"/api/v1/plans/{created.view_token}/export.md")
    csv_response = client.get(f"/api/v1/plans/{created.view_token}/export.csv")

    assert markdown.status_code == csv_response.status_code == 200
    assert markdown["Content-Type"].startswith("text/markdown")
    assert "# Prod Octopus" in markdown.content.decode()
    assert "- [ ] " in markdown.content.decode()
    rows = list(csv.reader(io.StringIO(csv_response.content.decode())))
    assert ",".join(rows[0]).startswith("number,id,hop,phase,kind,title")
    assert len(rows) == 1 + Step.objects.count()


def test_the_links_in_the_create_answer_lead_to_the_plan(client):
    response = post_plan(client, api_body())
    created = response.json()

    by_location = client.get(response["Location"])
    edit_page = client.get(urlsplit(created["edit_url"]).path)
    view_page = client.get(urlsplit(created["view_url"]).path)

    assert response["Location"] == f"/api/v1/plans/{created['view_token']}"
    assert by_location.status_code == 200 and by_location.json()["id"] == created["id"]
    assert edit_page.status_code == view_page.status_code == 200
    assert "Prod Octopus" in view_page.content.decode()
    assert created["edit_url"].startswith("http://testserver/p/")
