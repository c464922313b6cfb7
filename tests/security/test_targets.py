"""Where checks may connect: never into a denied network (link-local and cloud metadata
addresses by default), refused before any socket is opened; server URLs written in odd IP forms
are refused where they enter; read-only viewers see a port probe's outcome, not its findings.

No test here connects anywhere but 127.0.0.1: a denied address is only ever resolved (a literal
resolves without a lookup), and refusals of a live server are shown by denying loopback itself.
"""

import json
import socket

import pytest
from django.db import transaction

from tests.factories import api_body, create_plan, installation
from tests.fake_octopus import API_KEY, FakeOctopus
from upgrade_planner.domain.evidence import StepVerdict
from upgrade_planner.installations import api_keys, octopus, targets
from upgrade_planner.installations.models import Installation
from upgrade_planner.installations.server_urls import clean_server_url
from upgrade_planner.plans import services, verification
from upgrade_planner.plans.models import InventoryFetch, Job, JobState, Plan, Step

pytestmark = pytest.mark.django_db

LOOPBACK = ["127.0.0.0/8", "::1/128"]


@pytest.fixture
def server():
    with FakeOctopus(version="3.17.14") as fake:
        yield fake


@pytest.fixture
def no_connections(monkeypatch):
    """Any attempt to connect a socket in this process fails the test."""
    attempts = []

    def refuse(sock, address):
        attempts.append(address)
        raise AssertionError(f"a connection to {address} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


# --- The networks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # AWS, Azure, GCP metadata
        "169.254.170.2",  # ECS task credentials
        "fe80::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "::ffff:169.254.169.254",  # the IPv4 address, mapped into IPv6
    ],
)
def test_link_local_and_metadata_addresses_are_denied_by_default(address):
    assert "VERIFY_DENIED_NETWORKS" in targets.refusal(address)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.0.0.5", "172.16.4.2", "192.168.1.10", "fd12:3456::1"]
)
def test_loopback_and_private_addresses_stay_allowed(address):
    assert targets.refusal(address) is None


def test_allowed_networks_when_set_are_the_only_ones_reached_and_denied_ones_stay_denied(
    settings,
):
    settings.VERIFY_ALLOWED_NETWORKS = ["10.0.0.0/8", "169.254.0.0/16"]

    assert targets.refusal("10.20.30.40") is None
    assert "VERIFY_ALLOWED_NETWORKS" in targets.refusal("192.168.1.10")
    assert "VERIFY_DENIED_NETWORKS" in targets.refusal("169.254.169.254")


def test_a_denied_address_is_refused_when_resolved_before_any_socket_connects(no_connections):
    with pytest.raises(targets.TargetRefused) as refused:
        targets.resolve_checked("169.254.169.254", 80)
    with pytest.raises(targets.TargetRefused):
        targets.create_connection(("169.254.169.254", 80), 1)

    assert "169.254.0.0/16" in str(refused.value)
    assert no_connections == []


# --- Servers and Tentacles in a denied network --------------------------------------------


def test_the_client_refuses_a_server_in_a_denied_network_before_connecting(settings, server):
    settings.VERIFY_DENIED_NETWORKS = LOOPBACK
    client = octopus.OctopusClient(server.url, API_KEY, timeout=2)

    with pytest.raises(octopus.OctopusFetchError) as refused:
        client.get_json(client.url_for("~/api"))

    assert "did not connect to 127.0.0.1" in refused.value.message
    assert "VERIFY_DENIED_NETWORKS" in refused.value.message
    assert not refused.value.transient  # trying again cannot help
    assert server.requests == []


def test_the_client_metadata_address_is_refused_without_a_socket_connecting(no_connections):
    client = octopus.OctopusClient("http://169.254.169.254", API_KEY, timeout=2)

    with pytest.raises(octopus.OctopusFetchError) as refused:
        client.get_json(client.url_for("~/api"))

    assert "169.254.0.0/16" in refused.value.message
    assert no_connections == []


def test_an_inventory_fetch_from_a_denied_server_fails_with_the_reason(settings, server):
    settings.VERIFY_DENIED_NETWORKS = LOOPBACK
    fetch = InventoryFetch.objects.create(
        plan=create_plan().plan, server_url=server.url, encrypted_api_key=api_keys.encrypt(API_KEY)
    )

    outcome = services.inventory_fetch_run(fetch_id=fetch.id, last_attempt=False)

    fetch.refresh_from_db()
    assert outcome == "failed" and "VERIFY_DENIED_NETWORKS" in fetch.error
    assert server.requests == []


