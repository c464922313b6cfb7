"""The bench and drill scripts restate a few of the app's constants; they must agree."""

from bench import drill
from upgrade_planner.plans import access


def test_the_drill_allows_for_the_polled_version_cache_the_app_keeps():
    assert drill.POLL_VERSION_CACHED_FOR == access.PLAN_VERSION_SECONDS


def test_the_bench_reports_the_share_of_cpu_the_host_stole_during_a_run():
    from bench.harness import cpu_ticks, steal_percent

    before = cpu_ticks("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n")
    after = cpu_ticks("cpu  300 0 100 1300 10 0 5 285 20 0\n")

    assert before == (1000, 35) and after == (2000, 285)
    assert steal_percent(before, after) == 25.0
    assert steal_percent(after, after) is None
    assert cpu_ticks("") == (0, 0)


def test_the_drills_beat_sends_no_periodic_reverification_while_they_run():
    """A burst of re-verification checks would queue ahead of a drill's own job."""
    from bench import drill

    assert drill.DRILL_REVERIFY_SECONDS >= 3600
