"""The timed runbook's scheduler (domain/schedule.py) on hand-made graphs, and its properties."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upgrade_planner.domain.schedule import (
    ScheduleError,
    Task,
    Window,
    forecast,
    times_after,
)

NOW = datetime(2026, 5, 2, 20, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_a_chain_ends_after_the_sum_of_its_estimates_and_is_its_own_critical_path():
    chain = [Task("a", 10), Task("b", 20, ("a",)), Task("c", 30, ("b",))]

    result = forecast(chain, now=NOW, people=2, window=Window(NOW, NOW + minutes(90)))

    assert result.end == NOW + minutes(60)
    assert result.critical_path == ("a", "b", "c")
    assert result.fits_window is True
    assert result.slack_minutes == 30


def test_a_fork_and_join_runs_both_branches_at_once_with_two_people():
    graph = [Task("a", 10), Task("b", 20, ("a",)), Task("c", 30, ("a",)), Task("d", 5, ("b", "c"))]

    result = forecast(graph, now=NOW, people=2, window=Window(NOW))

    assert result.end == NOW + minutes(45)
    assert result.critical_path == ("a", "c", "d")
    assert result.timings["b"].start == result.timings["c"].start == 10


def test_one_person_does_the_branches_one_after_the_other_longest_chain_first():
    graph = [Task("a", 10), Task("b", 20, ("a",)), Task("c", 30, ("a",)), Task("d", 5, ("b", "c"))]

    result = forecast(graph, now=NOW, people=1, window=Window(NOW))

    assert result.end == NOW + minutes(65)
    assert result.timings["c"].start == 10 and result.timings["b"].start == 40
    # The chain of dependencies to the last step: the resource-limited path approximation.
    assert result.critical_path == ("a", "b", "d")


def test_a_thousand_hand_upgrades_with_two_people_take_five_hundred_turns():
    fleet = [f"m{i}" for i in range(1000)]
    graph = [
        Task("prepare", 30),
        *(Task(name, 20, ("prepare",)) for name in fleet),
        Task("verify", 15, tuple(fleet)),
    ]

    result = forecast(graph, now=NOW, people=2, window=Window(NOW))

    assert result.end == NOW + minutes(30 + 500 * 20 + 15)
    assert result.critical_path[0] == "prepare" and result.critical_path[-1] == "verify"
    assert len(result.critical_path) == 3


def test_a_hydra_rollout_upgrades_every_machine_at_once_without_taking_people():
    fleet = [f"m{i}" for i in range(1000)]
    graph = [
        Task("hydra-prepare", 30),
        *(Task(name, 5, ("hydra-prepare",), needs_person=False) for name in fleet),
        Task("verify", 15, tuple(fleet)),
    ]

    result = forecast(graph, now=NOW, people=2, window=Window(NOW))

    assert result.end == NOW + minutes(30 + 5 + 15)


def test_finished_steps_take_no_more_time():
    chain = [
        Task("a", 60, finished=True, finished_at=NOW - minutes(5)),
        Task("b", 20, ("a",)),
    ]

    result = forecast(chain, now=NOW, people=2)

    assert result.end == NOW + minutes(20)
    assert result.critical_path == ("b",)


def test_a_step_running_late_ends_now_at_the_earliest_and_pushes_what_follows():
    chain = [Task("a", 30, started_at=NOW - minutes(50)), Task("b", 20, ("a",))]

    result = forecast(chain, now=NOW, people=2)

    assert result.timings["a"].end == 0
    assert result.end == NOW + minutes(20)


def test_a_step_running_on_time_ends_at_its_start_plus_its_estimate():
    chain = [Task("a", 30, started_at=NOW - minutes(10)), Task("b", 20, ("a",))]

    result = forecast(chain, now=NOW, people=2)

    assert result.end == NOW + minutes(40)


def test_running_steps_hold_their_people():
    graph = [
        Task("a", 30, started_at=NOW - minutes(10)),
        Task("b", 30, started_at=NOW - minutes(10)),
        Task("c", 10),
    ]

    result = forecast(graph, now=NOW, people=2)

    assert result.timings["c"].start == 20


def test_work_waits_for_the_window_to_open_until_someone_starts():
    graph = [Task("a", 30)]
    window = Window(NOW + minutes(120), NOW + minutes(180))

    waiting = forecast(graph, now=NOW, people=1, window=window)
    started = forecast([Task("a", 30, started_at=NOW)], now=NOW, people=1, window=window)

    assert waiting.end == NOW + minutes(150) and waiting.fits_window is True
    assert started.end == NOW + minutes(30)


def test_without_a_window_start_or_a_started_step_there_is_no_forecast_end():
    result = forecast([Task("a", 30)], now=NOW, people=1)

    assert result.end is None
    assert result.fits_window is None
    assert result.critical_path == ("a",)


def test_a_plan_that_overruns_its_window_says_so_with_negative_slack():
    result = forecast([Task("a", 90)], now=NOW, people=1, window=Window(NOW, NOW + minutes(60)))

    assert result.fits_window is False
    assert result.slack_minutes == -30


def test_a_finished_plan_ends_when_its_last_step_finished():
    done = [
        Task("a", 10, finished=True, finished_at=NOW - minutes(30)),
        Task("b", 10, ("a",), finished=True, finished_at=NOW - minutes(5)),
    ]

    result = forecast(done, now=NOW, people=1)

    assert result.end == NOW - minutes(5)
    assert result.critical_path == ()


def test_a_cycle_or_an_unknown_prerequisite_is_refused():
    with pytest.raises(ScheduleError):
        forecast([Task("a", 1, ("b",)), Task("b", 1, ("a",))], now=NOW, people=1)
    with pytest.raises(ScheduleError):
        forecast([Task("a", 1, ("ghost",))], now=NOW, people=1)
    with pytest.raises(ScheduleError):
        forecast([Task("a", 1)], now=NOW, people=0)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("start", (NOW, None)),
        ("complete", (NOW - minutes(30), NOW)),
        ("skip", (NOW - minutes(30), NOW)),
        ("reopen", (None, None)),
        ("fail", (NOW - minutes(30), None)),
    ],
)
def test_each_action_sets_the_times_the_forecast_reads(action, expected):
    assert times_after(action, started_at=NOW - minutes(30), finished_at=None, now=NOW) == expected


# --- Properties -------------------------------------------------------------------------------


@st.composite
def graphs(draw: st.DrawFn, *, running: bool = True) -> list[Task]:
    """A random DAG in plan order: each task may depend on earlier ones; some finished, some
    running (started up to 2 hours ago), some needing no person."""
    count = draw(st.integers(1, 25))
    tasks: list[Task] = []
    for i in range(count):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        state = draw(
            st.sampled_from(["open", "open", "finished", "running"] if running else ["open"])
        )
        finished = state == "finished" and all(tasks[d].finished for d in deps)
        started = (
            NOW - minutes(draw(st.integers(0, 120)))
            if state == "running" and all(tasks[d].finished for d in deps)
            else None
        )
        tasks.append(
            Task(
                f"t{i}",
                draw(st.integers(0, 120)),
                tuple(f"t{d}" for d in sorted(deps)),
                needs_person=draw(st.booleans()),
                finished=finished,
                started_at=started,
                finished_at=NOW - minutes(1) if finished else None,
            )
        )
    return tasks


def earliest_ends(tasks: list[Task]) -> dict[str, float]:
    """Each unfinished task's earliest possible end, ignoring people: its longest chain."""
    ends: dict[str, float] = {}
    for task in tasks:
        if task.finished:
            continue
        if task.started_at is not None:
            ends[task.id] = max(
                0.0, (task.started_at - NOW).total_seconds() / 60 + task.estimate_minutes
            )
            continue
        ready = max((ends.get(dep, 0.0) for dep in task.depends_on), default=0.0)
        ends[task.id] = ready + task.estimate_minutes
    return ends


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(1, 4))
def test_the_forecast_never_ends_before_now_or_any_step_s_earliest_possible_end(tasks, people):
    result = forecast(tasks, now=NOW, people=people, window=Window(NOW))

    earliest = earliest_ends(tasks)
    if earliest:
        assert result.end is not None and result.end >= NOW
        for end in earliest.values():
            assert result.end >= NOW + minutes(end) - timedelta(microseconds=1)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(1, 4))
def test_the_critical_path_is_a_chain_of_dependencies_ending_at_the_last_step(tasks, people):
    result = forecast(tasks, now=NOW, people=people, window=Window(NOW))

    path = result.critical_path
    by_id = {task.id: task for task in tasks}
    for before, after in itertools.pairwise(path):
        assert before in by_id[after].depends_on
    if result.timings:
        last = max(timing.end for timing in result.timings.values())
        assert result.timings[path[-1]].end == last
    else:
        assert path == ()


@settings(max_examples=200, deadline=None)
@given(graphs(running=False), st.data())
def test_adding_work_never_makes_the_forecast_earlier_with_a_person_for_every_step(tasks, data):
    index = data.draw(st.integers(0, len(tasks) - 1))
    extra = data.draw(st.integers(1, 240))
    longer = list(tasks)
    longer[index] = Task(
        tasks[index].id,
        tasks[index].estimate_minutes + extra,
        tasks[index].depends_on,
        needs_person=tasks[index].needs_person,
    )
    people = len(tasks)

    before = forecast(tasks, now=NOW, people=people, window=Window(NOW))
    after = forecast(longer, now=NOW, people=people, window=Window(NOW))

    assert before.end is not None and after.end is not None
    assert after.end >= before.end
