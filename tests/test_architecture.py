"""The layers of docs/architecture.md hold: imports run one way, without cycles.

domain (pure) ← installations ← plans (models, services, jobs) ← web, api and the Celery tasks.
The project's own plumbing (settings, the Celery app, the cache backend) sits beside them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        if "migrations" in relative.parts:
            continue
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(
    module: str, source: str, known: Iterable[str], *, is_package: bool = False
) -> set[tuple[str, str]]:
    """(imported module, imported name or "") for every import of a project module, at module
    level or inside functions. `from a import b` counts as an import of `a.b` when that is a
    module, else of `a` (naming `b`)."""
    known = set(known)
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add((submodule, "") if submodule in known else (base, alias.name))
    return {(name, what) for name, what in found if name.split(".")[0] == PACKAGE}


def import_graph(root: Path = ROOT) -> dict[str, set[tuple[str, str]]]:
    modules = project_modules(root)
    return {
        module: imports_of(
            module, path.read_text("utf-8"), modules, is_package=path.name == "__init__.py"
        )
        for module, path in modules.items()
    }


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (or a module importing itself),
    found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_violations(graph: Mapping[str, Iterable[tuple[str, str]]]) -> list[str]:
    problems = []
    for module, imported in graph.items():
        mine = layer_of(module)
        for target, _ in imported:
            theirs = layer_of(target)
            if target in TASK_MODULES and module not in TASK_MODULES:
                problems.append(f"{module} imports the task module {target}")
            elif mine == "domain" and theirs != "domain":
                problems.append(f"{module} (domain) imports {target}")
            elif mine and theirs and LAYERS[theirs] > LAYERS[mine]:
                problems.append(f"{module} ({mine}) imports {target} ({theirs})")
    return sorted(problems)


def private_imports(graph: Mapping[str, Iterable[tuple[str, str]]]) -> list[str]:
    return sorted(
        f"{module} imports {name} from {target}"
        for module, imported in graph.items()
        for target, name in imported
        if name.startswith("_") and not name.startswith("__") and target != module
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, set[tuple[str, str]]]:
    return import_graph()


def test_the_project_has_modules_in_every_layer(graph: dict[str, set[tuple[str, str]]]) -> None:
    layers = {layer_of(module) for module in graph}
    assert {"domain", "installations", "plans", "top"} <= layers


def test_no_import_cycle_between_modules_of_the_project(
    graph: dict[str, set[tuple[str, str]]],
) -> None:
    edges = {module: {target for target, _ in imported} for module, imported in graph.items()}
    assert cycles(edges) == []


def test_imports_run_from_the_web_api_and_tasks_down_to_the_domain(
    graph: dict[str, set[tuple[str, str]]],
) -> None:
    assert layer_violations(graph) == []


def test_no_module_imports_a_private_name_of_another(
    graph: dict[str, set[tuple[str, str]]],
) -> None:
    assert private_imports(graph) == []


# The checks themselves, on small made-up graphs, so that they can be seen to fail.


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import() -> None:
    known = {"upgrade_planner.plans.jobs", "upgrade_planner.plans.tasks"}
    jobs = imports_of(
        "upgrade_planner.plans.jobs",
        "def send():\n    from upgrade_planner.plans.tasks import run_job\n",
        known,
    )
    tasks = imports_of(
        "upgrade_planner.plans.tasks", "from upgrade_planner.plans import jobs\n", known
    )
    edges = {
        "upgrade_planner.plans.jobs": {target for target, _ in jobs},
        "upgrade_planner.plans.tasks": {target for target, _ in tasks},
    }
    assert cycles(edges) == [["upgrade_planner.plans.jobs", "upgrade_planner.plans.tasks"]]


def test_the_layer_check_refuses_an_upward_import_and_an_import_of_the_tasks() -> None:
    graph = {
        "upgrade_planner.installations.forms": {("upgrade_planner.plans.models", "")},
        "upgrade_planner.domain.planner": {("upgrade_planner.settings", "")},
        "upgrade_planner.plans.services": {("upgrade_planner.plans.tasks", "")},
        "upgrade_planner.web.views": {("upgrade_planner.domain.vocabulary", "")},
    }
    assert layer_violations(graph) == [
        "upgrade_planner.domain.planner (domain) imports upgrade_planner.settings",
        "upgrade_planner.installations.forms (installations) imports "
        "upgrade_planner.plans.models (plans)",
        "upgrade_planner.plans.services imports the task module upgrade_planner.plans.tasks",
    ]


def test_the_private_name_check_allows_dunders_and_refuses_underscored_names() -> None:
    known = {"upgrade_planner.plans.services.reconcile"}
    found = imports_of(
        "upgrade_planner.plans.services.creation",
        "from .reconcile import _steps_reconcile, __all__\n",
        known,
    )
    assert found == {
        ("upgrade_planner.plans.services.reconcile", "_steps_reconcile"),
        ("upgrade_planner.plans.services.reconcile", "__all__"),
    }
    assert private_imports({"upgrade_planner.plans.services.creation": found}) == [
        "upgrade_planner.plans.services.creation imports _steps_reconcile from "
        "upgrade_planner.plans.services.reconcile"
    ]
