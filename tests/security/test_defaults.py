"""Secure by default: production settings need no security switch, and edit pages (/p/) do not
know a read-only token."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from bench.harness import bench_env
from tests.factories import create_plan
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Activity, Plan, PlanLink, Step

ROOT = Path(__file__).resolve().parent.parent.parent
HTTPS_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
)


def run_django(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`args` run by a fresh Python in the checkout, with `env` as its whole environment (and a
    PATH); nothing of this test process's configuration leaks in."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def https_settings(env: dict[str, str]) -> dict[str, object]:
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {HTTPS_SETTINGS!r}}}))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "upgrade_planner.settings", **env}
    result = run_django(["-c", script], env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def production(**more: str) -> dict[str, str]:
    """The three variables a production setup must set, and `more`."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "planner.example.com",
        **more,
    }


HTTPS_ON = {
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 60 * 60 * 24 * 365,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
}
HTTPS_OFF = {
    "SECURE_SSL_REDIRECT": False,
    "SESSION_COOKIE_SECURE": False,
    "CSRF_COOKIE_SECURE": False,
    "SECURE_HSTS_SECONDS": 0,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
    "SECURE_HSTS_PRELOAD": False,
}


# --- HTTPS settings -------------------------------------------------------------------------


def test_the_deploy_check_is_clean_with_only_debug_off_a_secret_key_and_allowed_hosts():
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_debug_the_https_settings_are_on_unless_turned_off():
    assert https_settings(production()) == HTTPS_ON
    assert https_settings(production(SECURE_HTTPS="1")) == HTTPS_ON
    assert https_settings(production(SECURE_HTTPS="0")) == HTTPS_OFF


def test_a_debug_run_serves_plain_http_unless_asked_for_https():
    """`make run` sets DEBUG=1 and serves http://127.0.0.1:8000/."""
    key = secrets.token_urlsafe(64)
    assert https_settings({"DEBUG": "1", "SECRET_KEY": key}) == HTTPS_OFF
    assert https_settings({"DEBUG": "1", "SECRET_KEY": key, "SECURE_HTTPS": "1"}) == HTTPS_ON


def test_the_benchmark_serves_plain_http_with_production_settings():
    """bench/run.py and bench/drill.py start gunicorn over plain HTTP on loopback."""
    env = bench_env("sqlite:///unused.sqlite3", "")
    app_env = {name: env[name] for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SECURE_HTTPS")}

    settings = https_settings({**app_env, "DJANGO_SETTINGS_MODULE": env["DJANGO_SETTINGS_MODULE"]})

    assert app_env["DEBUG"] == "0"
    assert settings == HTTPS_OFF


# --- Read-only tokens on edit routes --------------------------------------------------------


def edit_routes(resolver=None, prefix=""):
    """Every URL pattern under /p/, so that a route added later is checked too."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from edit_routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("p/"):
            yield prefix + str(entry.pattern)


def concrete(pattern, *, token, step, fetch_id):
    return "/" + (
        pattern.replace("<str:token>", token)
        .replace("<uuid:step_id>", str(step.id))
        .replace("<uuid:fetch_id>", str(fetch_id))
        .replace("<str:kind>", "view")
        .replace("<str:action>", "complete")
    )


def snapshot(plan):
    plan.refresh_from_db()
    return (
        plan.version,
        plan.approach,
        sorted(Step.objects.filter(plan=plan).values_list("id", "state", "retired")),
        Activity.objects.filter(plan=plan).count(),
        sorted(PlanLink.objects.filter(plan=plan).values_list("token_hash", "replaced_at")),
    )


def without_per_request_values(body: bytes) -> str:
    """`body` without its CSRF token and script nonce, which differ on every response."""
    return re.sub(r'("X-CSRFToken": |nonce=)"[^"]*"', "", body.decode())


@pytest.mark.django_db
def test_every_edit_route_answers_a_read_only_token_as_an_unknown_link(client, settings):
    settings.UNKNOWN_TOKEN_LIMIT_PER_MINUTE = 0  # the unknown token below is asked many times
    created = create_plan()
    step = Step.objects.filter(plan=created.plan, state=StepState.READY).first()
    fetch_id = "00000000-0000-4000-8000-000000000000"
    routes = sorted(edit_routes())
    assert "p/<str:token>/" in routes and "p/<str:token>/actor" in routes
    before = snapshot(created.plan)
    unknown_token = secrets.token_urlsafe(32)

    for pattern in routes:
        url = concrete(pattern, token=created.view_token, step=step, fetch_id=fetch_id)
        unknown = concrete(pattern, token=unknown_token, step=step, fetch_id=fetch_id)
        for method in ("get", "post"):
            answer = getattr(client, method)(url, {"actor": "Mallory", "evidence": "x"})
            expected = getattr(client, method)(unknown, {"actor": "Mallory", "evidence": "x"})
            if expected.status_code == 405:  # this route takes the other method
                assert answer.status_code == 405, (method, url)
                continue
            assert expected.status_code == 404, (method, unknown)
            assert answer.status_code == 404, (method, url)
            assert without_per_request_values(answer.content) == without_per_request_values(
                expected.content
            )

    assert snapshot(created.plan) == before
    assert "Mallory" not in json.dumps(dict(client.session), default=str)
    assert created.view_token not in json.dumps(dict(client.session), default=str)
    # The read-only link itself still opens the plan, and the edit link still edits.
    assert client.get(f"/v/{created.view_token}/").status_code == 200
    assert client.get(f"/p/{created.edit_token}/").status_code == 200


@pytest.mark.django_db
def test_an_open_edit_page_of_a_read_only_token_polls_into_a_404(client):
    created = create_plan()
    version = Plan.objects.get(pk=created.plan.pk).version
    # A viewer's poll puts the version in the cache that unchanged polls answer from.
    assert client.get(f"/v/{created.view_token}/poll?v={version}").status_code == 304

    unchanged = [client.get(f"/p/{created.view_token}/poll?v={version}") for _ in range(2)]
    changed = client.get(f"/p/{created.view_token}/poll?v={version - 1}")

    assert [answer.status_code for answer in unchanged] == [404, 404]
    assert changed.status_code == 404 and b"poller" not in changed.content
    assert client.get(f"/p/{created.edit_token}/poll?v={version}").status_code == 304


@pytest.mark.django_db
def test_a_read_only_token_on_an_edit_route_is_not_counted_as_a_guess(client, settings):
    settings.UNKNOWN_TOKEN_LIMIT_PER_MINUTE = 3
    created = create_plan()

    misses = [client.get(f"/p/{created.view_token}/").status_code for _ in range(5)]
    misses += [client.get(f"/p/{created.view_token}/poll?v=0").status_code for _ in range(5)]
    misses += [client.post(f"/p/{created.view_token}/actor").status_code for _ in range(5)]

    assert misses == [404] * 15
    # Nothing was counted: the address may still look up links, even unknown ones.
    assert client.get(f"/v/{created.view_token}/").status_code == 200
    assert Client().get(f"/p/{secrets.token_urlsafe(32)}/").status_code == 404
