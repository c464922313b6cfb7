"""Random input to every form, htmx endpoint and API endpoint never gets a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import api_body, create_plan
from upgrade_planner.plans.models import Step

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
FORM_FIELDS = [
    "name", "server_version", "target", "target_other", "can_provision_new_server",
    "sql_server_ready", "uses_builtin_feed", "backup_size_mb", "document_count",
    "history_days_to_keep", "polling_port", "approach", "old_server_url", "new_server_url",
    "inventory_csv", "tentacles-TOTAL_FORMS", "tentacles-INITIAL_FORMS", "tentacles-0-name",
    "tentacles-0-port", "tentacles-0-version", "tentacles-0-communication_style",
    "tentacles-0-environments", "tentacles-0-online", "tentacles-1-name", "tentacles-99999-name",
    "add_row", "remove_row",
]  # fmt: skip
PLAN_KEYS = [*api_body(), "old_server_api_key", "new_server_url", "surprise"]


def no_server_error(response):
    assert response.status_code < 500, response.content[:500]


@pytest.fixture
def plan():
    return create_plan()


@FUZZ
@given(data=st.dictionaries(st.sampled_from(FORM_FIELDS), text, max_size=len(FORM_FIELDS)))
def test_the_start_form(client, data):
    no_server_error(client.post("/", data))


@FUZZ
@given(
    action=st.sampled_from(["start", "complete", "skip", "reopen", "fail", "x"]),
    data=st.dictionaries(st.sampled_from(["reason", "actor", "confirm", "next"]), text),
    htmx=st.booleans(),
)
def test_step_actions_on_the_page(client, plan, action, data, htmx):
    step = Step.objects.filter(plan=plan.plan).order_by("?").first()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    url = f"/p/{plan.edit_token}/steps/{step.id}/{action}"
    no_server_error(client.post(url, data, **headers))


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from(["action", "reason", "step", "actor", "approach", "kind"]), text
    ),
    path=st.sampled_from(
        ["steps/bulk", "approach", "actor", "links/edit/rotate", "links/x/rotate"]
    ),
)
def test_other_page_forms(client, plan, data, path):
    no_server_error(client.post(f"/p/{plan.edit_token}/{path}", data))


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["state", "environment", "role", "style", "q", "page", "partial", "v"]),
        text,
    )
)
def test_plan_page_and_poll_queries(client, plan, query):
    no_server_error(client.get(f"/v/{plan.view_token}/", query, HTTP_HX_REQUEST="true"))
    no_server_error(client.get(f"/v/{plan.view_token}/poll", query))


@FUZZ
@given(body=json_values)
def test_create_plan_api_with_any_json(client, body):
    no_server_error(
        client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")
    )


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(PLAN_KEYS), json_values))
def test_create_plan_api_with_wrong_values(client, fields):
    body = api_body(**fields)
    no_server_error(
        client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")
    )


@FUZZ
@given(
    body=json_values,
    action=st.sampled_from(["start", "complete", "skip", "reopen", "zap"]),
    key=st.none() | st.text(max_size=250),
)
def test_step_action_api_with_any_json(client, plan, body, action, key):
    step = Step.objects.filter(plan=plan.plan).order_by("?").first()
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key and key.isprintable() else {}
    response = client.post(
        f"/api/v1/plans/{plan.edit_token}/steps/{step.id}/{action}",
        data=json.dumps(body),
        content_type="application/json",
        **headers,
    )
    no_server_error(response)
