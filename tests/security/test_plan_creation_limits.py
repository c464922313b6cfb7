"""Plan creation is bounded: a rate per client address, a cap on Tentacles per plan, a largest
body and a largest number of form fields — each refused with a message that names it, never a
500 or a bare "Bad Request", and nothing saved."""

import csv
import io
import json

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import api_body
from tests.web.test_start_page import WEB_01, form_data
from upgrade_planner.api.endpoints import installation_input
from upgrade_planner.api.schemas import PlanIn
from upgrade_planner.domain import inventory
from upgrade_planner.installations.forms import TYPED_ROWS_MAX
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import Plan

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/plans"


def create(client, **fields):
    return client.post(PLANS, data=json.dumps(api_body(**fields)), content_type="application/json")


def full_row(index):
    """A Tentacle with every column filled as a large estate would fill it."""
    return {
        "name": f"app-server-{index:05d}",
        "hostname": f"app-server-{index:05d}.datacenter-one.corp.example.com",
        "port": 10933,
        "version": "2.6.5.1581",
        "communication_style": "listening",
        "environments": ["Production", "Staging"],
        "roles": ["web-server", "app-server"],
        "os": "Windows Server 2012 R2 Datacenter",
        "service_account": "CORP\\svc-octopus-tentacle",
        "restricted_permissions": False,
        "online": True,
    }


# --- The rate per client -------------------------------------------------------------------------


def test_an_api_client_over_its_plan_creation_rate_gets_429_with_retry_after(settings):
    settings.PLAN_CREATE_RATE = "2/h"
    client = Client(REMOTE_ADDR="10.0.0.7")

    assert [create(client).status_code for _ in range(2)] == [201, 201]
    refused = create(client)

    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "rate-limited"
    assert "2 plans per hour" in body["detail"]
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert Plan.objects.count() == 2
    # Another address is not held back by this one.
    assert create(Client(REMOTE_ADDR="10.0.0.8")).status_code == 201


def test_a_rate_limited_api_client_is_refused_before_its_body_is_read(settings):
    settings.PLAN_CREATE_RATE = "1/h"
    client = Client(REMOTE_ADDR="10.0.0.7")
    assert create(client).status_code == 201

    refused = client.post(PLANS, data="{not json", content_type="application/json")

    assert refused.status_code == 429  # not the 400 that reading the body would give


def test_the_start_form_over_the_rate_is_shown_again_with_a_message_and_nothing_saved(settings):
    settings.PLAN_CREATE_RATE = "1/h"
    client = Client(REMOTE_ADDR="10.0.0.7")
    assert client.post("/", form_data()).status_code == 302

    refused = client.post("/", form_data(name="Second plan"))

    page = refused.content.decode()
    assert refused.status_code == 429
    assert "Nothing was saved" in page
    assert "An address may create 1 plan per hour, and this one has." in page
    assert 'value="Second plan"' in page  # what was typed is still there
    assert 'name="tentacles-0-name" value="web-01"' in page
    assert Plan.objects.count() == 1


def test_the_form_and_the_api_share_one_count_per_address(settings):
    settings.PLAN_CREATE_RATE = "2/h"
    client = Client(REMOTE_ADDR="10.0.0.7")

    assert client.post("/", form_data()).status_code == 302
    assert create(client).status_code == 201
    assert create(client).status_code == 429
    assert client.post("/", form_data()).status_code == 429


def test_refused_input_does_not_use_up_the_rate(settings):
    settings.PLAN_CREATE_RATE = "1/h"
    client = Client(REMOTE_ADDR="10.0.0.7")

    assert create(client, polling_port=0).status_code == 422
    assert client.post("/", form_data(server_version="nonsense")).status_code == 200
    assert create(client).status_code == 201


def test_a_cache_outage_does_not_stop_plan_creation(settings, monkeypatch):
    settings.PLAN_CREATE_RATE = "1/h"

    def down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "add", down)
    client = Client(REMOTE_ADDR="10.0.0.7")

    assert [create(client).status_code for _ in range(2)] == [201, 201]


def test_plan_creation_is_limited_by_default(settings):
    from upgrade_planner import settings as project_settings

    assert project_settings.PLAN_CREATE_RATE == "30/h"


# --- Tentacles per plan ---------------------------------------------------------------------------


def test_the_tentacle_cap_is_at_least_20000_by_default():
    from upgrade_planner import settings as project_settings

    assert project_settings.PLAN_MAX_TENTACLES >= 20_000


def test_an_api_plan_of_20000_tentacles_passes_the_input_checks(settings):
    rows = [full_row(index) for index in range(20_000)]

    checked = installation_input(PlanIn(**api_body(tentacles=rows)))

    assert len(checked.tentacles) == 20_000


