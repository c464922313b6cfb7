"""Responses for links that were replaced or guessed at, no indexing of plan URLs, and the
shared cache's writes after the response."""

import logging
from collections.abc import Callable

from django.core.signals import request_finished
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found

from upgrade_planner.plans.access import LinkReplaced, TooManyGuesses
from upgrade_planner.plans.models import LinkKind
from upgrade_planner.web import page_cache

logger = logging.getLogger(__name__)
DB_DOWN = "The database is unavailable for a moment; nothing was changed. Try again shortly."


def render_plain_503() -> HttpResponse:
    # No template: rendering the base page may itself need the database (sessions, messages).
    return HttpResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Unavailable</title></head><body><h1>Unavailable for a moment</h1>"
        f"<p>{DB_DOWN}</p></body></html>",
        status=503,
    )


PLAN_PREFIXES = ("/p/", "/v/", "/api/v1/plans/")


class WriteLaterMiddleware:
    """Outermost: what a render keeps in the shared cache for the next viewer is written after
    the response has gone to this one (`page_cache.write_later`); `request_finished`, sent
    when the server closes the response, writes it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        page_cache.write_later()
        return self.get_response(request)


@receiver(request_finished)
def _write_held(**kwargs: object) -> None:
    page_cache.write_held()


class PlanLinksMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(PLAN_PREFIXES):
            # A plan URL carries its key; search engines must never keep one.
            response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DatabaseError):
            # The database is unreachable or restarting: say so, and when to come back,
            # instead of a 500. Nothing was half-saved: every write is one transaction.
            logger.warning("database unavailable: %s", exception)
            response = (
                JsonResponse({"error": "unavailable", "detail": DB_DOWN}, status=503)
                if request.path.startswith("/api/")
                else render_plain_503()
            )
            response["Retry-After"] = "10"
            return response
        if isinstance(exception, LinkReplaced):
            if request.path.startswith("/p/") and exception.kind != LinkKind.EDIT:
                # /p/ is for edit links: there a read-only token is unknown, replaced or not.
                return page_not_found(request, Http404("No plan has this link."))
            return render(request, "plans/link_replaced.html", status=410)
        if isinstance(exception, TooManyGuesses):
            response = render(request, "plans/too_many_guesses.html", status=429)
            response["Retry-After"] = "60"
            return response
        return None
