"""The start page's server fields of issue 14: HA nodes one name a line, and the new server's
polling port asked only when there is a new server."""

import pytest

from tests.web.test_start_page import form_data
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import Plan, Step

pytestmark = pytest.mark.django_db

MODERN = {"server_version": "2023.1.0", "target": "other", "target_other": "2023.3.1"}


def test_ha_nodes_typed_one_a_line_are_stored_and_get_their_own_steps(client):
    response = client.post("/", form_data(**MODERN, ha_nodes="octo-a\n\n  octo-b  \n"))

    assert response.status_code == 302
    installation = Installation.objects.get()
    assert installation.ha_nodes == ["octo-a", "octo-b"]
    keys = set(Step.objects.values_list("key", flat=True))
    assert {"0:stop-server-node:octo-a", "0:stop-server-node:octo-b"} <= keys
    assert {"0:start-server-node:octo-a", "0:start-server-node:octo-b"} <= keys


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("octo-a\nOCTO-A\n", "Line 2: &#x27;OCTO-A&#x27; is listed twice"),
        ("octo-a\n\n" + "x" * 101 + "\n", "Line 3: A node name has at most 100 characters"),
        ("\n".join(f"n{i}" for i in range(33)), "List at most 32 nodes"),
    ],
)
def test_bad_ha_nodes_are_named_by_line_and_nothing_is_saved(client, text, words):
    response = client.post("/", form_data(**MODERN, ha_nodes=text))

    body = response.content.decode()
    assert response.status_code == 200
    assert words in body
    assert 'id="ha_nodes-errors"' in body
    assert Plan.objects.count() == Installation.objects.count() == 0


def test_the_polling_port_is_marked_as_a_new_server_only_field(client):
    body = client.get("/").content.decode()

    start = body.index("data-new-server-only")
    assert 'name="polling_port"' in body[start : start + 600]
    assert "High-availability nodes" in body


def test_without_a_new_server_a_missing_polling_port_is_no_error(client):
    data = form_data(can_provision_new_server=None, polling_port=None)

    response = client.post("/", data)

    assert response.status_code == 302
    plan = Plan.objects.get()
    assert plan.approach == "manual"
    assert plan.installation.polling_port == 10943
