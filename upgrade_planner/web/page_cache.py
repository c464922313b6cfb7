"""Rendered plan pages and live sections, cached per plan version.

A plan page changes only when its plan's version does, so a full page is rendered once per
version, link and view (filters, page, actor name) and served from the cache after that, with
the visitor's own CSRF token put back in. The sections a poll sends when the plan has moved
on are cached the same way: everyone watching a plan asks for the same version's sections
within a few seconds of each other, and only the first of them renders. Flash messages are
never cached. A cache outage only means rendering again. Keys are digests in which a token
appears only as its hash, as in the database.

A full page (~250 KB for 50 steps) is kept as the pieces between its CSRF placeholders, so
serving it is one join rather than a search of the whole body, and each process keeps the
pieces it last served (LocalPages). The shared cache stays the only judge of whether a page
may be served: next to each body it holds a small stamp, and a process serves its own copy
only while the shared cache holds that copy's stamp under the page's key. An unchanged page
thus costs one small read instead of moving the body out of Redis on every view; an expired,
evicted or cleared entry is a miss in every process at once, exactly as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db.models import Model
from django.db.models.base import ModelState
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

from upgrade_planner.plans.models import hash_token

logger = logging.getLogger(__name__)

SECONDS = 120
PLACEHOLDER = "__plan_page_csrf_token__"
# The body of a page is stored under its key with this suffix; the key itself holds its stamp.
BODY_SUFFIX = ":body"
# Bounds of each process's copies: a few dozen 50-step pages, never one huge page.
LOCAL_BYTES = 16 * 1024 * 1024
LOCAL_ENTRY_BYTES = 2 * 1024 * 1024

Pieces = tuple[bytes, ...]


class SizedLRU[V]:
    """Values by key, the least recently used dropped first once their sizes add up to more
    than `budget`; a value larger than `entry_limit` (the budget, unless given) is not kept.
    Sync workers serve one request at a time, but a threaded server shares one of these."""

    def __init__(self, budget: int, entry_limit: int | None = None) -> None:
        self.budget = budget
        self.entry_limit = budget if entry_limit is None else entry_limit
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[str]:
        """The keys kept, the least recently used first."""
        with self._lock:
            return list(self._entries)

    def put(
        self, key: str, value: V, size: int, *, unless: Callable[[V], bool] | None = None
    ) -> None:
        """Keep `value` under `key` (whatever was there goes), unless `unless(the value there)`
        says to keep that one instead."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and unless is not None and unless(entry[0]):
                return
            self._drop(key)
            if size > self.entry_limit:
                return
            self._entries[key] = (value, size)
            self._size += size
            while self._size > self.budget:
                self._drop(next(iter(self._entries)))

    def drop(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= entry[1]


class LocalPages:
    """The pages this process served last, by key: (stamp, pieces), least recently used
    dropped first once they add up to more than `budget` bytes. A copy is only ever served
    under the stamp it was stored with, which the caller checks against the shared cache."""

    def __init__(self, budget: int = LOCAL_BYTES, entry_limit: int = LOCAL_ENTRY_BYTES) -> None:
        self._pages = SizedLRU[tuple[str, Pieces]](budget, entry_limit)

    def get(self, key: str, stamp: str) -> Pieces | None:
        entry = self._pages.get(key)
        return entry[1] if entry is not None and entry[0] == stamp else None

    def has(self, key: str) -> bool:
        return key in self._pages

    def keys(self) -> list[str]:
        return self._pages.keys()

    def entry(self, key: str) -> tuple[str, Pieces] | None:
        """(stamp, pieces) kept under `key`, whatever the stamp."""
        return self._pages.get(key)

    def put(self, key: str, stamp: str, pieces: Pieces) -> None:
        self._pages.put(key, (stamp, pieces), sum(len(piece) for piece in pieces))

    def clear(self) -> None:
        self._pages.clear()


local_pages = LocalPages()


# --- This process's copies of what a plan version keeps -----------------------------------------
# The first view of a version someone else has seen reads that version's facts and Tentacle
# page from the shared cache: tens of model instances to unpickle, a millisecond or more each
# time. A key of these holds the plan's version, so what it names never changes: each process
# keeps the last ones it used, each for as long as the shared cache is asked to keep it, and
# hands out copies that the page may dress without touching the one kept. The same goes for
# the sections rendered once per version and the timeline of the minute (a few per page).
LOCAL_VALUES = 256


class LocalValues:
    """Values by key until their expiry, at most `limit` of them, least recently used dropped
    first."""

    def __init__(self, limit: int = LOCAL_VALUES) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, value: object, seconds: float) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (time.monotonic() + seconds, value)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