def test_20000_tentacles_fit_the_body_limit_as_json_and_the_file_limit_as_csv(settings):
    rows = [full_row(index) for index in range(20_000)]
    as_json = json.dumps(api_body(tentacles=rows)).encode()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=inventory.COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ";".join(v) if isinstance(v, list) else v for key, v in row.items()})
    as_csv = out.getvalue().encode()

    # With room to spare: a third again for longer names than these.
    assert len(as_json) * 4 // 3 < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert len(as_csv) * 4 // 3 < inventory.MAX_BYTES
    assert len(as_csv) * 4 // 3 < settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # pasted in the form


def test_an_api_plan_over_the_tentacle_cap_is_refused_naming_the_field_and_the_cap(settings):
    settings.PLAN_MAX_TENTACLES = 5

    response = create(Client(), tentacles=[{"name": f"web-{n}"} for n in range(6)])

    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "tentacles": ["The inventory has 6 Tentacles; the limit is 5 Tentacles per plan."]
        }
    }
    assert Plan.objects.count() == 0


def test_a_pasted_inventory_over_the_tentacle_cap_is_refused_on_the_form(settings):
    settings.PLAN_MAX_TENTACLES = 5
    pasted = "name\n" + "".join(f"web-{n}\n" for n in range(6))

    response = Client().post("/", form_data(rows=(), inventory_csv=pasted))

    assert response.status_code == 200
    assert "The inventory has 6 Tentacles; the limit is 5 Tentacles per plan." in (
        response.content.decode()
    )
    assert Plan.objects.count() == 0


def test_typed_rows_and_a_paste_together_over_the_cap_are_refused(settings):
    settings.PLAN_MAX_TENTACLES = 2
    pasted = "name\nweb-02\nweb-03\n"

    response = Client().post("/", form_data(inventory_csv=pasted))

    assert "The inventory has 3 Tentacles; the limit is 2 Tentacles per plan." in (
        response.content.decode()
    )
    assert Plan.objects.count() == 0


# --- Bodies too large, and too many fields --------------------------------------------------------


def test_an_oversized_api_body_is_answered_413_naming_the_body(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = create(Client(), tentacles=[full_row(n) for n in range(10)])

    assert response.status_code == 413
    assert response.json() == {
        "errors": {"body": ["The body is larger than 1 KB, the most the planner reads."]}
    }
    assert Plan.objects.count() == 0


def test_the_oversized_body_message_gives_the_limit_in_megabytes():
    response = Client().post(
        PLANS, data=b"[" + b" " * (17 * 1024 * 1024) + b"]", content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {
        "errors": {"body": ["The body is larger than 16 MB, the most the planner reads."]}
    }


def test_an_oversized_start_form_gets_the_page_back_with_a_message_not_a_bare_400(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    pasted = "name\n" + "".join(f"web-{n}\n" for n in range(500))

    response = Client().post("/", form_data(inventory_csv=pasted))

    page = response.content.decode()
    assert response.status_code == 413
    assert "Bad Request" not in page
    assert "Nothing was saved" in page
    assert "The form sent more than 1 KB, the most the planner reads" in page
    assert "Upload a large inventory as a CSV file (up to 10 MB)" in page
    assert 'name="csrfmiddlewaretoken"' in page  # the form can be sent again
    assert Plan.objects.count() == Installation.objects.count() == 0


def test_more_typed_rows_than_the_cap_get_a_message_saying_to_paste_csv():
    rows = [{**WEB_01, "name": f"web-{n:03d}"} for n in range(TYPED_ROWS_MAX + 1)]

    response = Client().post("/", form_data(rows=rows))

    page = response.content.decode()
    assert response.status_code == 200
    assert "The page can take up to 200 typed Tentacle rows. For more, paste the" in page
    assert Plan.objects.count() == 0


def test_more_typed_rows_than_a_post_can_carry_get_the_page_back_with_a_message():
    rows = [{**WEB_01, "name": f"web-{n:03d}"} for n in range(400)]

    response = Client().post("/", form_data(rows=rows))

    page = response.content.decode()
    assert response.status_code == 413
    assert "Bad Request" not in page
    assert "The form sent too many fields to read, so nothing was saved." in page
    assert "The page can take up to 200 typed Tentacle rows." in page
    assert Plan.objects.count() == 0


def test_typed_rows_up_to_the_documented_cap_make_a_plan():
    rows = [{**WEB_01, "name": f"web-{n:03d}"} for n in range(TYPED_ROWS_MAX)]

    response = Client().post("/", form_data(rows=rows))

    assert response.status_code == 302
    assert Installation.objects.get().tentacles.count() == TYPED_ROWS_MAX
