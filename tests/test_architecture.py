"""The layers of docs/architecture.md hold: imports run one way, without cycles.

domain (pure) ← installations ← plans (models, services, jobs) ← web, api and the Celery tasks.
The project's own plumbing (settings, the Celery app, the cache backend) sits beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from tests.import_graph import (
    Package,
    cycles,
    import_graph,
    package_imports,
    private_imports,
    read_package,
)

PACKAGE = "upgrade_planner"

# Higher may import lower (and its own layer); never the other way.
LAYERS = {"domain": 0, "installations": 1, "plans": 2, "top": 3}
# Modules of the project itself, not of a layer: anything above the domain may use them.
PLUMBING = {
    "upgrade_planner",
    "upgrade_planner.settings",
    "upgrade_planner.celery",
    "upgrade_planner.cache",
    "upgrade_planner.health",
    "upgrade_planner.bulk",
}
TASK_MODULES = {"upgrade_planner.plans.tasks"}


def layer_of(module: str) -> str | None:
    """The layer a module of the project belongs to; None for the plumbing."""
    if module in PLUMBING:
        return None
    if module in TASK_MODULES:
        return "top"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in {"domain", "installations", "plans"}:
        return parts[1]
    return "top"  # web, api, urls, views, wsgi


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Each import, in a graph of module → imported modules, that runs up the layers, leaves
    the domain or reaches the task module, sorted; [] when there is none."""
    problems = []
    for module, imported in graph.items():
        mine = layer_of(module)
        for target in imported:
            theirs = layer_of(target)
            if target in TASK_MODULES and module not in TASK_MODULES:
                problems.append(f"{module} imports the task module {target}")
            elif mine == "domain" and theirs != "domain":
                problems.append(f"{module} (domain) imports {target}")
            elif mine and theirs and LAYERS[theirs] > LAYERS[mine]:
                problems.append(f"{module} ({mine}) imports {target} ({theirs})")
    return sorted(problems)


@pytest.fixture(scope="module")
def package() -> Package:
    return read_package(PACKAGE)


@pytest.fixture(scope="module")
def graph(package: Package) -> dict[str, set[str]]:
    return import_graph(package)


def test_the_project_has_modules_in_every_layer(graph: dict[str, set[str]]) -> None:
    layers = {layer_of(module) for module in graph}
    assert {"domain", "installations", "plans", "top"} <= layers


def test_no_import_cycle_between_modules_of_the_project(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_imports_run_from_the_web_api_and_tasks_down_to_the_domain(
    graph: dict[str, set[str]],
) -> None:
    assert layer_violations(graph) == []


def test_no_module_imports_a_private_name_of_another(package: Package) -> None:
    assert private_imports(package_imports(package)) == []


# The layer check itself, on a small made-up graph, so that it can be seen to fail (the cycle
# and private-name checks are tried in test_import_graph.py).


def test_the_layer_check_refuses_an_upward_import_and_an_import_of_the_tasks() -> None:
    graph = {
        "upgrade_planner.installations.forms": {"upgrade_planner.plans.models"},
        "upgrade_planner.domain.planner": {"upgrade_planner.settings"},
        "upgrade_planner.plans.services": {"upgrade_planner.plans.tasks"},
        "upgrade_planner.web.views": {"upgrade_planner.domain.vocabulary"},
    }
    assert layer_violations(graph) == [
        "upgrade_planner.domain.planner (domain) imports upgrade_planner.settings",
        "upgrade_planner.installations.forms (installations) imports "
        "upgrade_planner.plans.models (plans)",
        "upgrade_planner.plans.services imports the task module upgrade_planner.plans.tasks",
    ]
