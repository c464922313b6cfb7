"""Test harness: service and browser markers, Playwright fixtures.

Tests marked `services` need PostgreSQL (DATABASE_URL), Redis (REDIS_URL) and may start a
live Celery worker; tests marked `browser`
drive Debian's headless Chromium. Both are skipped when their dependency is missing, unless
REQUIRE_SERVICES=1 / REQUIRE_BROWSER=1 (set by CI), which turn the skip into a failure.
"""

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole run; tests reach it through `browser`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class BrowserConsole:
    """What the pages of one test reported as wrong: errors in their console (a Content
    Security Policy violation is one) and exceptions their scripts did not catch. The test
    fails on any of them it did not announce with `expect`."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def watch(self, context: Any) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.seen.append(f"uncaught error: {error.error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.seen.append(f"console error at {message.location.get('url')}: {message.text}")

    def expect(self, pattern: str) -> None:
        """An error matching `pattern` (a regular expression) is one the test causes on
        purpose, such as the console's note on a request it expects to be refused."""
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [seen for seen in self.seen if not any(p.search(seen) for p in self.expected)]


# What static/js/app.js keeps once someone has given their name on a plan page.
NAMED_BROWSER = "try { localStorage.setItem('upgrade-planner:actor', 'Tester'); } catch (e) {}"


class WatchedBrowser:
    """The session's Chromium for one test: every context opened through it reports to the
    test's BrowserConsole, and is closed when the test ends."""

    def __init__(self, chromium: Any, console: BrowserConsole) -> None:
        self._chromium = chromium
        self._console = console
        self.contexts: list[Any] = []

    def new_context(self, *, named: bool = True, **options: Any) -> Any:
        """A browser context; `named`: its person has given their name before (kept by the
        page's script in localStorage), so the plan page does not ask for it first."""
        context = self._chromium.new_context(**options)
        if named:
            context.add_init_script(NAMED_BROWSER)
        self._console.watch(context)
        self.contexts.append(context)
        return context

    def new_page(self, **options: Any) -> Any:
        return self.new_context(**options).new_page()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chromium, name)

    def close_contexts(self) -> None:
        for context in self.contexts:
            for opened in context.pages:
                # A round trip to each page hands over the console messages it sent last.
                with contextlib.suppress(Exception):
                    opened.evaluate("0")
            context.close()


@pytest.fixture
def browser_console() -> Iterator[BrowserConsole]:
    """Fails the test on any console error or uncaught exception in its pages."""
    console = BrowserConsole()
    yield console
    unexpected = console.unexpected()
    if unexpected:
        pytest.fail("the browser reported:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def browser(chromium: Any, browser_console: BrowserConsole) -> Iterator[WatchedBrowser]:
    watched = WatchedBrowser(chromium, browser_console)
    yield watched
    watched.close_contexts()


@pytest.fixture
def page(browser: WatchedBrowser) -> Any:
    return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()


@pytest.fixture
def phone_page(browser: WatchedBrowser) -> Any:
    return browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()


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
    """Rate-limit counters live in the cache, and rendered fragments also in each process; no
    test inherits another's."""
    from django.core.cache import cache

    from upgrade_planner.web import page_cache, pages

    page_cache.write_held()  # what a test left held back is cleared with the rest
    cache.clear()
    pages.forget_process_copies()
    yield


def spy_round_trips(monkeypatch, one: str, many: str, record):  # type: ignore[no-untyped-def]
    """Call `record(keys, args, many)` for each round trip to the shared cache through its
    method `one` (a key) or `many` (keys; then `many` is True); a backend whose `many` calls
    `one` for each key still counts once. `args` are what followed the key or keys."""
    from django.core.cache import cache

    real_one, real_many = getattr(cache, one), getattr(cache, many)
    inside_many = [False]

    def spy_one(key, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not inside_many[0]:
            record([key], args, False)
        return real_one(key, *args, **kwargs)

    def spy_many(keys, *args, **kwargs):  # type: ignore[no-untyped-def]
        record(list(keys), args, True)
        inside_many[0] = True
        try:
            return real_many(keys, *args, **kwargs)
        finally:
            inside_many[0] = False

    monkeypatch.setattr(cache, one, spy_one)
    monkeypatch.setattr(cache, many, spy_many)


@pytest.fixture
def cache_reads(monkeypatch):  # type: ignore[no-untyped-def]
    """The keys of each read of the shared cache from now on, one list a round trip (`get` or
    `get_many`)."""
    reads: list[list[str]] = []
    spy_round_trips(monkeypatch, "get", "get_many", lambda keys, args, many: reads.append(keys))
    return reads


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
