"""The timed runbook's forecast: when the remaining work ends, and which chain of steps holds it.

Pure: frozen dataclasses in and out, no Django. The plans layer turns step rows into `Task`s
and shows the `Forecast`.

What the forecast assumes
- Time is counted in minutes from `now`. Work not yet started starts no earlier than `now`;
  while no step has started or finished, no earlier than the window's start either (the team
  begins when the window opens).
- A finished step (done or skipped) takes no more time and holds nothing back.
- A step in progress ends at its `started_at` plus its estimate; once that is past it is
  running late, and we assume it ends at `now` (any moment): while it stays open, each
  recomputation moves its end, and everything after it, forward with the clock.
- A failed step is done again in full, like a step not yet started (the caller passes it
  without `started_at`).
- A step that needs a person holds one of the `people` who can work at once from its start to
  its end; a step that needs none (a Hydra deployment upgrading many machines in parallel)
  starts as soon as its prerequisites have finished. Steps already running hold their
  person even if more are running than `people`.
- People take the waiting steps greedily (list scheduling): whenever one is free, they take
  the ready step with the longest chain of work after it, ties in plan order. This is not an
  optimal schedule, only a reasonable one; and like every list schedule it has Graham's
  anomalies: with a limited number of people, lengthening one estimate can, rarely, shorten
  the forecast, because the people then take the steps in another order. With a person for
  every step (or one person and only steps that need one) a longer estimate never shortens it.

The critical path is the chain of dependencies that ends at the unfinished step ending last:
from it, back through its unfinished prerequisite that ends last, until a step none of whose
prerequisites is still unfinished. Without a limit on people that is the exact critical path.
With one it is an approximation: a step may have waited for a free person rather than for a
prerequisite, and such a wait lies on no chain of dependencies, so the path names the
dependencies that lead to the end but not every cause of delay.

Cost: O(n log n + e) for n steps and e dependencies: a topological pass for the chains of work
after each step, then one pass over the steps in time order with two heaps. For a
5,000-Tentacle plan (about 10,000 steps and 20,000 dependencies) that is tens of milliseconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class ScheduleError(ValueError):
    """The tasks do not form a graph that can be scheduled (an unknown id, or a cycle)."""


@dataclass(frozen=True)
class Task:
    id: str
    estimate_minutes: float
    depends_on: tuple[str, ...] = ()
    needs_person: bool = True
    finished: bool = False  # done or skipped
    started_at: datetime | None = None  # set while in progress (and kept when done)
    finished_at: datetime | None = None  # when it was done or skipped


@dataclass(frozen=True)
class Window:
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Timing:
    """When an unfinished step is expected to run, in minutes after `now`."""

    start: float
    end: float


@dataclass(frozen=True)
class Forecast:
    now: datetime
    # None while it has no anchor: no window start and no step started or finished.
    end: datetime | None
    critical_path: tuple[str, ...]  # task ids, first to last
    fits_window: bool | None  # None without a window end or a forecast end
    slack_minutes: int | None  # window end minus forecast end; negative when it overruns
    remaining_minutes: float  # from now (or the window's start) to the end of the work
    timings: Mapping[str, Timing]  # every unfinished task

    def at(self, minutes: float) -> datetime:
        return self.now + timedelta(minutes=minutes)


def _minutes(moment: datetime, now: datetime) -> float:
    return (moment - now).total_seconds() / 60


def _topological(tasks: Sequence[Task], index: Mapping[str, int]) -> list[int]:
    waiting = [0] * len(tasks)
    dependents: list[list[int]] = [[] for _ in tasks]
    for i, task in enumerate(tasks):
        for dep in task.depends_on:
            j = index.get(dep)
            if j is None:
                raise ScheduleError(f"{task.id} depends on an unknown step {dep}")
            dependents[j].append(i)
            waiting[i] += 1
    order = [i for i, count in enumerate(waiting) if count == 0]
    for i in order:  # grows while it is read: Kahn's algorithm in one list
        for j in dependents[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                order.append(j)
    if len(order) != len(tasks):
        raise ScheduleError("the step dependencies contain a cycle")
    return order


def forecast(
    tasks: Sequence[Task], *, now: datetime, people: int, window: Window = Window()
) -> Forecast:
    """Forecast the end of `tasks` (in plan order) with `people` working at once."""
    if people < 1:
        raise ScheduleError("at least one person must be able to work")
    index = {task.id: i for i, task in enumerate(tasks)}
    if len(index) != len(tasks):
        raise ScheduleError("two steps have the same id")
    order = _topological(tasks, index)
    count = len(tasks)
    anchored = window.start is not None or any(
        task.started_at is not None or task.finished for task in tasks
    )
    began = any(task.started_at is not None or task.finished for task in tasks)
    origin = 0.0
    if not began and window.start is not None:
        origin = max(0.0, _minutes(window.start, now))

    # What is left of each unfinished task, and which of them are running.
    open_ = [not task.finished for task in tasks]
    running = [open_[i] and task.started_at is not None for i, task in enumerate(tasks)]
    began_at = [0.0] * count  # minutes after now (negative: in the past) for running tasks
    left = [0.0] * count
    for i, task in enumerate(tasks):
        if not open_[i]:
            continue
        estimate = max(0.0, float(task.estimate_minutes))
        if task.started_at is not None:
            began_at[i] = _minutes(task.started_at, now)
            left[i] = max(began_at[i] + estimate, 0.0)  # its end; at least now
        else:
            left[i] = estimate

    # The chain of unfinished work after each task, itself included: who goes first.
    dependents: list[list[int]] = [[] for _ in tasks]
    unfinished_deps = [0] * count
    for i, task in enumerate(tasks):
        for dep in task.depends_on:
            j = index[dep]
            if open_[j]:
                dependents[j].append(i)
                if open_[i]:
                    unfinished_deps[i] += 1
    tail = [0.0] * count
    for i in reversed(order):
        if open_[i]:
            tail[i] = left[i] + max((tail[j] for j in dependents[i] if open_[j]), default=0.0)

    start = [0.0] * count
    end = [0.0] * count
    events: list[tuple[float, int]] = []  # (end, task)
    waiting: list[tuple[float, int]] = []  # (-tail, task): ready, needs a person
    busy = 0

    def begin(i: int, at: float) -> None:
        start[i], end[i] = at, at + left[i]
        heapq.heappush(events, (end[i], i))

    for i in range(count):
        if not open_[i]:
            continue
        if running[i]:
            start[i], end[i] = began_at[i], left[i]
            heapq.heappush(events, (end[i], i))
            busy += tasks[i].needs_person
        elif unfinished_deps[i] == 0:
            if tasks[i].needs_person:
                heapq.heappush(waiting, (-tail[i], i))
            else:
                begin(i, origin)

    clock = origin
    while True:
        while waiting and busy < people:
            i = heapq.heappop(waiting)[1]
            begin(i, clock)
            busy += 1
        if not events:
            break
        clock = max(clock, events[0][0])
        while events and events[0][0] <= clock:
            i = heapq.heappop(events)[1]
            busy -= tasks[i].needs_person
            for j in dependents[i]:
                if not open_[j] or running[j]:
                    continue
                unfinished_deps[j] -= 1
                if unfinished_deps[j] == 0:
                    if tasks[j].needs_person:
                        heapq.heappush(waiting, (-tail[j], j))
                    else:
                        begin(j, clock)

    timings = {tasks[i].id: Timing(start[i], end[i]) for i in range(count) if open_[i]}
    last = max((end[i] for i in range(count) if open_[i]), default=None)
    forecast_end: datetime | None
    if last is not None:
        forecast_end = now + timedelta(minutes=last) if anchored else None
    else:
        known = [task.finished_at for task in tasks if task.finished_at is not None]
        forecast_end = max(known) if known else None

    path: list[int] = []
    if last is not None:
        # Ties go to the later step in plan order: the last step is the one the plan ends on.
        current: int | None = max((i for i in range(count) if open_[i]), key=lambda i: (end[i], i))
        while current is not None:
            path.append(current)
            prerequisites = [index[dep] for dep in tasks[current].depends_on]
            current = max(
                (j for j in prerequisites if open_[j]),
                key=lambda j: (end[j], j),
                default=None,
            )
    path.reverse()

    fits: bool | None = None
    slack: int | None = None
    if window.end is not None and forecast_end is not None:
        fits = forecast_end <= window.end
        slack = int((window.end - forecast_end).total_seconds() // 60)
    return Forecast(
        now=now,
        end=forecast_end,
        critical_path=tuple(tasks[i].id for i in path),
        fits_window=fits,
        slack_minutes=slack,
        remaining_minutes=max(0.0, (last or 0.0) - origin) if last is not None else 0.0,
        timings=timings,
    )


def times_after(
    action: str, *, started_at: datetime | None, finished_at: datetime | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """A step's (started_at, finished_at) after a lifecycle action taken at `now`: what the
    forecast and a rehearsal's measurements read. Starting begins the clock; completing or
    skipping stops it (a step completed without being started has no measured duration);
    reopening forgets both, the work being to do again; failing leaves it unfinished."""
    if action == "start":
        return now, None
    if action in ("complete", "skip"):
        return started_at, now
    if action == "reopen":
        return None, None
    if action == "fail":
        return started_at, None
    return started_at, finished_at


def duration_words(minutes: float) -> str:
    """“3 h 20 min”, “45 min”, “2 days 4 h”: a duration as the page and the exports say it."""
    minutes = abs(round(minutes))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if mins and not days:
        parts.append(f"{mins} min")
    return " ".join(parts) or "0 min"
