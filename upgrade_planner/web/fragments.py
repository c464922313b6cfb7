"""Step cards and Tentacle rows, rendered once per content and kept in the cache.

A tick changes one step, but every first view of the new version (and every first poll that
finds it) used to render all the page's cards and rows again: their action forms, instructions
and badges are most of the page's template work. Each card or row is a function of the step
as the page shows it (its fields, and what the page adds to it: what it waits for, its
inhibitors, who finished it, its estimate text, its critical-path badge, whether it looks
stale) and of who is looking (the link, whether it may edit, the name it goes by). The cache
key is a digest of exactly those inputs, so a fragment is never stale: any change to one of
them is another key. Everything a visitor brings that is not part of the key is left as a
placeholder when the fragment is rendered and put in when it is used: the CSRF token, and the
view of the page (filters, table page) that its forms return to and post with.

All fragments of a page are read with one `get_many` and the missing ones written with one
`set_many`. A card showing an action's outcome is rendered but never stored. A cache outage
only means rendering again.

Because a key names exactly one content, each process also keeps the fragments it used last
(`local_fragments`) and asks the shared cache only for the others: a 50-step page's cards are
about 250 KB, which moving out of Redis for every first view of a version cost more than
anything else in it but its queries.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import pickle
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.template import loader
from django.utils import timezone, translation
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from upgrade_planner.plans.models import Activity, Step, hash_token
from upgrade_planner.web import page_cache
from upgrade_planner.web.page_cache import PLACEHOLDER as CSRF_PLACEHOLDER

logger = logging.getLogger(__name__)

# Keyed on content, so a fragment cannot go stale; the time only bounds the memory it holds.
SECONDS = 15 * 60
# Where the page's view goes in a fragment: `return_to` (a form's "next") and the query an
# htmx control posts with. Neither changes when escaped, so the rendered HTML holds them as is.
RETURN_TO_PLACEHOLDER = "__plan_page_return_to__"
ACTION_QUERY_PLACEHOLDER = "__plan_page_action_query__"

TEMPLATE = "plans/plan.html"
CARD = "step-card"
ROW = "tentacle-row"
ACTIVITY_ENTRY = "activity-entry"
# The plan page's sections rendered from templates of their own.
PRINT_TEMPLATE = "plans/_print_runbook.html"
SCHEDULE_TEMPLATE = "plans/_schedule.html"
# Fields of a step its fragments do not show: the evidence list is shown only as its latest
# entry (`last_evidence`, which is keyed), and can grow long; the search labels never show.
UNSHOWN_FIELDS = frozenset({"evidence", "labels"})
_UNKEYED = UNSHOWN_FIELDS | {"fragment"}  # and the fragment itself
# What each process keeps of the fragments it used: a few pages' worth of 50-step plans.
LOCAL_BYTES = 8 * 1024 * 1024


class LocalFragments:
    """The fragments this process used last, by key, the least recently used dropped first
    once their text adds up to more than `budget` characters. A fragment's key is a digest of
    everything it shows, so a copy is never stale and is served without asking the shared
    cache."""

    def __init__(self, budget: int = LOCAL_BYTES) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # a threaded server shares it

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        found = {}
        with self._lock:
            for key in keys:
                html = self._entries.get(key)
                if html is not None:
                    self._entries.move_to_end(key)
                    found[key] = html
        return found

    def put_many(self, fragments: dict[str, str]) -> None:
        with self._lock:
            for key, html in fragments.items():
                if key in self._entries:
                    self._entries.move_to_end(key)
                    continue
                self._entries[key] = html
                self._size += len(html)
            while self._size > self.budget and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


local_fragments = LocalFragments()


def _shared_and_local(keys: list[str]) -> dict[str, Any]:
    """The fragments under `keys`: this process's copies, and the shared cache's for the
    rest (kept here too). A cache outage reads as none found."""
    found: dict[str, Any] = local_fragments.get_many(keys)
    wanted = [key for key in keys if key not in found]
    if not wanted:
        return found
    try:
        shared = cache.get_many(wanted)
    except Exception as error:  # an optimisation; never a reason to fail a page
        logger.warning("fragment cache unavailable: %s", error)
        return found
    kept = {key: html for key, html in shared.items() if isinstance(html, str)}
    local_fragments.put_many(kept)
    return {**found, **kept}


def _store(fragments: dict[str, str]) -> None:
    """Keep newly rendered fragments here and in the shared cache."""
    if not fragments:
        return
    local_fragments.put_many(fragments)
    page_cache.keep_later(dict(fragments), SECONDS)


@functools.cache
def template_digest(name: str = TEMPLATE) -> str:
    """A template's source, digested: a changed template makes new keys, so a deploy never
    serves what the old one rendered."""
    # The backend's wrapper holds the engine's template, which keeps its source.
    source: str = getattr(loader.get_template(name), "template").source  # noqa: B009
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@functools.cache
def _partial(name: str) -> Any:
    return loader.get_template(f"{TEMPLATE}#{name}")


def warm_up() -> None:
    """Compile the partials and digest the templates a page renders from (see
    upgrade_planner.warmup)."""
    for name in (TEMPLATE, PRINT_TEMPLATE, SCHEDULE_TEMPLATE):
        template_digest(name)
    for name in (CARD, ROW, ACTIVITY_ENTRY):
        _partial(name)


def _step_inputs(step: Step) -> bytes:
    """Every value of `step` a card or row can show, including what the page set on it, as
    bytes that differ whenever one of the values does: a pickle of the attributes' names and
    values (cheaper than a repr), each UUID as its number (pickling a UUID object costs more
    than the rest of the step)."""
    attributes = step.__dict__
    values = [
        value.int if type(value) is uuid.UUID else value
        for name, value in attributes.items()
        if name[0] != "_" and name not in _UNKEYED
    ]
    names = "\0".join(attributes)
    if step.tentacle_ref_id is not None:
        ref = step.tentacle_ref.__dict__
        names += "\0\0" + "\0".join(ref)
        values.extend(
            value.int if type(value) is uuid.UUID else value
            for name, value in ref.items()
            if name[0] != "_"
        )
    return pickle.dumps((names, values), protocol=5)


def fill(html: str, *, csrf_token: str, return_to: str, action_query: str) -> SafeString:
    """A stored fragment with this visitor's CSRF token and this view's addresses."""
    return filler(csrf_token=csrf_token, return_to=return_to, action_query=action_query)(html)


def filler(*, csrf_token: str, return_to: str, action_query: str) -> Callable[[str], SafeString]:
    """`fill` for many fragments of one view: the values are escaped once."""
    token, to, query = (
        conditional_escape(value) for value in (csrf_token, return_to, action_query)
    )

    def filled(html: str) -> SafeString:
        return mark_safe(  # noqa: S308 - the fragment was rendered escaped; the values are escaped
            html.replace(CSRF_PLACEHOLDER, token)
            .replace(RETURN_TO_PLACEHOLDER, to)
            .replace(ACTION_QUERY_PLACEHOLDER, query)
        )

    return filled


def attach(
    steps: Iterable[Step],
    *,
    viewer: dict[str, Any],
    csrf_token: str,
    return_to: str,
    action_query: str,
) -> None:
    """Set `step.fragment` (a card for a plan-wide step, a row for a Tentacle step) on each
    of `steps`, from the cache where it holds it, else rendered and stored.

    `viewer` holds what the fragments depend on besides the step: `can_edit`, `token`,
    `steps_url`, `ask_name`, `actor` and `kind_labels` (the only context they are rendered
    with, so nothing else can leak into them unkeyed)."""
    steps = list(steps)
    if not steps:
        return
    shared = "\n".join(
        [
            template_digest(),
            hash_token(viewer["token"]),
            str(viewer["can_edit"]),
            str(viewer["ask_name"]),
            str(viewer["actor"]),
            viewer["steps_url"],
        ]
    )
    keys: dict[str, Step] = {}
    for step in steps:
        digest = hashlib.sha256(
            f"{shared}\n{ROW if step.tentacle else CARD}\n".encode() + _step_inputs(step)
        ).hexdigest()
        keys["plan-fragment:" + digest] = step
    cacheable = {key: step for key, step in keys.items() if step.outcome is None}
    found = _shared_and_local(list(cacheable))
    context = {
        **viewer,
        "csrf_token": CSRF_PLACEHOLDER,
        "return_to": RETURN_TO_PLACEHOLDER,
        "action_query": ACTION_QUERY_PLACEHOLDER,
    }
    missing: dict[str, str] = {}
    filled = filler(csrf_token=csrf_token, return_to=return_to, action_query=action_query)
    for key, step in keys.items():
        html = found.get(key)
        if not isinstance(html, str):
            html = _partial(ROW if step.tentacle else CARD).render({**context, "step": step})
            if key in cacheable:
                missing[key] = html
        step.fragment = filled(html)
    _store(missing)


def activity_lines(entries: Iterable[Activity]) -> None:
    """Set `entry.line` (its list item) on each of `entries` of the activity log, from the
    cache where it holds it, else rendered and stored.

    An entry never changes but for its step's title (a rename) or its step's removal, and
    its line shows only the entry's own fields, that title, and the time zone and language
    it is written in: the key is a digest of exactly those, so a line cannot go stale."""
    entries = list(entries)
    if not entries:
        return
    shared = "\n".join(
        [template_digest(), timezone.get_current_timezone_name(), translation.get_language() or ""]
    ).encode()
    keys: dict[str, Activity] = {}
    for entry in entries:
        title = entry.step.title if entry.step_id is not None and entry.step else None
        inputs = pickle.dumps(
            (
                entry.pk,
                entry.at,
                entry.actor,
                entry.action,
                entry.from_state,
                entry.to_state,
                entry.reason,
                entry.details,
                entry.step_id,
                title,
            ),
            protocol=5,
        )
        keys["plan-activity:" + hashlib.sha256(shared + inputs).hexdigest()] = entry
    found = _shared_and_local(list(keys))
    missing: dict[str, str] = {}
    for key, entry in keys.items():
        html = found.get(key)
        if not isinstance(html, str):
            html = missing[key] = _partial(ACTIVITY_ENTRY).render({"entry": entry})
        setattr(entry, "line", mark_safe(html))  # noqa: B010, S308 - rendered escaped; not a field
    _store(missing)


class Section:
    """A section of the page that changes only with what `key` holds (the plan version, and
    what else its HTML depends on): rendered once, by `render(oob)`, and kept in the cache,
    with the CSRF token as a placeholder (and this view's address, `return_to`, where the
    section renders RETURN_TO_PLACEHOLDER for it). `page` is the section as the full page has
    it, `oob` as a live update sends it (out of band); each is rendered only if asked for."""

    def __init__(
        self,
        *,
        name: str,
        key: list[str],
        render: Callable[[bool], str],
        csrf_token: str,
        return_to: str = "",
        seconds: int = page_cache.SECONDS,
    ) -> None:
        self.name = name
        self.seconds = seconds
        self.key = key
        self.render = render
        self.csrf_token = csrf_token
        self.return_to = return_to

    @functools.cached_property
    def page(self) -> SafeString:
        return self._html(oob=False)

    @functools.cached_property
    def oob(self) -> SafeString:
        return self._html(oob=True)

    def _html(self, *, oob: bool) -> SafeString:
        parts = [template_digest(), self.name, "oob" if oob else "page", *self.key]
        key = "plan-section:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()
        html = page_cache.remembered(
            key,
            lambda: self.render(oob).replace(self.csrf_token, CSRF_PLACEHOLDER),
            kind=str,
            seconds=self.seconds,
            copy=page_cache.same,  # the key names one content: this process keeps it too
        )
        return fill(html, csrf_token=self.csrf_token, return_to=self.return_to, action_query="")
