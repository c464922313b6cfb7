"""The domain package is pure: it runs without Django, a database or a network."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import upgrade_planner.domain

ROOT = Path(__file__).resolve().parents[2]

# Imports a module of the domain package while any import of these raises: if one of its
# modules (or anything they import) needs Django, the web stack or a job queue, this fails.
BLOCKED = ("django", "ninja", "celery", "kombu", "redis", "psycopg", "django_htmx")
PROBE = """
import importlib, importlib.abc, pkgutil, sys

BLOCKED = {blocked!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the domain package imported {{name}}")
        return None

sys.meta_path.insert(0, Refuse())
import upgrade_planner.domain as domain
for module in pkgutil.walk_packages(domain.__path__, "upgrade_planner.domain."):
    importlib.import_module(module.name)
print("imported", len(sys.modules))
"""


def domain_modules() -> list[str]:
    path = upgrade_planner.domain.__path__
    return [m.name for m in pkgutil.walk_packages(path, "upgrade_planner.domain.")]


def test_the_domain_package_has_modules_to_check() -> None:
    names = domain_modules()
    assert "upgrade_planner.domain.planner" in names
    assert "upgrade_planner.domain.evidence" in names


def test_no_module_of_the_domain_package_imports_django_or_the_web_stack() -> None:
    # upgrade_planner/__init__.py loads the Celery app; the probe must not run it, so it puts
    # an empty stand-in for the top package on the path first.
    result = subprocess.run(
        [sys.executable, "-c", _probe_source()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("imported")


def test_the_probe_refuses_django_so_it_can_fail() -> None:
    source = _probe_source().replace("import upgrade_planner.domain as domain", "import django")
    result = subprocess.run(
        [sys.executable, "-c", source], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "the domain package imported django" in result.stderr


def _probe_source() -> str:
    # Import the domain package without executing upgrade_planner/__init__.py (it loads the
    # Celery app, which is not part of the domain).
    stub = (
        "import sys, types\n"
        "top = types.ModuleType('upgrade_planner')\n"
        f"top.__path__ = [{str(ROOT / 'upgrade_planner')!r}]\n"
        "sys.modules['upgrade_planner'] = top\n"
    )
    return stub + PROBE.format(blocked=BLOCKED)
