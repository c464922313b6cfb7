"""Octopus API keys and link secrets: a key goes only to its own origin, is checked where it
enters, never shows up in a log, an error or a stored message, and rotating the secret keys
keeps read-only links and stored API keys working — or says plainly that a key must be
entered again. Every server here is a fake on 127.0.0.1."""

import json
import logging
import urllib.request
from http.client import HTTPMessage

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.cache import cache

from tests.factories import api_body, create_plan, installation
from tests.fake_octopus import API_KEY, FakeOctopus
from upgrade_planner.installations import api_keys, octopus
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans import access, services
from upgrade_planner.plans.models import FetchState, InventoryFetch, Job, JobState, Plan, Step

pytestmark = pytest.mark.django_db

# What a pasted key with a line break in it looks like: http.client would refuse it with an
# error that quotes it, and a folded header line could smuggle in another header.
INJECTED_KEY = "API-LEAKYKEY1234\r\nX-Evil: 1"
LEAKED = "LEAKYKEY1234"


@pytest.fixture
def servers():
    started = []

    def start(**options):
        server = FakeOctopus(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def quick(settings):
    settings.OCTOPUS_FETCH_TIMEOUT = 2
    settings.VERIFY_HTTP_TIMEOUT = 2


@pytest.fixture(autouse=True)
def fresh_page_cache():
    # Rendered pages are cached per plan version; a test that changes the secret keys must see
    # the page rendered with the keys it set.
    cache.clear()
    yield
    cache.clear()


def fetch_with(server_url, key, *, last_attempt=True):
    fetch = InventoryFetch.objects.create(
        plan=create_plan().plan, server_url=server_url, encrypted_api_key=api_keys.encrypt(key)
    )
    outcome = services.inventory_fetch_run(fetch_id=fetch.id, last_attempt=last_attempt)
    fetch.refresh_from_db()
    return outcome, fetch


def plan_checked_against(server, **keys):
    keys.setdefault("new_server_api_key", server.api_key)
    return services.plan_create(
        name="Checked", installation=installation(new_server_url=server.url), **keys
    )


def run_checks(plan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        asked = services.verification_request(plan=plan)
    return {job.kind: Job.objects.get(pk=job.pk) for job in asked}


# --- 1. A key follows a redirect only to its own origin -----------------------------------


def test_a_redirect_to_another_port_of_the_same_host_is_refused_before_anything_is_sent(
    servers,
):
    other = servers()
    first = servers(overrides={"/api": lambda query: (302, f"{other.url}/api".encode())})

    outcome, fetch = fetch_with(first.url, API_KEY)

    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert "redirected to another port" in fetch.error
    assert other.requests == []  # not even a request without the key
    assert first.paths == ["/api"]


def test_a_redirect_to_another_loopback_host_is_refused_before_anything_is_sent(servers):
    other = servers()
    port = other.url.rsplit(":", 1)[1]
    first = servers(
        overrides={"/api": lambda query: (302, f"http://localhost:{port}/api".encode())}
    )

    outcome, fetch = fetch_with(first.url, API_KEY)

    assert outcome == "failed" and "redirected to another site (localhost)" in fetch.error
    assert other.requests == []


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("https://octopus.corp/api", "http://octopus.corp/api", "http:// instead of https://"),
        ("https://octopus.corp:8443/api", "http://octopus.corp:8443/api", "http://"),
        ("http://octopus.corp:8080/api", "http://octopus.corp:8081/api", "another port"),
        ("http://octopus.corp/api", "http://evil.example/api", "another site"),
        ("http://octopus.corp/api", "ftp://octopus.corp/api", "not http(s)"),
    ],
)
def test_a_redirect_off_the_origin_is_refused_by_the_redirect_handler(old, new, words):
    # The handler decides before urllib opens anything: no address here is ever connected to.
    handler = octopus.SameOriginRedirects()

    with pytest.raises(octopus.OctopusFetchError) as refused:
        handler.redirect_request(
            urllib.request.Request(old), None, 302, "Found", HTTPMessage(), new
        )

    assert words in refused.value.message


