"""Finding a plan from the token in a link, and slowing down anyone guessing tokens or admin
passwords."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, NoReturn, cast

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction
from django.http import Http404

from upgrade_planner.bulk import read_converter
from upgrade_planner.plans.models import Plan, PlanLink, hash_token

logger = logging.getLogger(__name__)


class LinkReplaced(Exception):
    """The token belonged to a link that an editor has since rotated; `kind` is the link's."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class TooManyGuesses(Exception):
    """This client looked up too many unknown tokens recently."""


def _misses_key(client: str) -> str:
    return f"unknown-token-lookups:{client}"


def link_for_token(token: str, *, client: str = "") -> PlanLink:
    """The current link for `token` with its plan and installation, in one query.

    Raises Http404 for an unknown token, LinkReplaced for a rotated one and TooManyGuesses
    for an unknown token when `client` (an address) has looked up too many unknown tokens
    lately. The counter lives in the cache, so with Redis configured every web process shares
    it. A known token is always answered: the limit slows guessing, and must not lock an
    office (one address behind its NAT) out of the links it holds.
    """
    token_hash = hash_token(token)
    link = (
        PlanLink.objects.select_related("plan__installation").filter(token_hash=token_hash).first()
    )
    # The lookup is by hash, so its timing says nothing about the token; the comparison
    # below keeps it that way should the lookup ever change.
    if link is None or not hmac.compare_digest(link.token_hash, token_hash):
        _unknown(client)
    if link.replaced_at is not None:
        raise LinkReplaced(link.kind)
    return link


def _unknown(client: str) -> NoReturn:
    """Answer an unknown token: counted against `client`, refused as a guess once it is over
    the limit."""
    limit = settings.UNKNOWN_TOKEN_LIMIT_PER_MINUTE
    if client and limit:
        if _misses(client) >= limit:
            raise TooManyGuesses
        _count_miss(client)
    raise Http404("No plan has this link.")


def _misses(client: str) -> int:
    """Recent unknown-token lookups from `client`; 0 when the cache is down, because a Redis
    outage must not lock everyone out of their plans."""
    try:
        return int(cache.get(_misses_key(client)) or 0)
    except Exception:
        return 0


def _count_miss(client: str) -> None:
    key = _misses_key(client)
    try:
        if not cache.add(key, 1, timeout=60):
            cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=60)
    except Exception:
        # A cache outage must not turn a 404 into a 500; the limit simply pauses.
        return


