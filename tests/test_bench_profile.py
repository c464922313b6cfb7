"""The profiler's breakdown bills each interval of wall-clock time to the causes on the stack
while it ran: own time to the innermost, inclusive time to every cause on the stack."""

from __future__ import annotations

import pytest

from bench import profile_paths
from bench.profile_paths import SQL, Attribution


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(profile_paths.time, "perf_counter", fake)
    return fake


def test_the_breakdown_bills_own_time_to_the_innermost_cause(clock: Clock) -> None:
    attribution = Attribution()
    clock.now = 1.0  # 1 s of the rest
    attribution.enter("session save")
    clock.now = 1.5  # 0.5 s in the session save itself
    attribution.enter(SQL)
    clock.now = 3.5  # 2 s of SQL under the session save
    attribution.leave()
    clock.now = 4.0  # 0.5 s more in the session save
    attribution.leave()
    attribution.bill()

    assert attribution.exclusive() == {Attribution.OTHER: 1.0, "session save": 1.0, SQL: 2.0}
    assert attribution.total() == 4.0


def test_the_breakdown_says_how_much_of_a_cause_was_sql(clock: Clock) -> None:
    attribution = Attribution()
    attribution.enter("template")
    clock.now = 1.0
    attribution.enter(SQL)
    clock.now = 4.0
    attribution.leave()
    attribution.leave()
    attribution.enter(SQL)
    clock.now = 6.0
    attribution.leave()

    inclusive = attribution.inclusive()

    assert inclusive["template"] == (4.0, 3.0)
    assert inclusive[SQL] == (5.0, 5.0)
    assert Attribution.OTHER not in inclusive


def test_a_reset_forgets_what_was_billed_before(clock: Clock) -> None:
    attribution = Attribution()
    attribution.enter("warm-up")
    clock.now = 10.0
    attribution.leave()
    attribution.queries = 7
    attribution.reset()
    clock.now = 11.0
    attribution.bill()

    assert attribution.exclusive() == {Attribution.OTHER: 1.0}
    assert attribution.queries == 0