def test_a_redirect_within_the_origin_is_followed_and_the_key_goes_along(servers):
    server = servers(overrides={"/old/api": lambda query: (301, b"/api")})
    client = octopus.OctopusClient(server.url + "/old", API_KEY, timeout=2)

    document = client.get_json(client.url_for("~/api"))

    assert document["Version"] == server.version
    assert server.requests[-1].path == "/api"
    assert server.requests[-1].api_key == API_KEY


def test_the_client_never_sends_its_key_to_another_origin_even_when_asked_to(servers):
    mine, other = servers(), servers()
    client = octopus.OctopusClient(mine.url, API_KEY, timeout=2)

    with pytest.raises(octopus.OctopusFetchError):
        client.get_json(f"{other.url}/api")

    assert other.requests == []


# --- 3. Keys are checked where they enter and never quoted ---------------------------------


def start_form(**changes):
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
        "tentacles-TOTAL_FORMS": "1",
        "tentacles-INITIAL_FORMS": "0",
        "tentacles-0-name": "web-01",
        "tentacles-0-hostname": "web-01.corp",
        "tentacles-0-version": "2.6.5",
        "tentacles-0-communication_style": "listening",
        "tentacles-0-online": "on",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("key", [INJECTED_KEY, "API-LEAKYKEY1234 two", "LEAKYKEY1234", "API-"])
def test_the_start_form_refuses_a_key_that_is_not_an_octopus_key_without_quoting_it(client, key):
    response = client.post("/", start_form(new_server_api_key=key, old_server_api_key=key))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="new_server_api_key-errors"' in body and 'id="old_server_api_key-errors"' in body
    assert "An Octopus API key is API- followed by letters and digits" in body
    assert LEAKED not in body and "X-Evil" not in body
    assert not Plan.objects.exists() and not Installation.objects.exists()


def test_the_start_form_takes_a_well_formed_key_and_stores_it_encrypted(client):
    response = client.post("/", start_form(new_server_api_key="  API-GOODKEY0123456789  "))

    assert response.status_code == 302
    stored = Installation.objects.get().new_server_api_key
    assert "GOODKEY" not in stored
    assert api_keys.decrypt(stored) == "API-GOODKEY0123456789"


def test_the_fetch_form_refuses_a_key_with_a_line_break_without_quoting_it(client, servers):
    created = create_plan()
    server = servers()

    response = client.post(
        f"/p/{created.edit_token}/inventory/fetch",
        {"server_url": server.url, "api_key": INJECTED_KEY},
    )

    body = response.content.decode()
    assert "An Octopus API key is API- followed by letters and digits" in body
    assert LEAKED not in body and "X-Evil" not in body
    assert not InventoryFetch.objects.exists()
    assert server.requests == []


def test_the_api_refuses_a_key_that_is_not_an_octopus_key_naming_the_field(client):
    body = api_body(new_server_api_key=INJECTED_KEY, old_server_api_key="API-GOOD123")

    response = client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["new_server_api_key"]
    assert "copy it again from your Octopus profile" in errors["new_server_api_key"][0]
    assert LEAKED not in response.content.decode()
    assert not Plan.objects.exists()


def test_a_key_with_a_line_break_that_reaches_a_fetch_fails_it_without_quoting_it(servers, caplog):
    caplog.set_level(logging.DEBUG)
    server = servers()

    # Not the last attempt: a failure that could be retried would be; this one cannot.
    outcome, fetch = fetch_with(server.url, INJECTED_KEY, last_attempt=False)

    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert "Copy it again from your Octopus profile" in fetch.error
    assert LEAKED not in fetch.error and LEAKED not in fetch.progress
    assert LEAKED not in caplog.text
    assert server.requests == []


def test_a_stored_key_with_a_line_break_fails_its_check_without_quoting_it(
    servers, caplog, eager_tasks, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    server = servers()
    created = plan_checked_against(server, new_server_api_key=INJECTED_KEY)

    jobs = run_checks(created.plan, django_capture_on_commit_callbacks)

    job = jobs["new-server-machines"]
    assert job.state == JobState.FAILED and job.attempts == 1
    assert "Copy it again from your Octopus profile" in job.last_error
    evidence = json.dumps(list(Step.objects.filter(plan=created.plan).values("evidence")))
    assert LEAKED not in job.last_error and LEAKED not in evidence
    assert LEAKED not in caplog.text
    assert not [path for path in server.paths if path.startswith("/api/machines")]


# --- 4. Rotating the secret keys --------------------------------------------------------------


def test_an_old_read_only_link_keeps_working_and_is_still_the_one_shown_after_a_rotation(
    client, settings
):
    created = create_plan()
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret]

    assert client.get(f"/v/{created.view_token}/").status_code == 200
    assert access.link_for_token(created.view_token).plan_id == created.plan.pk
    editor_page = client.get(f"/p/{created.edit_token}/").content.decode()
    assert f"/v/{created.view_token}/" in editor_page


