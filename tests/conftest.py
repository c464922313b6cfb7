"""Test harness: service and browser markers, Playwright fixtures.

Tests marked `services` need PostgreSQL (DATABASE_URL), Redis (REDIS_URL) and may start a
live Celery worker; tests marked `browser`
drive Debian's headless Chromium. Both are skipped when their dependency is missing, unless
REQUIRE_SERVICES=1 / REQUIRE_BROWSER=1 (set by CI), which turn the skip into a failure.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Shared machines are noisy: no per-example deadline; CI runs derandomised so a red run
# can be reproduced.
settings.register_profile("default", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by
# live_server fixtures are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings as django_settings

    # Tests never run collectstatic; the manifest storage would refuse unhashed names.
    django_settings.STORAGES = {
        **django_settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # The test client and live_server speak plain HTTP: tests run as a plain-HTTP setup
    # (SECURE_HTTPS=0) does, whatever DEBUG says. tests/security/test_defaults.py checks the
    # production defaults in a process of their own.
    django_settings.SECURE_SSL_REDIRECT = False
    django_settings.SESSION_COOKIE_SECURE = False
    django_settings.CSRF_COOKIE_SECURE = False
    django_settings.SECURE_HSTS_SECONDS = 0


def _required(name: str) -> bool:
    return os.environ.get(name, "").strip() in {"1", "true", "yes"}


def services_unavailable_reason() -> str | None:
    """Why the `services` tests (PostgreSQL, Redis, a live worker) cannot run here, if so."""
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL does not point at PostgreSQL"
    return redis_unavailable_reason()


def redis_unavailable_reason() -> str | None:
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        return "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} does not answer: {exc}"
    return None


def browser_unavailable_reason() -> str | None:
    if not shutil.which("chromium"):
        return "chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    checks = [
        ("services", "REQUIRE_SERVICES", services_unavailable_reason),
        ("browser", "REQUIRE_BROWSER", browser_unavailable_reason),
    ]
    for marker, required_by, unavailable in checks:
        if item.get_closest_marker(marker) is None:
            continue
        reason = unavailable()
        if reason is None:
            continue
        if _required(required_by):
            pytest.fail(f"{required_by}=1 but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def phone_page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def screenshot():  # type: ignore[no-untyped-def]
    """Save a full-page screenshot under test-artifacts/screenshots/ (git-ignored)."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(autouse=True)
def _fresh_cache():  # type: ignore[no-untyped-def]
    """Rate-limit counters live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def eager_tasks(request):
    """Run tasks in-process unless the test is about a live worker, whatever REDIS_URL says."""
    if request.node.get_closest_marker("services"):
        yield
        return
    from kombu import pools

    from upgrade_planner.celery import app

    keys = ("task_always_eager", "broker_url")
    saved = {key: app.conf.get(key) for key in keys}
    app.conf.update(task_always_eager=True, broker_url="memory://")
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.update(saved)
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
