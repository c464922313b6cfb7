"""Rendered plan pages and live sections, cached per plan version.

A plan page changes only when its plan's version does, so a full page is rendered once per
version, link and view (filters, page, actor name) and served from the cache after that, with
the visitor's own CSRF token put back in. The sections a poll sends when the plan has moved
on are cached the same way: everyone watching a plan asks for the same version's sections
within a few seconds of each other, and only the first of them renders. Flash messages are
never cached. A cache outage only means rendering again. Keys are digests in which a token
appears only as its hash, as in the database.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

from upgrade_planner.plans.models import hash_token

logger = logging.getLogger(__name__)

SECONDS = 120
PLACEHOLDER = "__plan_page_csrf_token__"


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


def fetch_sections(key: str) -> dict[str, Any] | None:
    """Sections stored by store_sections: {name: (html with the CSRF placeholder, digest)}."""
    try:
        sections = cache.get(key)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)
        return None
    return sections if isinstance(sections, dict) else None


def store_sections(key: str, sections: dict[str, Any]) -> None:
    try:
        cache.set(key, sections, SECONDS)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)


def fetch(key: str, request: HttpRequest) -> HttpResponse | None:
    try:
        body = cache.get(key)
    except Exception as error:  # the cache is an optimisation; never a reason to fail a page
        logger.warning("page cache unavailable: %s", error)
        return None
    if not isinstance(body, bytes):
        return None
    # Kept as the encoded body: a page is ~120 KB, and decoding and encoding it again on
    # every hit would cost more than the replacement.
    return HttpResponse(body.replace(PLACEHOLDER.encode(), csrf_token(request).encode()))


def store(key: str, response: HttpResponse, csrf_value: str) -> None:
    if response.status_code != 200 or not csrf_value:
        return
    html = response.content.replace(csrf_value.encode(), PLACEHOLDER.encode())
    try:
        cache.set(key, html, SECONDS)
    except Exception as error:
        logger.warning("page cache unavailable: %s", error)
