"""The mixed load of `make bench`: viewers polling read-only links plus editors moving steps.

An open-loop schedule in one asyncio event loop: every viewer polls `/v/<token>/poll?v=<the
version it last saw>` every `interval` seconds (as the page does with htmx), and follows the
version a changed answer (200) carries, so it sees each change once; every editor sends one
step transition per second on its own plan (start → complete → reopen). A slow answer delays
only its own viewer or editor, never the schedule of the others.

Each request opens its own connection (gunicorn's sync workers close it after every answer
anyway). At ~110 requests/s the load generator takes about 9 % of one core (measured with
getrusage while driving the minimal view).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bench.harness import HOST, STATE_POSITION, TRANSITION_CYCLE

REQUEST_TIMEOUT = 10.0
VERSION = re.compile(rb'data-version="(\d+)"')


@dataclass
class Viewed:
    view_token: str
    version: int


@dataclass
class Editor:
    edit_token: str
    step_id: str
    position: int = 0  # 0 start, 1 complete, 2 reopen


@dataclass
class Outcome:
    kind: str
    status: int  # 0: no answer
    seconds: float
    error: bool


@dataclass
class MixedResult:
    outcomes: list[Outcome] = field(default_factory=list)
    late: int = 0  # requests sent late because the same viewer's or editor's last one was slow
    seconds: float = 0.0

    def summary(self) -> dict[str, dict[str, Any]]:
        kinds: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes:
            kinds.setdefault(outcome.kind, []).append(outcome)
        return {kind: _stats(items, self.seconds) for kind, items in sorted(kinds.items())}


def _stats(items: list[Outcome], seconds: float) -> dict[str, Any]:
    ordered = sorted(o.seconds for o in items)

    def pick(p: float) -> float:
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return round(ordered[index] * 1000, 2)

    statuses: dict[str, int] = {}
    for outcome in items:
        statuses[str(outcome.status)] = statuses.get(str(outcome.status), 0) + 1
    return {
        "requests": len(items),
        "rps": round(len(items) / seconds, 1) if seconds else 0.0,
        "errors": sum(o.error for o in items),
        "p50": pick(50),
        "p95": pick(95),
        "p99": pick(99),
        "max": round(ordered[-1] * 1000, 2),
        "statuses": dict(sorted(statuses.items())),
    }


async def _request(
    port: int, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + (body or b""))
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    seconds = time.perf_counter() - started
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data, seconds


async def _timed(
    port: int, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(_request(port, method, path, body), REQUEST_TIMEOUT)
    except (TimeoutError, OSError, ValueError, IndexError):
        return 0, b"", time.perf_counter() - started


async def _schedule(
    start: float, end: float, interval: float, result: MixedResult
) -> AsyncIterator[None]:
    """Yield at `start`, then every `interval` s until `end`. A send due while the previous
    one was still out goes at once and counts as late; the schedule then restarts from it."""
    due = start
    while due < end:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield
        due += interval
        if due < time.monotonic():
            result.late += 1
            due = time.monotonic()


async def _viewer(
    port: int, viewed: Viewed, start: float, end: float, interval: float, result: MixedResult,
    minimal: bool,
) -> None:  # fmt: skip
    version = viewed.version
    async for _ in _schedule(start, end, interval, result):
        if minimal:
            status, _, seconds = await _timed(port, "GET", "/bench/minimal")
            result.outcomes.append(Outcome("minimal", status, seconds, status != 200))
        else:
            path = f"/v/{viewed.view_token}/poll?v={version}"
            status, data, seconds = await _timed(port, "GET", path)
            if status == 200:
                found = VERSION.search(data)
                if found:
                    version = int(found.group(1))
                kind = "poll, changed (200)"
            elif status == 304:
                kind = "poll, unchanged (304)"
            else:
                kind = "poll, failed"
            result.outcomes.append(Outcome(kind, status, seconds, status not in (200, 304)))


async def _editor(
    port: int, editor: Editor, start: float, end: float, interval: float, result: MixedResult,
    minimal: bool,
) -> None:  # fmt: skip
    body = json.dumps({"actor": "bench", "reason": "bench mixed load"}).encode()
    async for _ in _schedule(start, end, interval, result):
        if minimal:
            status, _, seconds = await _timed(port, "GET", "/bench/minimal")
            result.outcomes.append(Outcome("minimal", status, seconds, status != 200))
        else:
            action = TRANSITION_CYCLE[editor.position % len(TRANSITION_CYCLE)]
            path = f"/api/v1/plans/{editor.edit_token}/steps/{editor.step_id}/{action}"
            status, _, seconds = await _timed(port, "POST", path, body)
            result.outcomes.append(Outcome("step transition", status, seconds, status != 200))
            if status == 200:
                editor.position += 1
            else:
                await _resync(port, editor)


async def _resync(port: int, editor: Editor) -> None:
    """After a failed transition, carry on from the step's real state."""
    status, data, _ = await _timed(port, "GET", f"/api/v1/plans/{editor.edit_token}")
    if status != 200:
        return
    try:
        document = json.loads(data.split(b"\r\n\r\n", 1)[1])
        state = next(s["state"] for s in document["steps"] if s["id"] == editor.step_id)
    except (ValueError, KeyError, IndexError, StopIteration):
        return
    editor.position = STATE_POSITION.get(state, editor.position)


async def _run(
    port: int, viewed: list[Viewed], editors: list[Editor], *, viewers: int, interval: float,
    transitions_per_second: float, seconds: float, minimal: bool, seed: int,
) -> MixedResult:  # fmt: skip
    rng = random.Random(seed)
    result = MixedResult()
    start = time.monotonic() + 0.5
    end = start + seconds
    editor_interval = len(editors) / transitions_per_second if editors else 0.0
    tasks = [
        _viewer(
            port,
            viewed[index % len(viewed)],
            start + rng.uniform(0, interval),
            end,
            interval,
            result,
            minimal,
        )
        for index in range(viewers)
    ]
    tasks += [
        _editor(
            port,
            editor,
            start + index * editor_interval / len(editors),
            end,
            editor_interval,
            result,
            minimal,
        )
        for index, editor in enumerate(editors)
    ]
    await asyncio.gather(*tasks)
    result.seconds = time.monotonic() - start
    return result


def run_mixed(
    port: int, viewed: list[Viewed], editors: list[Editor], *, viewers: int = 200,
    interval: float = 2.0, transitions_per_second: float = 10.0, seconds: float = 60.0,
    minimal: bool = False, seed: int = 9,
) -> MixedResult:  # fmt: skip
    """Run the mixed load. With `minimal`, every request is `/bench/minimal` instead, on the
    same schedule: the baseline for the latencies."""
    return asyncio.run(
        _run(
            port,
            viewed,
            editors,
            viewers=viewers,
            interval=interval,
            transitions_per_second=transitions_per_second,
            seconds=seconds,
            minimal=minimal,
            seed=seed,
        )
    )
