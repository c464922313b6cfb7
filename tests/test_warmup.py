"""A web process does its first-request work when it starts (upgrade_planner.warmup): the
visitor a new worker serves first pays none of it, and starting touches no service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from upgrade_planner import warmup

ROOT = Path(__file__).resolve().parent.parent

# Run by a fresh Python: load the WSGI application as gunicorn does, then report what the
# process already holds before any request.
PROBE = """
import json, sys
from upgrade_planner.wsgi import application
from django.db import connections
from django.template import engines
from django.forms.renderers import get_default_renderer
from django.urls import get_resolver
loader = engines["django"].engine.template_loaders[0]
widgets = get_default_renderer().engine.engine.template_loaders[0]
print(json.dumps({
    "api_imported": "upgrade_planner.api.endpoints" in sys.modules,
    "views_imported": "upgrade_planner.web.views" in sys.modules,
    "reverse_table_built": get_resolver()._populated,
    "templates": sorted(loader.get_template_cache),
    "widget_templates": sorted(widgets.get_template_cache),
    "database_connections": [alias for alias in connections if connections[alias].connection],
}))
"""


def started_process() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        # SQLite at a path that does not exist, and Redis on a port nothing listens on: a
        # process that touched either while starting would fail or hang here.
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "upgrade_planner.settings",
            "DATABASE_URL": "sqlite:////nonexistent/warmup.sqlite3",
            "REDIS_URL": "redis://127.0.0.1:9/0",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_a_new_web_process_has_its_urls_and_templates_ready_before_its_first_request():
    report = started_process()

    assert report["api_imported"] and report["views_imported"]
    assert report["reverse_table_built"]
    templates = report["templates"]
    assert isinstance(templates, list)
    for name in ("plans/plan.html", "plans/_schedule.html", "plans/_print_runbook.html"):
        assert name in templates
    # The form renderer compiles its widgets with an engine of its own.
    widget_templates = report["widget_templates"]
    assert isinstance(widget_templates, list)
    assert "django/forms/widgets/input.html" in widget_templates


def test_starting_a_web_process_opens_no_database_connection():
    assert started_process()["database_connections"] == []


def test_a_failed_warm_up_is_logged_and_does_not_stop_the_process(monkeypatch, caplog):
    def broken() -> None:
        raise RuntimeError("template missing")

    monkeypatch.setattr(warmup, "_warm_up", broken)

    warmup.warm_up()

    assert "warming up the web process failed" in caplog.text
