"""What a web process would otherwise do on its first requests, done when it starts.

Django imports the URLconf (and with it the API and its schemas), builds the URL resolver's
reverse table, compiles each template and form widget, and reads the rollback texts the first
time a request needs them: about a second on a two-core machine, paid by the first visitor a
new process serves. gunicorn starts a new worker after every GUNICORN_MAX_REQUESTS requests
of the last one, so under load that visitor comes every few seconds. `warm_up` does that work
before the process takes its first request. It reads no database and sends nothing anywhere:
a worker starts as it did, whatever the state of PostgreSQL and Redis.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import django.forms
from django.conf import settings
from django.forms.renderers import get_default_renderer
from django.template import engines
from django.template.backends.django import DjangoTemplates
from django.template.loader import get_template
from django.urls import get_resolver, reverse

logger = logging.getLogger(__name__)

WIDGETS = Path(django.forms.__file__).parent / "templates"


def warm_up() -> None:
    """Import, compile and read what the first requests would; a failure here is logged and
    left to the request that needs the piece, which then fails or succeeds as it would have."""
    try:
        _warm_up()
    except Exception:
        logger.exception("warming up the web process failed; its first requests will do it")


def _warm_up() -> None:
    # The URLconf's modules (views, the API and its pydantic schemas), and the reverse table.
    get_resolver().url_patterns  # noqa: B018 - reading it imports the URLconf
    reverse("home")
    # Every template of the project, compiled into the cached loader.
    backend = engines["django"]
    folders = backend.engine.dirs if isinstance(backend, DjangoTemplates) else []
    for folder in map(Path, folders):
        for path in sorted(folder.rglob("*.html")):
            get_template(path.relative_to(folder).as_posix())
    # The form widgets' templates, which the form renderer compiles with an engine of its own.
    renderer = get_default_renderer()
    for path in sorted((WIDGETS / "django" / "forms").rglob("*.html")):
        renderer.get_template(path.relative_to(WIDGETS).as_posix())
    # What the plan page reads once per process: its partials, its templates' digests, the
    # rollback texts (imported here: this module is imported before the apps are ready).
    from upgrade_planner.domain import rollback
    from upgrade_planner.web import fragments

    fragments.warm_up()
    rollback.stages()
    # The Redis client library, which Django's backend imports on the first cache call.
    if "redis" in str(settings.CACHES["default"]["BACKEND"]).lower():
        importlib.import_module("redis")