local_values = LocalValues()


def model_copy[M: Model](instance: M) -> M:
    """A copy of `instance` whose attributes can be set without touching the original. The
    values are shared: the copy's holder must not change them in place."""
    copy = instance.__class__.__new__(instance.__class__)
    copy.__dict__.update(instance.__dict__)
    copy._state = ModelState()
    copy._state.db, copy._state.adding = instance._state.db, instance._state.adding
    copy._state.fields_cache = dict(instance._state.fields_cache)
    return copy


def remembered[T](
    key: str,
    compute: Callable[[], T],
    *,
    kind: type[T],
    seconds: int,
    copy: Callable[[T], T] | None = None,
    fresh_for: Callable[[T], float] | None = None,
) -> T:
    """`compute()`'s value kept in the cache under `key` for `seconds`: read from there when
    it holds a `kind` (anything else is a miss), else computed and stored. The cache is an
    optimisation: an outage, reading or writing, only means computing again.

    With `copy`, for a key whose value never changes: this process keeps the value too, and
    every caller gets `copy(value)`, which must copy whatever the caller changes (`same` for
    a value no caller changes). A value that is good only for a while (worked out at some
    moment) says with `fresh_for(value)` how many seconds it is still good for: this process
    keeps it no longer than that, however long ago the shared cache got it."""
    if copy is not None:
        kept = local_values.get(key)
        if isinstance(kept, kind):
            return copy(kept)
    found = cached(key, kind=kind)
    if found is None:
        found = compute()
        keep_later({key: found}, seconds)
    if copy is None:
        return found
    local_values.put(key, found, seconds if fresh_for is None else min(seconds, fresh_for(found)))
    return copy(found)


def same[T](value: T) -> T:
    """The `copy` of `remembered` for a value no caller changes (a string, a frozen record)."""
    return value


def kept[T](key: str, *, kind: type[T]) -> T | None:
    """`cached`, from this process's copy when it keeps one (`remembered` with `copy`): the
    value itself, not a copy, so the caller must only read it (a new value built from it
    copies what it changes)."""
    found = local_values.get(key)
    if isinstance(found, kind):
        return found
    return cached(key, kind=kind)


def cached[T](key: str, *, kind: type[T]) -> T | None:
    """The `kind` stored under `key`, or None (nothing there, something else, or no cache).
    A value this request keeps but has not written yet (`keep_later`) counts as stored."""
    batch = getattr(_later, "batch", None)
    if batch and key in batch:
        pending = batch[key][0]
        return pending if isinstance(pending, kind) else None
    try:
        found = cache.get(key)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)
        return None
    return found if isinstance(found, kind) else None


# --- Writes after the response ----------------------------------------------------------------
# What a render keeps for whoever views the version next (its facts, Tentacle page, timeline,
# "waiting for" texts, sections and cards: up to a dozen values, some tens of kilobytes) is
# written once the response has gone (WriteLater, the outermost middleware): in one round trip
# for each lifetime, and none of it, pickling included, on the viewer's time. A value shared
# through a claim (`shared`) is written at once: other callers are waiting for it. Outside a
# request (a task, a shell) everything is written at once, as before.
_later = threading.local()