def test_checks_against_a_denied_server_fail_with_the_reason(
    settings, server, eager_tasks, django_capture_on_commit_callbacks
):
    settings.VERIFY_DENIED_NETWORKS = LOOPBACK
    created = services.plan_create(
        name="Denied",
        installation=installation(new_server_url=server.url),
        new_server_api_key=API_KEY,
    )

    with django_capture_on_commit_callbacks(execute=True):
        asked = services.verification_request(plan=created.plan)

    jobs = {job.kind: Job.objects.get(pk=job.pk) for job in asked}
    for kind in ("server-version", "new-server-machines"):
        assert jobs[kind].state == JobState.FAILED, kind
        assert "VERIFY_DENIED_NETWORKS" in jobs[kind].last_error
    assert server.requests == []


def test_a_tentacle_port_in_a_denied_network_is_not_probed(settings):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        settings.VERIFY_DENIED_NETWORKS = LOOPBACK

        [probe] = verification.probe_ports([("127.0.0.1", port)], timeout=1)

        assert not probe.reachable
        assert "was not probed" in probe.detail and "VERIFY_DENIED_NETWORKS" in probe.detail
        with pytest.raises(BlockingIOError):  # nothing ever connected
            listener.accept()


def test_a_tentacle_port_outside_the_denied_networks_is_probed():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        [probe] = verification.probe_ports([("127.0.0.1", port)], timeout=1)

    assert probe.reachable and probe.detail == f"127.0.0.1:{port} accepts connections"


# --- Odd host forms where server URLs enter ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433",  # 127.0.0.1 as one decimal number
        "http://0x7f000001",  # … in hex
        "http://127.1",  # … with parts left out
        "http://0177.0.0.1",  # … with an octal part
        "http://0x7f.0.0.1:8080",
        "http://127.000.000.001",
        "http://2852039166/latest/meta-data",  # 169.254.169.254
    ],
)
def test_an_ip_address_in_an_odd_form_is_refused_with_how_to_write_it(url):
    with pytest.raises(ValueError, match="four numbers from 0 to 255"):
        clean_server_url(url)


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254", "http://169.254.169.254:80/", "http://[fe80::1]:8080"]
)
def test_a_server_url_in_a_denied_network_is_refused_where_it_enters(url):
    with pytest.raises(ValueError, match="VERIFY_DENIED_NETWORKS"):
        clean_server_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://10.0.0.5",
        "https://192.168.1.10:8443/octopus",
        "http://[::1]:8080",
        "https://octopus.corp",
        "http://octopus",
        "https://octopus-2.intranet.corp",
    ],
)
def test_ordinary_server_urls_including_loopback_and_private_ones_stay_valid(url):
    assert clean_server_url(url) == url.rstrip("/")


def test_the_fetch_form_names_an_odd_address_as_a_field_error(client):
    created = create_plan()

    response = client.post(
        f"/p/{created.edit_token}/inventory/fetch",
        {"server_url": "http://0x7f000001:8080", "api_key": API_KEY},
    )

    assert "four numbers from 0 to 255" in response.content.decode()
    assert not InventoryFetch.objects.exists()


def test_the_api_names_an_odd_address_as_a_field_error(client):
    body = api_body(old_server_url="http://2130706433", new_server_url="http://127.1:8080")

    response = client.post("/api/v1/plans", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"old_server_url", "new_server_url"}
    assert "four numbers from 0 to 255" in errors["old_server_url"][0]
    assert not Plan.objects.exists() and not Installation.objects.exists()


# --- What read-only viewers see of a port probe -----------------------------------------------

PROBE_DETAIL = "web-0001.corp:10933 did not accept a connection ([Errno 111] Connection refused)"


def probed_plan():
    created = create_plan()
    probed = Step.objects.get(plan=created.plan, tentacle="web-0001", kind="upgrade-tentacle")
    with transaction.atomic():
        services.evidence_record(
            plan=created.plan,
            check="tentacle-ports",
            verdicts=[StepVerdict(probed.id, False, PROBE_DETAIL)],
        )
    return created


def test_read_only_viewers_see_a_port_probes_outcome_but_not_its_findings(client):
    created = probed_plan()

    body = client.get(f"/v/{created.view_token}/").content.decode()

    assert "Its Tentacle port did not accept a connection." in body
    assert "Errno 111" not in body and "web-0001.corp:10933" not in body


def test_editors_see_what_a_port_probe_found(client):
    created = probed_plan()

    body = client.get(f"/p/{created.edit_token}/").content.decode()

    assert "web-0001.corp:10933 did not accept a connection ([Errno 111]" in body
