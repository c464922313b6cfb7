"""What a page of one plan version reads from the database (the link with its plan and
installation, the latest checks, the read-only link it shares) is read once per version by
each process: another view of that version (another table page, filter or poll) runs no query,
and every change that moves the version is read again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import create_plan, fleet
from upgrade_planner.plans import services
from upgrade_planner.plans.models import LinkKind
from upgrade_planner.web import page_cache
from upgrade_planner.web.pages import link_at_version

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("route", ["p", "v"])
def test_another_view_of_a_version_this_process_has_shown_runs_no_query(client, route):
    created = create_plan(tentacles=fleet(4))
    token = created.edit_token if route == "p" else created.view_token
    assert client.get(f"/{route}/{token}/", {"page": "2"}).status_code == 200
    assert client.get(f"/{route}/{token}/poll", {"v": "0", "page": "2"}).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/{route}/{token}/", {"page": "3"})
        poll = client.get(f"/{route}/{token}/poll", {"v": "0", "page": "4"})

    assert (page.status_code, poll.status_code) == (200, 200)
    assert [query["sql"] for query in queries.captured_queries] == []


def test_a_replaced_link_is_refused_though_this_process_kept_its_plan(client):
    created = create_plan(tentacles=fleet(2))
    url = f"/v/{created.view_token}/"
    assert client.get(url).status_code == 200

    services.link_rotate(plan=created.plan, kind=LinkKind.VIEW)

    assert client.get(url, {"page": "2"}).status_code == 410


def test_the_edit_page_shares_the_read_only_link_that_replaced_the_last(client):
    created = create_plan(tentacles=fleet(2))
    url = f"/p/{created.edit_token}/"
    assert created.view_token in client.get(url).content.decode()

    new_token = services.link_rotate(plan=created.plan, kind=LinkKind.VIEW)

    body = client.get(url, {"page": "2"}).content.decode()
    assert new_token in body
    assert created.view_token not in body


def test_a_key_entered_for_a_server_shows_in_the_next_view(client):
    created = create_plan(tentacles=fleet(2))
    url = f"/p/{created.edit_token}/"
    assert "(API key not given)" in client.get(url).content.decode().split("New server:")[0]

    services.api_keys_enter(plan=created.plan, keys={"old": "API-" + "A" * 27}, actor="Ana")

    shown = client.get(url, {"page": "2"}).content.decode()
    assert "(API key stored (hidden))" in shown.split("New server:")[0]


def test_each_caller_gets_objects_of_its_own():
    created = create_plan(tentacles=fleet(2))
    version = created.plan.version
    first = link_at_version(created.edit_token, version=version)
    first.plan.name = "Changed by one page"
    first.plan.installation.name = "Changed by one page"
    first.plan.warnings.append({"code": "made-up"})

    second = link_at_version(created.edit_token, version=version)

    assert second.plan.name == created.plan.name
    assert second.plan.installation.name != "Changed by one page"
    assert {"code": "made-up"} not in second.plan.warnings


def test_a_link_read_after_its_plan_moved_on_is_not_kept_for_the_older_version():
    created = create_plan(tentacles=fleet(2))
    older = created.plan.version
    services.api_keys_enter(plan=created.plan, keys={"new": "API-" + "B" * 27}, actor="Ana")

    link = link_at_version(created.edit_token, version=older)

    assert link.plan.version == older + 1
    assert not [key for key in page_cache.local_values._entries if key.startswith("plan-link-at:")]