def client_address(meta: Mapping[str, Any]) -> str:
    """The address to rate-limit.

    With TRUSTED_PROXY_COUNT = 0 (the default) the socket's peer: X-Forwarded-For is whatever
    the client wrote, so it counts for nothing. Behind N proxies, each of which appends the
    address it was connected from, the Nth address from the right of X-Forwarded-For is the
    one the outermost proxy saw; whatever a client wrote into the header itself stands further
    left and is never read. A header with fewer entries than proxies, or an entry that is no
    address, did not come through them: the socket's peer is used.
    """
    remote = str(meta.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


class LinkState(NamedTuple):
    plan_id: Any
    version: int
    kind: str
    plan_name: str


def current_version(token: str, *, client: str = "") -> LinkState:
    """The plan's id, version and name and the link's kind for `token`, reading a few narrow
    columns in one query: what an unchanged poll, a conditional GET or a cached page needs.

    Raises like link_for_token.
    """
    with connection.cursor() as cursor:
        cursor.execute(_link_state_sql(connection.vendor), [hash_token(token)])
        row = cursor.fetchone()
    if row is None:
        _unknown(client)
    plan_id, version, kind, plan_name, replaced_at = row
    if replaced_at is not None:
        raise LinkReplaced(kind)
    plan_id = PlanLink._meta.get_field("plan").target_field.to_python(plan_id)
    return LinkState(plan_id=plan_id, version=version, kind=kind, plan_name=plan_name)


@functools.cache
def _link_state_sql(vendor: str) -> str:
    """current_version's query, compiled by the ORM once per database vendor. It runs on
    every page view, poll and conditional GET; building it through the ORM each time took
    about half a millisecond, three times as long as running it. token_hash is unique, so
    the query needs no ORDER BY (which .first() would add)."""
    query = (
        PlanLink.objects.filter(token_hash="")
        .values_list("plan_id", "plan__version", "kind", "plan__name", "replaced_at")[:1]
        .query
    )
    sql, params = query.get_compiler(connection=connection).as_sql()
    if list(params) != [""]:
        raise AssertionError(f"unexpected parameters in the link-state query: {params!r}")
    return str(sql)


# What a step action reads of the link's plan; every other field loads if something asks.
# In the model's order of fields, which Model.from_db expects.
LINKED_PLAN_FIELDS = tuple(
    field.attname
    for field in Plan._meta.concrete_fields
    if field.attname in {"id", "version", "finished_steps", "name", "approach", "installation_id"}
)


def linked_plan(token: str, *, client: str = "") -> tuple[str, Plan]:
    """The kind of the link for `token` and its plan, with only LINKED_PLAN_FIELDS loaded, in
    one query written once: what a step action needs (a check it queues loads the
    installation when it needs it). Raises like link_for_token."""
    with connection.cursor() as cursor:
        cursor.execute(_linked_plan_sql(connection.vendor), [hash_token(token)])
        row = cursor.fetchone()
    if row is None:
        _unknown(client)
    kind, replaced_at, *values = row
    if replaced_at is not None:
        raise LinkReplaced(kind)
    plan = Plan.from_db(
        connection.alias,
        LINKED_PLAN_FIELDS,
        [convert(value) for convert, value in zip(_plan_converters(), values, strict=True)],
    )
    return kind, plan


@functools.cache
def _linked_plan_sql(vendor: str) -> str:
    """linked_plan's query, compiled by the ORM once per vendor, as _link_state_sql is."""
    query = (
        PlanLink.objects.filter(token_hash="")
        .values_list("kind", "replaced_at", *(f"plan__{name}" for name in LINKED_PLAN_FIELDS))[:1]
        .query
    )
    sql, params = query.get_compiler(connection=connection).as_sql()
    if list(params) != [""]:
        raise AssertionError(f"unexpected parameters in the linked-plan query: {params!r}")
    return str(sql)


def _plan_converters() -> list[Callable[[Any], Any]]:
    return _plan_converters_of(connection.vendor)


@functools.cache
def _plan_converters_of(vendor: str) -> list[Callable[[Any], Any]]:
    """What the ORM does to each of LINKED_PLAN_FIELDS read from the database (UUIDs are
    text on SQLite)."""
    fields = [Plan._meta.get_field(name.removesuffix("_id")) for name in LINKED_PLAN_FIELDS]
    return [read_converter(cast("models.Field[Any, Any]", field)) for field in fields]


# --- The version polls, conditional GETs and cached pages compare --------------------------
# An unchanged poll, a conditional GET or a cached page needs only the plan's version, and the
# answer that the link is still current. Both come without a query while nothing changes:
# - the plan's version sits in the cache (PLAN_VERSION_SECONDS at most), and every commit that
#   changes the plan deletes it (plan_lock, plan_version_changed), so a read after a change
#   never sees the older one;
# - each process remembers what the database last said of a token's link (its plan, kind and
#   the plan's name and version). A token always opens the same plan, and replacing its link
#   or renaming the plan moves the version: what is remembered holds while the cached version
#   is the one it was read at, and is read again from the database otherwise.
# Only a read that fetched a version from the database just before a commit, and stores it
# just after that commit deleted it, can leave the older version behind: for at most
# PLAN_VERSION_SECONDS. Writes always read the database; a page not in the cache reads the link
# once per version in each process (web.pages.link_at_version), on the same grounds.

PLAN_VERSION_SECONDS = 1
REMEMBERED_LINKS_LIMIT = 4096

# token hash -> the link's state as the database last gave it
_remembered: dict[str, LinkState] = {}
_remembered_lock = threading.Lock()


def polled_link(token: str, *, client: str = "") -> LinkState:
    """current_version's answer for `token`: from the cache and this process's memory while
    the plan is unchanged, else from the database. Raises like link_for_token."""
    token_hash = hash_token(token)
    known = _remembered.get(token_hash)
    if known is not None and _cached_version(known.plan_id) == known.version:
        return known
    try:
        state = current_version(token, client=client)
    except (LinkReplaced, Http404, TooManyGuesses):
        _forget_link(token_hash)
        raise
    _remember_link(token_hash, state)
    with contextlib.suppress(Exception):
        cache.set(_version_key(state.plan_id), state.version, PLAN_VERSION_SECONDS)
    return state


def polled_link_with(
    token: str, *, client: str = "", keys: Callable[[LinkState], list[str]]
) -> tuple[LinkState, dict[str, Any] | None]:
    """`polled_link`, and the cache's values under `keys(state)`: read in the same round trip
    as the plan's version when this process knows the link and its version has not moved
    (the common case of a page served from the cache), else None for them (the caller reads
    them itself, knowing the version). Raises like `polled_link`."""
    known = _remembered.get(hash_token(token))
    if known is not None:
        wanted = keys(known)
        version_key = _version_key(known.plan_id)
        try:
            found = cache.get_many([version_key, *wanted])
        except Exception:
            found = {}
        version = found.pop(version_key, None)
        if version is not None and int(version) == known.version:
            return known, found
    return polled_link(token, client=client), None


def plan_version_changed(plan_id: object) -> None:
    """Inside the transaction that moves the plan's version (or deletes the plan): the cached
    version goes now, and again once the transaction commits, so the next poll, conditional
    GET or cached page after the commit reads the new version. (A read between the two finds
    the older version in the database and caches it: the second deletion is for that.) A
    cache outage leaves the expiry to do it."""
    _forget_version(plan_id)
    transaction.on_commit(functools.partial(_forget_version, plan_id))


def _forget_version(plan_id: object) -> None:
    with contextlib.suppress(Exception):
        cache.delete(_version_key(plan_id))


# What a transition changes: its steps' states and times, the plan's progress and activity
# log, and the jobs it queues; never the inventory, the readiness findings or the steps'
# texts. A transition notes, once it commits, which version its own came from, so that what
# the page keeps of the version before and holds for both (pages.version_facts) is not read
# again. Nothing noted (an expired note, any other change) means reading it all.

STEPS_MOVED_SECONDS = 120


def steps_moved(*, plan_id: object, before: int, after: int) -> None:
    """Inside a transition's transaction: version `after` will differ from `before` only as a
    transition changes a plan (see above), once the transaction commits."""

    def note() -> None:
        with contextlib.suppress(Exception):
            cache.set(_moved_key(plan_id, after), before, STEPS_MOVED_SECONDS)

    transaction.on_commit(note)


@dataclass(frozen=True)
class MovedStep:
    """A step a transition moved from one state to another."""

    step_id: uuid.UUID
    before: str
    after: str
    # (hop, phase, kind, canary): the fleet of a per-Tentacle step; None for a plan-wide one.
    fleet: tuple[int, str, str, bool] | None


@dataclass(frozen=True)
class Transition:
    """Everything one transition changed: the steps it moved (the one acted on first, then its
    dependents), the acted step's times, who acted and when, and the plan's count of finished
    steps after it (what the transition's activity entry says)."""

    moved: tuple[MovedStep, ...]
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    actor: str
    at: datetime
    finished_steps: int


def transition_noted(*, plan_id: object, after: int, transition: Transition) -> None:
    """Inside a transition's transaction, after its steps moved: what it changed, for the page
    to build version `after`'s facts on the version before's without reading them again
    (noted once the transaction commits; see steps_moved)."""

    def note() -> None:
        with contextlib.suppress(Exception):
            cache.set(_transition_key(plan_id, after), transition, STEPS_MOVED_SECONDS)

    transaction.on_commit(note)


def _transition_key(plan_id: object, version: int) -> str:
    return f"plan-transition:{plan_id}:{version}"


def moved_from(plan_id: object, version: int) -> tuple[int, Transition | None] | None:
    """The version that `version` of the plan came from by transitions alone, and what the
    single transition that made it changed (None for a bulk one), if noted: one cache read,
    none when this process has found the note before (a note, once written, never changes)."""
    key = (str(plan_id), version)
    with _notes_lock:
        seen = _notes_seen.get(key)
    if seen is not None and seen[0] > time.monotonic():
        return seen[1]
    moved, made = _moved_key(plan_id, version), _transition_key(plan_id, version)
    try:
        found = cache.get_many([moved, made])
    except Exception:
        return None
    before, transition = found.get(moved), found.get(made)
    if not (isinstance(before, int) and before < version):
        return None  # not noted (yet): not remembered either
    noted = before, transition if isinstance(transition, Transition) else None
    with _notes_lock:
        _notes_seen[key] = (time.monotonic() + STEPS_MOVED_SECONDS, noted)
        while len(_notes_seen) > NOTES_SEEN_LIMIT:
            del _notes_seen[next(iter(_notes_seen))]  # the oldest
    return noted


# The notes this process has found, by (plan, version), with when to forget them.
NOTES_SEEN_LIMIT = 256
_notes_seen: dict[tuple[str, int], tuple[float, tuple[int, Transition | None]]] = {}
_notes_lock = threading.Lock()


def forget_seen_notes() -> None:
    """Forget the notes this process has found (as a process that has read none)."""
    with _notes_lock:
        _notes_seen.clear()


def _moved_key(plan_id: object, version: int) -> str:
    return f"plan-steps-moved:{plan_id}:{version}"


def _cached_version(plan_id: object) -> int | None:
    try:
        cached = cache.get(_version_key(plan_id))
    except Exception:
        return None
    return None if cached is None else int(cached)


def _version_key(plan_id: object) -> str:
    return f"plan-version:{plan_id}"


def _remember_link(token_hash: str, entry: LinkState) -> None:
    with _remembered_lock:
        if token_hash not in _remembered and len(_remembered) >= REMEMBERED_LINKS_LIMIT:
            del _remembered[next(iter(_remembered))]  # the oldest
        _remembered[token_hash] = entry


def _forget_link(token_hash: str) -> None:
    with _remembered_lock:
        _remembered.pop(token_hash, None)


# --- Admin sign-ins ---------------------------------------------------------------------
# Failed sign-ins are counted per client address and per user name (either may be what an
# attacker varies) in a window that starts with the first failure; at the limit, sign-ins
# from that address or for that name wait for the window to end. Kept in the cache like the
# guess counter, and, like it, paused rather than failing while the cache is down.


def _sign_in_keys(address: str, username: str) -> list[str]:
    name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
    return [f"admin-sign-in-failures:address:{address}", f"admin-sign-in-failures:name:{name}"]


def sign_in_wait(address: str, username: str) -> int:
    """Seconds until sign-ins from `address` or for `username` are allowed again; 0 now."""
    limit = settings.ADMIN_LOGIN_FAILURE_LIMIT
    if not limit:
        return 0
    keys = _sign_in_keys(address, username)
    try:
        counted = cache.get_many([*keys, *(f"{key}:ends" for key in keys)])
    except Exception:
        return 0
    now = time.time()
    waits = [
        float(counted.get(f"{key}:ends") or now) - now
        for key in keys
        if int(counted.get(key) or 0) >= limit
    ]
    return max(1, math.ceil(max(waits))) if waits else 0


def sign_in_failed(address: str, username: str) -> None:
    window = settings.ADMIN_LOGIN_WINDOW_MINUTES * 60
    try:
        for key in _sign_in_keys(address, username):
            cache.add(f"{key}:ends", time.time() + window, timeout=window)
            if not cache.add(key, 1, timeout=window):
                try:
                    cache.incr(key)
                except ValueError:  # the window ended between add and incr
                    cache.add(key, 1, timeout=window)
    except Exception as error:
        logger.warning("admin sign-in throttle unavailable: %s", error)


def sign_in_succeeded(username: str) -> None:
    """A name's failures are forgotten once its owner signs in; an address's are not, or
    signing in to one account would reset the count of guesses at another."""
    with contextlib.suppress(Exception):
        name_key = _sign_in_keys("", username)[1]
        cache.delete_many([name_key, f"{name_key}:ends"])


# --- Links kept in a browser's session --------------------------------------------------
# "Your plans" needs each link's token to link to it, and the session lives on the server (its
# table, read through the cache). There the token is kept encrypted with a key derived from
# SECRET_KEY, so that neither a database dump nor the cache gives a working link: tokens are
# stored only as hashes or encrypted. Keys derived from SECRET_KEY_FALLBACKS decrypt too, so a
# rotation the Django way keeps every browser's list.


def _session_fernet() -> MultiFernet:
    secret_keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return MultiFernet(
        [
            Fernet(
                base64.urlsafe_b64encode(
                    hashlib.sha256(f"plan-links-in-sessions:{secret_key}".encode()).digest()
                )
            )
            for secret_key in secret_keys
        ]
    )


def token_sealed(token: str) -> str:
    """`token` encrypted for keeping in a session."""
    return _session_fernet().encrypt(token.encode()).decode()


def token_unsealed(sealed: str) -> str | None:
    """The token token_sealed made, or None when no key this server has can read it."""
    try:
        return _session_fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError, TypeError):
        return None