def write_later() -> None:
    """From now on, in this thread, `keep_later` holds values back until `write_held`."""
    _later.batch = {}


def keep_later(values: dict[str, object], seconds: int) -> None:
    """Keep `values` in the shared cache for `seconds`: after the response when this thread is
    serving a request (`write_later`), else now. They are pickled when written: whoever
    handed them over must not change them afterwards (as for what this process keeps)."""
    batch: dict[str, tuple[object, int]] | None = getattr(_later, "batch", None)
    if batch is None:
        _keep_many(values, seconds)
        return
    for key, value in values.items():
        batch[key] = (value, seconds)


def write_held() -> None:
    """Write what `keep_later` held back, one round trip for each lifetime, and stop holding."""
    batch: dict[str, tuple[object, int]] | None = getattr(_later, "batch", None)
    _later.batch = None
    if not batch:
        return
    by_lifetime: dict[int, dict[str, object]] = {}
    for key, (value, seconds) in batch.items():
        by_lifetime.setdefault(seconds, {})[key] = value
    for seconds, values in by_lifetime.items():
        _keep_many(values, seconds)


def _keep_many(values: dict[str, object], seconds: int) -> None:
    try:
        cache.set_many(values, seconds)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)


def _keep(key: str, value: object, seconds: int) -> None:
    try:
        cache.set(key, value, seconds)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)


# Everyone watching a plan polls within a few seconds of each change, so several polls of a
# new version often arrive while the first of them is still rendering it. The first claims
# the render; the others wait for what it stores instead of rendering the same thing at the
# same time, which would slow every one of them down.
CLAIM_SECONDS = 10
WAIT_SECONDS = 2.0
WAIT_FIRST_PAUSE = 0.002
WAIT_LONGEST_PAUSE = 0.008
CLAIM_SUFFIX = ":rendering"


def shared[T](key: str, compute: Callable[[], tuple[T, bool]], *, kind: type[T]) -> T:
    """The `kind` stored under `key`, else `compute()`'s value, which is stored when compute
    says it may be kept (value, keep). One caller at a time computes it: the others wait for
    it to be stored, up to WAIT_SECONDS, and compute it themselves if it is not (the computer
    kept nothing, failed or is slow). The cache is an optimisation: an outage only means
    computing again, as every caller then does."""
    found = cached(key, kind=kind)
    if found is not None:
        return found
    claim = key + CLAIM_SUFFIX
    try:
        claimed = cache.add(claim, 1, CLAIM_SECONDS)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)
        claimed = True
    if not claimed:
        waited = _wait_for(key, claim, kind)
        if waited is not None:
            return waited
    try:
        value, keep = compute()
        if keep:
            _keep(key, value, SECONDS)
    finally:
        if claimed:
            with contextlib.suppress(Exception):
                cache.delete(claim)
    return value


def _wait_for[T](key: str, claim: str, kind: type[T]) -> T | None:
    """What the caller holding `claim` stores under `key`, once it has; None when it lets go
    of the claim without storing it, or WAIT_SECONDS pass."""
    deadline = time.monotonic() + WAIT_SECONDS
    pause = WAIT_FIRST_PAUSE
    while time.monotonic() < deadline:
        # Short pauses: a waiting sync worker serves no one else, so it must not sleep long
        # past the moment the render is stored (a look costs a fraction of a millisecond).
        time.sleep(pause)
        pause = min(pause * 2, WAIT_LONGEST_PAUSE)
        try:
            found = cache.get_many([key, claim])
        except Exception:
            return None
        value = found.get(key)
        if isinstance(value, kind):
            return value
        if claim not in found:
            return None
    return None


