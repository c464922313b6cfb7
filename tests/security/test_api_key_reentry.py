"""A key stored with an encryption key this server no longer has reads "enter it again": the
plan page then takes it again, checks its shape without quoting it, stores it encrypted, logs
which server got one (never the key), and the next check uses it."""

import pytest
from django.core.cache import cache

from tests.factories import installation
from tests.fake_octopus import FakeOctopus
from upgrade_planner.domain.vocabulary import ActivityAction
from upgrade_planner.installations import api_keys
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Activity, Job, JobState

pytestmark = pytest.mark.django_db

NEW_KEY = "API-ENTEREDAGAIN42"


@pytest.fixture
def server():
    started = FakeOctopus(version="3.17.14").start()
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh_page_cache(settings):
    settings.VERIFY_HTTP_TIMEOUT = 2
    cache.clear()
    yield
    cache.clear()


def plan_whose_key_became_unreadable(server, settings):
    settings.API_KEY_ENCRYPTION_KEY = ""
    settings.API_KEY_ENCRYPTION_KEYS = []
    created = services.plan_create(
        name="Keys lost",
        installation=installation(new_server_url=server.url),
        new_server_api_key="API-BEFORETHEROTATION1",
    )
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []
    return created


def test_an_unreadable_key_offers_the_box_to_enter_it_again_on_the_page(client, server, settings):
    created = plan_whose_key_became_unreadable(server, settings)

    page = client.get(f"/p/{created.edit_token}/").content.decode()

    assert "stored but unreadable: enter it again" in page
    assert "Enter an API key again" in page
    assert 'name="new_server_api_key"' in page
    # No 2.6 server was given, so there is no box for its key.
    assert 'name="old_server_api_key"' not in page


def test_a_key_entered_again_is_stored_encrypted_and_the_next_check_uses_it(
    client, server, settings, eager_tasks, django_capture_on_commit_callbacks
):
    created = plan_whose_key_became_unreadable(server, settings)
    server.api_key = NEW_KEY
    client.post(f"/p/{created.edit_token}/actor", {"actor": "Ana"})

    response = client.post(
        f"/p/{created.edit_token}/api-keys", {"new_server_api_key": NEW_KEY}, follow=True
    )

    page = response.content.decode()
    assert "Saved the API key for the new server" in page
    assert NEW_KEY not in page
    stored = created.plan.installation.__class__.objects.get(pk=created.plan.installation_id)
    assert NEW_KEY not in stored.new_server_api_key
    assert api_keys.decrypt(stored.new_server_api_key) == NEW_KEY
    entry = Activity.objects.get(plan=created.plan, action=ActivityAction.API_KEYS_ENTERED)
    assert (entry.actor, entry.details["servers"]) == ("Ana", ["new"])
    assert NEW_KEY not in str(entry.details)
    with django_capture_on_commit_callbacks(execute=True):
        asked = services.verification_request(plan=created.plan)
    machines = Job.objects.get(
        pk=next(job.pk for job in asked if job.kind == "new-server-machines")
    )
    assert machines.state == JobState.DONE, machines.last_error
    assert any(path.startswith("/api/machines") for path in server.paths)


@pytest.mark.parametrize("key", ["API-ONE\r\nX-Evil: 1", "not-a-key", "API-with space"])
def test_a_key_that_is_not_an_octopus_key_is_refused_naming_the_field_without_quoting_it(
    client, server, settings, key
):
    created = plan_whose_key_became_unreadable(server, settings)
    before = created.plan.installation.new_server_api_key
    version = created.plan.version

    response = client.post(
        f"/p/{created.edit_token}/api-keys", {"new_server_api_key": key}, follow=True
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "API key for the new server" in page
    assert "An Octopus API key is API- followed by letters and digits" in page
    assert key not in page
    created.plan.refresh_from_db()
    created.plan.installation.refresh_from_db()
    assert created.plan.installation.new_server_api_key == before
    assert created.plan.version == version


def test_an_empty_form_asks_for_a_key_and_changes_nothing(client, server, settings):
    created = plan_whose_key_became_unreadable(server, settings)

    response = client.post(f"/p/{created.edit_token}/api-keys", {}, follow=True)

    assert "Enter an API key for at least one server." in response.content.decode()
    assert not Activity.objects.filter(action=ActivityAction.API_KEYS_ENTERED).exists()


def test_a_read_only_link_cannot_enter_a_key(client, server, settings):
    created = plan_whose_key_became_unreadable(server, settings)

    response = client.post(f"/p/{created.view_token}/api-keys", {"new_server_api_key": NEW_KEY})

    assert response.status_code == 404
    created.plan.installation.refresh_from_db()
    assert not api_keys.readable(created.plan.installation.new_server_api_key)
