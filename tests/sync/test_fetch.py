"""Reading the inventory from an Octopus server: the job against a fake server on 127.0.0.1."""

import json
import logging
import socket
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from tests.factories import create_plan
from tests.fake_octopus import API_KEY, FakeOctopus, listening, polling
from upgrade_planner.installations import api_keys, octopus
from upgrade_planner.plans import services, tasks
from upgrade_planner.plans.models import FetchState, InventoryFetch
from upgrade_planner.plans.services import fetches

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    servers = []

    def start(**options):
        server = FakeOctopus(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def celery_eager(value):
    from upgrade_planner.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = value
    return app, was


@pytest.fixture
def worker_mode():
    """Run the task as a worker would (retries allowed), though still in this process."""
    app, was = celery_eager(False)
    yield
    app.conf.task_always_eager = was


@pytest.fixture
def in_process():
    """Run the task as the embedded default does: in the request, without a broker."""
    app, was = celery_eager(True)
    yield
    app.conf.task_always_eager = was


@pytest.fixture(autouse=True)
def quick(settings):
    settings.OCTOPUS_FETCH_TIMEOUT = 0.5
    settings.OCTOPUS_FETCH_RETRIES = 0
    settings.OCTOPUS_FETCH_RETRY_DELAY = 0


def new_fetch(server_url, *, key=API_KEY, plan=None, **fields):
    """A fetch as the start service records it: its API key encrypted on the row."""
    return InventoryFetch.objects.create(
        plan=plan or create_plan().plan,
        server_url=server_url,
        encrypted_api_key=api_keys.encrypt(key),
        **fields,
    )


def run(server_url, *, key=API_KEY, last_attempt=True):
    fetch = new_fetch(server_url, key=key)
    outcome = services.inventory_fetch_run(fetch_id=fetch.id, last_attempt=last_attempt)
    fetch.refresh_from_db()
    return outcome, fetch


FLEET = [
    listening("web-01", "Web-01.corp", envs=["Environments-1"]),
    listening("web-02", "web-02.corp", port=10934, envs=["Environments-1", "Environments-2"]),
    polling("app-01", envs=["Environments-2"]),
    listening("db-01", "10.0.0.5", HealthStatus="Unavailable"),
    listening("old-01", "old-01.corp", IsDisabled=True),
]


def test_it_reads_every_page_and_maps_environments_styles_hosts_and_health(fake):
    server = fake(machines=FLEET)

    outcome, fetch = run(server.url)

    assert outcome == "done" and fetch.state == FetchState.DONE
    assert fetch.server_version == "2.6.5.1010"
    by_name = {row["name"]: row for row in fetch.rows}
    assert by_name["web-01"] == {
        "name": "web-01",
        "communication_style": "listening",
        "hostname": "Web-01.corp",  # as the server spells it
        "port": 10933,
        "environments": ["Production"],
        "roles": ["web"],
        "version": "2.6.5",
        "online": True,
    }
    assert by_name["web-02"]["environments"] == ["Production", "Staging"]
    assert by_name["web-02"]["port"] == 10934
    assert by_name["app-01"]["communication_style"] == "polling"
    assert "hostname" not in by_name["app-01"]  # poll://SQ-… is not a host
    assert by_name["db-01"]["online"] is False
    assert by_name["old-01"]["online"] is False
    assert fetch.unrecognised == []
    machine_pages = [r for r in server.paths if r.startswith("/api/machines")]
    assert len(machine_pages) == 3  # 5 machines, 2 a page
    assert "skip=4" in machine_pages[-1]
    assert fetch.finished_at is not None and fetch.progress == "Read 5 machines"


def test_older_servers_flat_fields_and_paging_without_links_are_understood(fake):
    flat = [
        {
            "Id": "Machines-1",
            "Name": "legacy-01",
            "Uri": "https://legacy-01.corp:10933/",
            "CommunicationStyle": "TentaclePassive",
            "EnvironmentIds": ["Environments-1"],
            "Roles": ["web"],
            "Status": "Offline",
        },
        {
            "Id": "Machines-2",
            "Name": "legacy-02",
            "Uri": "poll://SQ-12345/",
            "CommunicationStyle": "TentacleActive",
            "EnvironmentIds": ["Environments-2"],
            "Roles": [],
            "Status": "Online",
        },
        {
            "Id": "Machines-3",
            "Name": "legacy-03",
            "Uri": "https://legacy-03.corp/",
            "CommunicationStyle": "TentaclePassive",
            "EnvironmentIds": [],
            "Roles": [],
        },
    ]
    server = fake(machines=flat, page_links=False)

    outcome, fetch = run(server.url)

    assert outcome == "done"
    by_name = {row["name"]: row for row in fetch.rows}
    assert by_name["legacy-01"]["hostname"] == "legacy-01.corp"
    assert by_name["legacy-01"]["online"] is False
    assert by_name["legacy-02"]["communication_style"] == "polling"
    assert by_name["legacy-02"]["environments"] == ["Staging"]
    assert "online" not in by_name["legacy-03"]  # the server did not say: not guessed
    assert "port" not in by_name["legacy-03"]
    assert sum(1 for r in server.paths if r.startswith("/api/machines")) == 2


def test_machines_it_cannot_understand_are_reported_not_guessed(fake):
    server = fake(
        machines=[
            listening("web-01", "web-01.corp"),
            {"Id": "Machines-9", "Name": "linux-01", "Endpoint": {"CommunicationStyle": "Ssh"}},
            {"Id": "Machines-10", "Name": "mystery-01", "Roles": ["web"]},
            listening("lost-01", "lost-01.corp", envs=["Environments-99"]),
            {"Id": "Machines-11", "Name": "odd-01", "Endpoint": {"CommunicationStyle": "Carrier"}},
            listening("bad-01", "bad host.corp"),
            {"Id": "Machines-12", "Endpoint": {"CommunicationStyle": "TentaclePassive"}},
        ]
    )

    outcome, fetch = run(server.url)

    assert outcome == "done"
    assert [row["name"] for row in fetch.rows] == ["web-01"]
    reasons = {row["name"]: row["reason"] for row in fetch.unrecognised}
    assert "SSH target, not a Tentacle" in reasons["linux-01"]
    assert "no communication style" in reasons["mystery-01"]
    assert "Environments-99" in reasons["lost-01"]
    assert "Carrier" in reasons["odd-01"]
    assert "Hostname" in reasons["bad-01"]
    assert "no name" in reasons["Machines-12"]


def test_a_refused_api_key_fails_at_once_in_words(fake):
    server = fake(machines=FLEET)

    outcome, fetch = run(server.url, key="API-WRONG", last_attempt=False)

    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert "refused the API key (HTTP 401)" in fetch.error
    assert server.paths == ["/api"]  # not retried: trying again cannot help


def test_a_server_that_does_not_answer_in_time_times_out(fake, settings):
    settings.OCTOPUS_FETCH_TIMEOUT = 0.2
    server = fake(machines=FLEET, delay=3)

    outcome, fetch = run(server.url)

    assert outcome == "failed"
    assert "did not answer within 0.2 seconds" in fetch.error
    assert "try again" in fetch.error


def test_a_timeout_is_retried_while_attempts_remain(fake, settings):
    settings.OCTOPUS_FETCH_TIMEOUT = 0.2
    server = fake(machines=FLEET, delay=3)

    outcome, fetch = run(server.url, last_attempt=False)

    assert outcome == "retry"
    assert fetch.state == FetchState.PENDING and "did not answer" in fetch.error


def test_an_answer_that_is_not_json_fails_with_what_to_check(fake):
    server = fake(machines=FLEET, overrides={"/api/machines": lambda q: (200, b"<html>Sign in")})

    outcome, fetch = run(server.url)

    assert outcome == "failed"
    assert "is not JSON" in fetch.error and "/api/machines" in fetch.error


def test_json_of_an_unexpected_shape_fails_with_what_to_check(fake):
    server = fake(overrides={"/api/environments": lambda q: (200, {"Things": []})})

    outcome, fetch = run(server.url)

    assert outcome == "failed"
    assert 'no "Items"' in fetch.error


def test_a_root_document_without_a_version_is_not_octopus(fake):
    server = fake(overrides={"/api": lambda q: (200, {"Hello": "world"})})

    outcome, fetch = run(server.url)

    assert outcome == "failed" and "no Octopus version" in fetch.error


def test_a_server_that_is_not_there_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.

    outcome, fetch = run(f"http://127.0.0.1:{port}")

    assert outcome == "failed"
    assert "Could not connect to 127.0.0.1" in fetch.error
    assert "firewall" in fetch.error


def test_a_page_link_to_another_site_is_not_followed_with_the_key(fake):
    def leaking(query):
        return 200, {
            "TotalResults": 4,
            "Items": [listening("web-01", "web-01.corp")],
            "Links": {"Page.Next": "http://elsewhere.invalid/api/machines?skip=1"},
        }

    server = fake(overrides={"/api/machines": leaking})

    outcome, fetch = run(server.url)

    assert outcome == "failed" and "another site" in fetch.error


def test_a_redirect_to_another_site_is_not_followed_with_the_key(fake):
    server = fake(overrides={"/api": lambda q: (302, b"http://elsewhere.invalid/api")})

    outcome, fetch = run(server.url)

    assert outcome == "failed" and "redirected to another site" in fetch.error


def test_a_second_delivery_of_the_job_does_nothing(fake):
    server = fake(machines=FLEET)
    outcome, fetch = run(server.url)
    asked = len(server.requests)

    again = services.inventory_fetch_run(fetch_id=fetch.id, last_attempt=True)

    assert (outcome, again) == ("done", "skipped")
    assert len(server.requests) == asked


def test_the_task_retries_a_transient_failure_and_then_succeeds(fake, settings, worker_mode):
    settings.OCTOPUS_FETCH_RETRIES = 2
    answers = iter([(503, {"ErrorMessage": "busy"})])

    def busy_once(query):
        return next(answers, None) or (200, {"Version": "3.17.14"})

    server = fake(machines=FLEET, overrides={"/api": busy_once})
    fetch = new_fetch(server.url)

    result = tasks.inventory_fetch.apply(kwargs={"fetch_id": str(fetch.id)}, throw=False)

    fetch.refresh_from_db()
    assert result.get() == "done"
    assert fetch.state == FetchState.DONE and fetch.attempts == 2
    assert fetch.server_version == "3.17.14"


def test_the_task_gives_up_after_its_retries(fake, settings, worker_mode):
    settings.OCTOPUS_FETCH_RETRIES = 1
    server = fake(overrides={"/api": lambda q: (503, {"ErrorMessage": "busy"})})
    fetch = new_fetch(server.url)

    result = tasks.inventory_fetch.apply(kwargs={"fetch_id": str(fetch.id)}, throw=False)

    fetch.refresh_from_db()
    assert result.get() == "failed"
    assert fetch.state == FetchState.FAILED and fetch.attempts == 2
    assert "HTTP 503" in fetch.error
    assert server.paths == ["/api", "/api"]


def test_the_api_key_is_sent_as_the_header_and_never_stored_or_logged(fake, caplog):
    caplog.set_level(logging.DEBUG)
    server = fake(machines=FLEET)
    fetch = new_fetch(server.url)

    tasks.inventory_fetch.apply(kwargs={"fetch_id": str(fetch.id)})
    failing = new_fetch(server.url + "/nope", plan=fetch.plan)
    tasks.inventory_fetch.apply(kwargs={"fetch_id": str(failing.id)})

    assert {request.api_key for request in server.requests} == {API_KEY}
    stored = json.dumps(list(InventoryFetch.objects.values()), default=str)
    assert API_KEY not in stored
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(octopus.OctopusClient(server.url, API_KEY, timeout=1))


def test_the_job_message_carries_the_fetch_id_and_no_key(
    monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    task = services.task_by_name(services.INVENTORY_FETCH_TASK)
    monkeypatch.setattr(task, "apply_async", lambda *args, **options: sent.append((args, options)))

    with django_capture_on_commit_callbacks(execute=True):
        fetch = services.inventory_fetch_start(
            plan=create_plan().plan, server_url="http://127.0.0.1:1", api_key=API_KEY
        )

    assert sent == [((), {"kwargs": {"fetch_id": str(fetch.id)}, "retry": False})]
    assert API_KEY not in repr(sent)
    fetch.refresh_from_db()
    assert fetch.state == FetchState.PENDING and fetch.published_at is not None


def test_the_key_waits_encrypted_on_the_fetch_and_the_worker_reads_it_from_there(
    fake, django_capture_on_commit_callbacks, monkeypatch
):
    server = fake(machines=FLEET)
    task = services.task_by_name(services.INVENTORY_FETCH_TASK)
    messages = []
    monkeypatch.setattr(task, "apply_async", lambda **options: messages.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        fetch = services.inventory_fetch_start(
            plan=create_plan().plan, server_url=server.url, api_key=API_KEY
        )
    at_rest = InventoryFetch.objects.values_list("encrypted_api_key", flat=True).get()

    assert at_rest and API_KEY not in at_rest
    assert api_keys.decrypt(at_rest) == API_KEY

    monkeypatch.undo()
    tasks.inventory_fetch.apply(kwargs=messages[0]["kwargs"])

    fetch.refresh_from_db()
    assert fetch.state == FetchState.DONE
    assert {request.api_key for request in server.requests} == {API_KEY}
    assert fetch.encrypted_api_key == ""  # forgotten once it has served


def test_the_key_is_forgotten_when_the_fetch_fails_and_kept_while_it_will_be_retried(
    fake, settings
):
    settings.OCTOPUS_FETCH_TIMEOUT = 0.2
    slow = fake(machines=FLEET, delay=3)
    strict = fake(machines=FLEET)

    retried, waiting = run(slow.url, last_attempt=False)
    refused, failed = run(strict.url, key="API-WRONG")

    assert retried == "retry" and api_keys.decrypt(waiting.encrypted_api_key) == API_KEY
    assert refused == "failed" and failed.encrypted_api_key == ""


def test_a_key_that_cannot_be_decrypted_fails_the_fetch_asking_for_it_again(fake, settings):
    server = fake(machines=FLEET)
    fetch = new_fetch(server.url)
    # Neither the key it used nor the secret key it could be derived from is there any more.
    settings.API_KEY_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    outcome = services.inventory_fetch_run(fetch_id=fetch.id, last_attempt=True)

    fetch.refresh_from_db()
    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert "Enter the key again" in fetch.error
    assert server.requests == []  # never sent an empty or wrong key


def test_a_message_queued_before_keys_were_stored_still_runs_and_keeps_no_key(fake):
    server = fake(machines=FLEET)
    fetch = InventoryFetch.objects.create(plan=create_plan().plan, server_url=server.url)

    result = tasks.inventory_fetch.apply(kwargs={"fetch_id": str(fetch.id), "api_key": API_KEY})

    fetch.refresh_from_db()
    assert result.get() == "done" and fetch.state == FetchState.DONE
    assert {request.api_key for request in server.requests} == {API_KEY}
    assert fetch.encrypted_api_key == ""


# --- Fetches always finish ---------------------------------------------------------------


def test_an_unexpected_error_while_reading_fails_the_fetch_in_words_logged_once_without_the_key(
    fake, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    server = fake(machines=FLEET)

    def broken(*args, **kwargs):
        raise ValueError(f"Invalid header value b'{API_KEY}\\r\\nX-Evil: 1'")

    monkeypatch.setattr(octopus, "read_inventory", broken)

    outcome, fetch = run(server.url)

    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert fetch.error == fetches.UNEXPECTED_FAILURE
    assert fetch.finished_at is not None and fetch.encrypted_api_key == ""
    logged = [r for r in caplog.records if "unexpected ValueError" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR
    assert API_KEY not in caplog.text


def test_a_page_link_that_is_not_a_valid_address_fails_the_fetch(fake):
    def broken_link(query):
        return 200, {
            "TotalResults": 4,
            "Items": [listening("web-01", "web-01.corp")],
            "Links": {"Page.Next": "http://[::1"},
        }

    server = fake(overrides={"/api/machines": broken_link})

    outcome, fetch = run(server.url)

    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert fetch.error and "Traceback" not in fetch.error


def test_json_nested_200000_deep_fails_the_fetch(fake):
    nested = b"[" * 200_000 + b"]" * 200_000
    server = fake(overrides={"/api": lambda q: (200, nested)})

    outcome, fetch = run(server.url)

    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert fetch.error and fetch.encrypted_api_key == ""


def test_a_fetch_left_running_on_its_last_attempt_is_failed_not_taken_over(fake, settings):
    settings.OCTOPUS_FETCH_RETRIES = 1
    server = fake(machines=FLEET)
    long_ago = timezone.now() - timedelta(seconds=settings.OCTOPUS_FETCH_ABANDONED_AFTER + 60)
    fetch = new_fetch(server.url, state=FetchState.RUNNING, attempts=2, started_at=long_ago)

    outcome = services.inventory_fetch_run(fetch_id=fetch.id, last_attempt=True)

    fetch.refresh_from_db()
    assert outcome == "failed" and fetch.state == FetchState.FAILED
    assert "given up" in fetch.error and fetch.attempts == 2
    assert fetch.encrypted_api_key == "" and server.requests == []


def test_the_relay_sends_again_a_fetch_a_killed_worker_left_and_fails_one_out_of_attempts(
    fake, settings, eager_tasks
):
    settings.OCTOPUS_FETCH_RETRIES = 1
    server = fake(machines=FLEET)
    long_ago = timezone.now() - timedelta(seconds=settings.OCTOPUS_FETCH_ABANDONED_AFTER + 60)
    left = new_fetch(server.url, state=FetchState.RUNNING, attempts=1, started_at=long_ago)
    spent = new_fetch(server.url, state=FetchState.RUNNING, attempts=2, started_at=long_ago)
    lost = new_fetch(
        server.url, published_at=timezone.now() - services.outbox.LOST_AFTER - timedelta(1)
    )

    sent = tasks.relay_outbox()

    states = dict(InventoryFetch.objects.values_list("id", "state"))
    assert sent == 2
    assert (states[left.id], states[lost.id]) == (FetchState.DONE, FetchState.DONE)
    assert states[spent.id] == FetchState.FAILED
    assert "given up" in InventoryFetch.objects.get(pk=spent.id).error
    assert tasks.relay_outbox() == 0


def test_run_in_process_a_transient_failure_is_final_at_once(fake, settings, in_process):
    settings.OCTOPUS_FETCH_RETRIES = 3
    server = fake(overrides={"/api": lambda q: (503, {"ErrorMessage": "busy"})})
    fetch = new_fetch(server.url)

    tasks.inventory_fetch.apply(kwargs={"fetch_id": str(fetch.id)})

    fetch.refresh_from_db()
    assert fetch.state == FetchState.FAILED and "Try again" in fetch.error
    assert server.paths == ["/api"]
