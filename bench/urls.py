"""The app's URLs plus `/bench/minimal`, the baseline every figure is compared with."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def minimal(request: HttpRequest) -> HttpResponse:
    """The least a Django view can do: no query, no template, no session."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/minimal", minimal, name="bench-minimal"),
    path("", include("upgrade_planner.urls")),
]