def test_a_read_only_link_made_with_a_dropped_key_still_opens_but_is_no_longer_shown(
    client, settings
):
    created = create_plan()
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []

    assert client.get(f"/v/{created.view_token}/").status_code == 200
    editor_page = client.get(f"/p/{created.edit_token}/").content.decode()
    assert "/v/" not in editor_page.split('id="share-heading"', 1)[1].split("</section>", 1)[0]
    assert "cannot be shown again" in editor_page


def test_a_rotated_read_only_link_is_made_with_the_new_key(client, settings):
    created = create_plan()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    token = services.link_rotate(plan=created.plan, kind="view")

    assert client.get(f"/v/{token}/").status_code == 200
    assert client.get(f"/v/{created.view_token}/").status_code == 410


def test_the_newest_encryption_key_encrypts_and_every_key_decrypts(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.API_KEY_ENCRYPTION_KEY = old
    settings.API_KEY_ENCRYPTION_KEYS = []
    stored_with_old = api_keys.encrypt("API-OLDKEY123")

    settings.API_KEY_ENCRYPTION_KEYS = [new, old]
    stored_with_new = api_keys.encrypt("API-NEWKEY456")

    assert api_keys.decrypt(stored_with_old) == "API-OLDKEY123"
    assert api_keys.decrypt(stored_with_new) == "API-NEWKEY456"
    assert Fernet(new.encode()).decrypt(stored_with_new.encode()) == b"API-NEWKEY456"
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(stored_with_new.encode())


def test_the_single_encryption_key_setting_keeps_working_alongside_the_list(settings):
    only = Fernet.generate_key().decode()
    settings.API_KEY_ENCRYPTION_KEY = only
    settings.API_KEY_ENCRYPTION_KEYS = []

    stored = api_keys.encrypt("API-KEY789")

    assert Fernet(only.encode()).decrypt(stored.encode()) == b"API-KEY789"


def test_stored_keys_stay_readable_after_a_secret_key_rotation_with_the_old_key_kept(settings):
    settings.API_KEY_ENCRYPTION_KEY = ""
    settings.API_KEY_ENCRYPTION_KEYS = []
    stored = api_keys.encrypt("API-DERIVED123")

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    assert api_keys.decrypt(stored) == "API-DERIVED123"
    assert api_keys.masked(stored) == "stored (hidden)"


def test_a_stored_key_nothing_can_decrypt_is_reported_and_fails_its_check_without_a_request(
    client, settings, servers, eager_tasks, django_capture_on_commit_callbacks
):
    settings.API_KEY_ENCRYPTION_KEY = ""
    settings.API_KEY_ENCRYPTION_KEYS = []
    server = servers(version="3.17.14")
    created = plan_checked_against(server)
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []

    page = client.get(f"/p/{created.edit_token}/").content.decode()
    jobs = run_checks(created.plan, django_capture_on_commit_callbacks)

    assert "API key stored but unreadable: enter it again" in page
    job = jobs["new-server-machines"]
    assert job.state == JobState.FAILED
    assert "stored but unreadable: enter it again" in job.last_error
    # Never sent as an empty key: the server was not asked for its machines at all.
    assert not [path for path in server.paths if path.startswith("/api/machines")]
    assert jobs["server-version"].state == JobState.DONE  # needs no key, still runs


def test_a_crash_report_of_the_start_page_would_hide_both_api_keys(client):
    from django.views.debug import SafeExceptionReporterFilter

    response = client.post(
        "/",
        {"name": "", "old_server_api_key": "API-OLDKEY123", "new_server_api_key": "API-NEWKEY456"},
    )

    shown = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
    assert response.status_code == 200
    assert "API-OLDKEY123" not in str(shown) and "API-NEWKEY456" not in str(shown)
    assert shown["old_server_api_key"] == shown["new_server_api_key"] != ""
