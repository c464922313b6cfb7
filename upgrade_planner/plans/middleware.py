"""Responses for links that were replaced or guessed at, and no indexing of plan URLs."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from upgrade_planner.plans.access import LinkReplaced, TooManyGuesses

PLAN_PREFIXES = ("/p/", "/v/", "/api/v1/plans/")


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
        if isinstance(exception, LinkReplaced):
            return render(request, "plans/link_replaced.html", status=410)
        if isinstance(exception, TooManyGuesses):
            response = render(request, "plans/too_many_guesses.html", status=429)
            response["Retry-After"] = "60"
            return response
        return None
