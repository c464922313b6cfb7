"""The admin: signing out ends the session for every copy of its cookie, sign-ins are throttled
per address and per user name, and no page shows a ciphertext, a seed or a token."""

from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from tests.web.test_admin import admin_url, assert_no_secret_in, one_of, plan_with_everything
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans.models import InventoryFetch

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 17"
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    # Signing in with a password hashes it; the test suite need not pay for a strong hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff() -> Any:
    users = get_user_model().objects
    users.create_superuser("ana", "ana@example.com", PASSWORD)
    return users.create_superuser("ben", "ben@example.com", PASSWORD)


def sign_in(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def signed_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


# --- Signing out -------------------------------------------------------------------------


def test_a_copied_session_cookie_stops_working_once_its_owner_signs_out(staff):
    browser = Client()
    assert sign_in(browser, "ana").status_code == 302
    stolen = browser.cookies[settings.SESSION_COOKIE_NAME].value
    copy = Client()
    copy.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert signed_in(copy)

    assert browser.post("/admin/logout/").status_code == 200

    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert not signed_in(replay)
    assert replay.get("/admin/")["Location"].startswith(LOGIN)


def test_a_secret_key_rotation_keeps_staff_signed_in(staff, settings):
    browser = Client()
    sign_in(browser, "ana")
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY = "a-new-secret-key-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    cache.clear()  # the session as stored in the database, signed with the old key

    assert signed_in(browser)


# --- Throttling sign-ins -----------------------------------------------------------------


def failures(client: Client, username: str, count: int) -> list[int]:
    return [sign_in(client, username, f"wrong-{n}").status_code for n in range(count)]


def test_after_five_failures_from_an_address_even_the_right_password_waits(staff):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    assert failures(attacker, "ana", 5) == [200] * 5

    refused = sign_in(attacker, "ana")

    assert refused.status_code == 200
    assert (
        "Too many failed sign-ins from your address or for this user name: try again in 15 minutes."
        in refused.content.decode()
    )
    assert not signed_in(attacker)
    # Any other name from that address waits too.
    assert "Too many failed sign-ins" in sign_in(attacker, "ben").content.decode()


def test_other_people_sign_in_while_one_address_is_throttled(staff):
    failures(Client(REMOTE_ADDR="203.0.113.9"), "someone", 5)
    colleague = Client(REMOTE_ADDR="198.51.100.7")

    assert sign_in(colleague, "ben").status_code == 302
    assert signed_in(colleague)


def test_guessing_one_name_from_many_addresses_is_throttled_too(staff):
    for n in range(5):
        sign_in(Client(REMOTE_ADDR=f"192.0.2.{n}"), "Ana", "wrong")

    refused = sign_in(Client(REMOTE_ADDR="192.0.2.99"), "ana")

    assert "Too many failed sign-ins" in refused.content.decode()


def test_signing_in_forgets_the_names_earlier_failures(staff):
    office = Client(REMOTE_ADDR="198.51.100.7")
    failures(office, "ana", 3)
    assert sign_in(office, "ana").status_code == 302
    office.post("/admin/logout/")

    # Three more mistakes for the name, from elsewhere: the name is not yet at five.
    failures(Client(REMOTE_ADDR="198.51.100.8"), "ana", 3)

    assert sign_in(Client(REMOTE_ADDR="198.51.100.9"), "ana").status_code == 302


def test_the_limit_follows_the_settings(staff, settings):
    settings.ADMIN_LOGIN_FAILURE_LIMIT = 2
    settings.ADMIN_LOGIN_WINDOW_MINUTES = 1
    client = Client(REMOTE_ADDR="203.0.113.9")
    failures(client, "ana", 2)

    assert "try again in 1 minute." in sign_in(client, "ana").content.decode()


# --- No secret on any page ---------------------------------------------------------------


def our_models() -> list[type[Model]]:
    return [
        model
        for model in admin.site._registry
        if model._meta.app_label in {"installations", "plans"}
    ]


@pytest.fixture
def superuser_client(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client.force_login(user)
    return client


def test_no_list_change_history_or_delete_page_shows_a_secret(superuser_client):
    everything = plan_with_everything(superuser_client)
    fetch = InventoryFetch.objects.get(plan=everything.plan)
    assert fetch.encrypted_api_key  # the fetch is waiting: its key is stored encrypted
    secrets = [*everything.secrets, fetch.encrypted_api_key]
    installation = Installation.objects.get(pk=everything.plan.installation_id)

    pages = ["/admin/", "/admin/installations/", "/admin/plans/"]
    for model in our_models():
        row = one_of(model, everything.plan)
        pages += [
            admin_url(model, "changelist"),
            admin_url(model, "change", row.pk),
            admin_url(model, "history", row.pk),
        ]
    # Deleting an installation lists everything that goes with it, links and fetches included.
    pages.append(admin_url(Installation, "delete", installation.pk))

    for page in pages:
        response = superuser_client.get(page)
        assert response.status_code == 200, page
        assert_no_secret_in(response.content.decode(), secrets)
    assert reverse("admin:installations_installation_delete", args=[installation.pk]) in pages