def csrf_token(request: HttpRequest) -> str:
    """The masked CSRF token of this response. `get_token` masks the token afresh on every
    call; one value for the whole response lets the caches find and replace every copy of
    it (the page's, its sections' and its cached cards')."""
    token = getattr(request, "_plan_page_csrf_token", None)
    if not isinstance(token, str):
        token = get_token(request)
        setattr(request, "_plan_page_csrf_token", token)  # noqa: B010 - not a declared attribute
    return token


def key_for(request: HttpRequest, *, token: str, version: int, read_only: bool) -> str:
    parts = [
        hash_token(token),
        str(version),
        "ro" if read_only else "rw",
        request.get_full_path(),
        request.get_host(),
        str(request.session.get("actor", "")),
        # Whether the page asks for a name before the first change.
        str(bool(request.session.get("actor_asked"))),
    ]
    return "plan-page:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def sections_key(
    request: HttpRequest, *, token: str, version: int, read_only: bool, view: str
) -> str:
    """`view` is the normalised view query (pages.view_query): a poll's own parameters (the
    version it has, the fingerprints) must not split the cache."""
    parts = [
        hash_token(token),
        str(version),
        "ro" if read_only else "rw",
        view,
        request.get_host(),
        str(request.session.get("actor", "")),
        str(bool(request.session.get("actor_asked"))),
    ]
    return "plan-sections:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def store_sections(key: str, sections: dict[str, Any]) -> None:
    """Sections an action rendered, for the polls of its version (which read them through
    `shared`): {name: (html with the CSRF placeholder, digest)}."""
    _keep(key, sections, SECONDS)


def fetch_keys(key: str) -> list[str]:
    """What `fetch` reads of the page stored under `key`: with no copy here, the stamp and
    the body (in one round trip); with one, the stamp alone says whether it may be served."""
    return [key] if local_pages.has(key) else [key, key + BODY_SUFFIX]


def fetch(
    key: str, request: HttpRequest, *, found: dict[str, Any] | None = None
) -> HttpResponse | None:
    """The page stored under `key`, with this visitor's CSRF token, or None. `found`: what
    the cache held under `fetch_keys(key)`, when the caller has read it already."""
    known = local_pages.has(key)
    if found is None:
        try:
            found = cache.get_many(fetch_keys(key))
        except Exception as error:  # the cache is an optimisation; never a reason to fail
            logger.warning("page cache unavailable: %s", error)
            return None
    stamp = found.get(key)
    if not isinstance(stamp, str):
        return None
    pieces = local_pages.get(key, stamp) if known else None
    if pieces is None:
        stored = _as_body(found.get(key + BODY_SUFFIX) if not known else _body(key))
        if stored is None:
            return None
        stored_stamp, pieces = stored
        local_pages.put(key, stored_stamp, pieces)
    return HttpResponse(csrf_token(request).encode().join(pieces))


def _body(key: str) -> Any:
    try:
        return cache.get(key + BODY_SUFFIX)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)
        return None


def _as_body(stored: Any) -> tuple[str, Pieces] | None:
    """(stamp, pieces) as store() wrote them; anything else (an entry of an older release) is
    a miss, and the page is rendered and stored again."""
    if not (isinstance(stored, tuple) and len(stored) == 2):
        return None
    stamp, pieces = stored
    valid = isinstance(stamp, str) and isinstance(pieces, tuple)
    if valid and all(isinstance(piece, bytes) for piece in pieces):
        return stamp, pieces
    return None


def store(key: str, response: HttpResponse, csrf_value: str) -> None:
    if response.status_code != 200 or not csrf_value:
        return
    # The encoded body cut at each copy of the token: serving it joins the pieces with the
    # next visitor's token, with no search of ~250 KB and no decoding.
    pieces = tuple(response.content.split(csrf_value.encode()))
    stamp = secrets.token_hex(8)
    keep_later({key: stamp, key + BODY_SUFFIX: (stamp, pieces)}, SECONDS)
    # Served from here only while the shared cache holds this stamp (see the module's notes).
    local_pages.put(key, stamp, pieces)
