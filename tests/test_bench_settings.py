"""The bench and drill scripts restate a few of the app's constants; they must agree."""

from bench import drill
from upgrade_planner.plans import access


def test_the_drill_allows_for_the_polled_version_cache_the_app_keeps():
    assert drill.POLL_VERSION_CACHED_FOR == access.POLLED_VERSION_SECONDS
