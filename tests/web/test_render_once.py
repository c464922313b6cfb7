"""Polls of a new version that arrive while the first of them renders it wait for what it
stores instead of rendering it again (page_cache.shared)."""

import threading
from typing import Any

import pytest
from django.core.cache import cache

from upgrade_planner.web import page_cache

CLAIM = page_cache.CLAIM_SUFFIX


@pytest.fixture(autouse=True)
def local_memory_cache(settings):  # type: ignore[no-untyped-def]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


@pytest.fixture
def waiters(monkeypatch):  # type: ignore[no-untyped-def]
    """Counts the callers that began waiting for another's render; `all_in(n)` waits (up to
    5 s) until n have."""
    arrived: list[int] = []
    changed = threading.Condition()
    wait_for = page_cache._wait_for

    def counting(*args: Any) -> Any:
        with changed:
            arrived.append(1)
            changed.notify_all()
        return wait_for(*args)

    monkeypatch.setattr(page_cache, "_wait_for", counting)

    class Waiters:
        def all_in(self, n: int) -> bool:
            with changed:
                return changed.wait_for(lambda: len(arrived) >= n, timeout=5)

    return Waiters()


class Held:
    """A computation that holds until released, counting its runs."""

    def __init__(self, value: dict[str, Any], keep: bool) -> None:
        self.value, self.keep = value, keep
        self.runs = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> tuple[dict[str, Any], bool]:
        self.runs += 1
        self.entered.set()
        self.release.wait(timeout=5)
        return self.value, self.keep


def start(call: Any, results: list[Any]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(call()))
    thread.start()
    return thread


def test_callers_at_the_same_time_compute_once_and_all_get_it(waiters):
    held = Held({"checklist": "<li>"}, keep=True)
    results: list[Any] = []

    def call() -> Any:
        return page_cache.shared("plan-sections:x", held, kind=dict)

    threads = [start(call, results)]
    assert held.entered.wait(timeout=5)
    threads += [start(call, results) for _ in range(4)]
    assert waiters.all_in(4)  # each of the others waits for the first one's render
    held.release.set()
    for thread in threads:
        thread.join(timeout=10)

    assert held.runs == 1
    assert results == [{"checklist": "<li>"}] * 5
    assert cache.get("plan-sections:x" + CLAIM) is None


def test_waiting_callers_compute_themselves_when_nothing_may_be_kept(waiters):
    held = Held({"checklist": "<li>"}, keep=False)  # e.g. the plan moved on meanwhile
    results: list[Any] = []

    def call() -> Any:
        return page_cache.shared("plan-sections:y", held, kind=dict)

    first = start(call, results)
    assert held.entered.wait(timeout=5)
    second = start(call, results)
    assert waiters.all_in(1)
    held.release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert held.runs == 2 and len(results) == 2
    assert cache.get("plan-sections:y") is None


def test_a_failed_computation_lets_go_of_the_claim():
    def compute() -> tuple[dict[str, str], bool]:
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        page_cache.shared("plan-sections:z", compute, kind=dict)

    assert cache.get("plan-sections:z" + CLAIM) is None
    kept = page_cache.shared("plan-sections:z", lambda: ({"ok": "1"}, True), kind=dict)
    assert kept == {"ok": "1"} and cache.get("plan-sections:z") == {"ok": "1"}
