"""The limit on unknown links slows guessing without locking anyone out of a link they hold,
and counts the client's real address: X-Forwarded-For only as far as trusted proxies wrote it."""

import pytest
from django.test import Client

from tests.factories import create_plan
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.access import client_address
from upgrade_planner.plans.models import Step

pytestmark = pytest.mark.django_db

OFFICE = "198.51.100.7"
ATTACKER = "203.0.113.9"
PROXY = "10.0.0.2"


@pytest.fixture
def limit(settings):
    settings.UNKNOWN_TOKEN_LIMIT_PER_MINUTE = 3
    return 3


def guess(client: Client, n: int, **headers: str) -> int:
    return client.get(f"/p/guess-{n}/", **headers).status_code


def test_an_address_over_the_guess_limit_still_opens_every_link_it_holds(limit):
    created = create_plan()
    office = Client(REMOTE_ADDR=OFFICE)
    assert [guess(office, n) for n in range(limit + 1)] == [404] * limit + [429]
    step = Step.objects.filter(plan=created.plan, state=StepState.READY).first()

    edit = created.edit_token
    assert office.get(f"/p/{edit}/").status_code == 200
    assert office.get(f"/p/{edit}/poll", {"v": 0}).status_code == 200
    assert office.get(f"/p/{edit}/poll", {"v": created.plan.version}).status_code == 304
    assert office.get(f"/v/{created.view_token}/").status_code == 200
    assert office.get(f"/api/v1/plans/{created.view_token}").status_code == 200
    started = office.post(
        f"/api/v1/plans/{edit}/steps/{step.id}/start", "{}", content_type="application/json"
    )
    assert started.status_code == 200
    # Guesses are still refused, and a replaced link still says so.
    assert guess(office, 99) == 429
    assert office.get("/api/v1/plans/guess-api").status_code == 429


def test_a_replaced_link_is_answered_as_replaced_over_the_limit(limit):
    created = create_plan()
    office = Client(REMOTE_ADDR=OFFICE)
    office.post(f"/p/{created.edit_token}/links/edit/rotate")
    for n in range(limit):
        guess(office, n)

    assert office.get(f"/p/{created.edit_token}/").status_code == 410


def test_without_trusted_proxies_x_forwarded_for_counts_for_nothing(limit, settings):
    # Even with the proxy's HTTPS header trusted: that says nothing about who the client is.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_COUNT = 0
    attacker = Client(REMOTE_ADDR=ATTACKER)

    rotating = [guess(attacker, n, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}") for n in range(6)]
    spoofed = guess(Client(REMOTE_ADDR=OFFICE), 50, HTTP_X_FORWARDED_FOR=ATTACKER)

    assert rotating == [404] * limit + [429] * 3
    assert spoofed == 404  # the attacker's address being over the limit does not touch others


def test_behind_one_proxy_a_rotating_header_from_the_client_changes_nothing(limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    through_proxy = Client(REMOTE_ADDR=PROXY)

    # The proxy appends the address it was connected from to whatever the client sent.
    rotating = [
        guess(through_proxy, n, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {ATTACKER}") for n in range(6)
    ]
    office = guess(through_proxy, 50, HTTP_X_FORWARDED_FOR=OFFICE)

    assert rotating == [404] * limit + [429] * 3
    assert office == 404  # the proxy's other clients are not locked out with the attacker


def test_behind_one_proxy_a_spoofed_header_cannot_lock_out_a_real_address(limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    through_proxy = Client(REMOTE_ADDR=PROXY)

    for n in range(limit + 2):
        guess(through_proxy, n, HTTP_X_FORWARDED_FOR=f"{OFFICE}, {ATTACKER}")

    assert guess(through_proxy, 50, HTTP_X_FORWARDED_FOR=OFFICE) == 404
    assert guess(through_proxy, 51, HTTP_X_FORWARDED_FOR=ATTACKER) == 429


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, "192.0.2.1", PROXY),
        (1, "192.0.2.1", "192.0.2.1"),
        (1, f"{ATTACKER}, 192.0.2.1", "192.0.2.1"),
        (2, f"{ATTACKER}, 192.0.2.1, 10.0.0.1", "192.0.2.1"),
        (2, "192.0.2.1", PROXY),  # fewer entries than proxies: not written by them
        (1, "", PROXY),
        (1, "not-an-address", PROXY),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_is_the_nth_address_from_the_right(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": forwarded}

    assert client_address(meta) == expected


# --- Replaced links on edit routes -------------------------------------------------------


def test_a_replaced_read_only_link_on_an_edit_route_answers_like_an_unknown_one(client):
    created = create_plan()
    old_view = created.view_token
    client.post(f"/p/{created.edit_token}/links/view/rotate")

    for path in (f"/p/{old_view}/", f"/p/{old_view}/poll", f"/p/{old_view}/inventory/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "This link was replaced" not in response.content.decode()
    assert client.post(f"/p/{old_view}/actor", {"actor": "Ana"}).status_code == 404
    # Where a read-only link belongs, it is still told apart from a mistyped one.
    assert client.get(f"/v/{old_view}/").status_code == 410
    assert client.get(f"/api/v1/plans/{old_view}").status_code == 410


def test_a_replaced_edit_link_still_says_it_was_replaced(client):
    created = create_plan()
    client.post(f"/p/{created.edit_token}/links/edit/rotate")

    response = client.get(f"/p/{created.edit_token}/")

    assert response.status_code == 410
    assert "This link was replaced" in response.content.decode()
