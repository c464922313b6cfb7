"""POST /api/v1/plans with a target the release catalogue refuses or does not know."""

import json

import pytest

from tests.factories import api_body
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import Plan, Step

pytestmark = pytest.mark.django_db


def post_plan(client, body):
    return client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "3.18",
            '"3.18" is not an Octopus Deploy version: 3.x ends at 3.17.14; the next line is 4.0.',
        ),
        (
            "2019.14",
            '"2019.14" is not an Octopus Deploy version: 2019.x ends at 2019.13; '
            "the next line is 2020.1.",
        ),
        (
            "2018.13",
            '"2018.13" is not an Octopus Deploy version: 2018.x ends at 2018.12; '
            "the next line is 2019.1.",
        ),
    ],
)
def test_a_target_no_release_has_is_refused_naming_the_field_and_the_neighbours(
    client, target, message
):
    response = post_plan(client, api_body(target_version=target))

    assert response.status_code == 422
    assert response.json() == {"errors": {"target_version": [message]}}
    assert Plan.objects.count() == Installation.objects.count() == Step.objects.count() == 0


def test_the_refusal_comes_with_every_other_error_at_once(client):
    response = post_plan(
        client, api_body(target_version="3.18", name=" ", old_server_url="ftp://x")
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"target_version", "name", "old_server_url"}
    assert Plan.objects.count() == 0


def test_a_target_newer_than_the_catalogue_is_accepted_with_a_warning(client):
    response = post_plan(client, api_body(server_version="2025.1.0", target_version="2027.1"))

    assert response.status_code == 201
    doc = response.json()
    (use_latest,) = [w for w in doc["warnings"] if w["code"] == "use-latest"]
    assert f"content version {doc['content_version']}" in use_latest["text"]
    assert Plan.objects.count() == 1
