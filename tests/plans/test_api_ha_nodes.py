"""The `ha_nodes` input of POST /api/v1/plans (product.md §5.6): checked name by name, stored,
echoed in the plan document, and each node gets its own steps."""

import json

import pytest

from tests.factories import api_body
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import Plan, Step

pytestmark = pytest.mark.django_db

MODERN = {"server_version": "2023.1.0", "target_version": "2023.3.1"}


def post_plan(client, body):
    return client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")


def test_ha_nodes_are_stored_echoed_and_get_their_own_steps(client):
    response = post_plan(client, api_body(**MODERN, ha_nodes=[" octo-a ", "octo-b"]))

    assert response.status_code == 201
    doc = response.json()
    assert doc["instance"]["ha_nodes"] == ["octo-a", "octo-b"]
    assert Installation.objects.get().ha_nodes == ["octo-a", "octo-b"]
    titles = [step["title"] for step in doc["steps"]]
    assert titles.index("Stop node octo-a") < titles.index("Upgrade node octo-a to 2023.3.1 first")
    assert titles.index("Stop node octo-b") < titles.index("Upgrade node octo-a to 2023.3.1 first")
    assert titles.index("Upgrade node octo-b to 2023.3.1") < titles.index("Start node octo-a")
    assert {"stop-server-node", "start-server-node"} <= {step["kind"] for step in doc["steps"]}
    read = client.get(f"/api/v1/plans/{doc['view_token']}").json()
    assert read["instance"]["ha_nodes"] == ["octo-a", "octo-b"]


@pytest.mark.parametrize("nodes", [None, [], ["solo"]])
def test_absent_empty_or_one_node_is_a_single_server(client, nodes):
    body = api_body(**MODERN)
    if nodes is not None:
        body["ha_nodes"] = nodes

    doc = post_plan(client, body).json()

    assert doc["instance"]["ha_nodes"] == (nodes or [])
    assert "stop-server-node" not in {step["kind"] for step in doc["steps"]}


@pytest.mark.parametrize(
    ("nodes", "field", "words"),
    [
        (["a", ""], "ha_nodes[1]", "Give the node a name"),
        (["a", "b", "A"], "ha_nodes[2]", "listed twice"),
        (["x" * 101], "ha_nodes[0]", "at most 100 characters"),
        (["tab\there"], "ha_nodes[0]", "control characters"),
        ([f"n{i}" for i in range(33)], "ha_nodes", "33"),
        ("octo-a", "ha_nodes", "list"),
    ],
)
def test_bad_ha_nodes_are_422_naming_the_node_and_save_nothing(client, nodes, field, words):
    response = post_plan(client, api_body(**MODERN, ha_nodes=nodes))

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert field in errors, errors
    assert words in " ".join(errors[field])
    assert Plan.objects.count() == Installation.objects.count() == Step.objects.count() == 0


def test_the_openapi_document_describes_ha_nodes(client):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]

    ha_nodes = schemas["PlanIn"]["properties"]["ha_nodes"]
    assert ha_nodes["type"] == "array" and ha_nodes["maxItems"] == 32
    assert "high-availability" in ha_nodes["description"]
    assert "ha_nodes" in schemas["InstanceOut"]["required"]
