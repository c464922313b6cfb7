"""The bench modules import one way: the entry points (run, drill, profile_paths) take what
they share from bench/harness.py (and processes, mixed), never from one another; no import
cycle, however late the import, and no module reaches for another's private names.

Read from the source with `ast`, so imports inside functions count as well.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bench"
ENTRY_POINTS = frozenset({"bench.run", "bench.drill", "bench.profile_paths"})


@dataclass(frozen=True)
class Import:
    importer: str
    module: str  # the module imported, or imported from, as an absolute name
    name: str | None  # the name taken from it (`from module import name`), None for `import`
    line: int


def bench_sources() -> tuple[dict[str, str], frozenset[str]]:
    """Every module of the bench package by its dotted name, and the names that are packages."""
    sources: dict[str, str] = {}
    packages: set[str] = set()
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        sources[".".join(parts)] = path.read_text()
    return sources, frozenset(packages)


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[Import]:
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                # `from . import x` in a package's __init__ means the package itself.
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            found += [Import(module, target, alias.name, node.lineno) for alias in node.names]
    return found


def all_imports(sources: dict[str, str], packages: frozenset[str]) -> list[Import]:
    return [
        found
        for module, source in sorted(sources.items())
        for found in imports_of(module, source, is_package=module in packages)
    ]


def import_graph(sources: dict[str, str], packages: frozenset[str]) -> dict[str, set[str]]:
    """Which of the given modules each one imports (`from pkg import mod` imports `pkg.mod`)."""
    graph: dict[str, set[str]] = {module: set() for module in sources}
    for found in all_imports(sources, packages):
        submodule = f"{found.module}.{found.name}" if found.name else ""
        if submodule in sources:
            graph[found.importer].add(submodule)
        elif found.module in sources:
            graph[found.importer].add(found.module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles, each as the sorted modules of one strongly connected component
    (Tarjan's algorithm); a module importing itself is a cycle of one."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowest[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in on_stack:
                lowest[module] = min(lowest[module], index[imported])
        if lowest[module] == index[module]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in graph.get(module, ()):
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(sources: dict[str, str], packages: frozenset[str]) -> list[str]:
    """`from m import _name`, and imports of a module whose dotted name has a private part."""
    return [
        f"{found.importer}:{found.line} imports "
        + (f"{found.name} from {found.module}" if found.name else found.module)
        for found in all_imports(sources, packages)
        if (found.name is not None and private(found.name))
        or any(private(part) for part in found.module.split("."))
    ]


# --- The bench package ---------------------------------------------------------------------


def test_the_check_reads_every_bench_module_and_their_imports() -> None:
    sources, packages = bench_sources()
    graph = import_graph(sources, packages)

    assert {"bench", "bench.harness", "bench.run", "bench.drill", "bench.processes"} <= set(sources)
    assert packages == {"bench"}
    assert "bench.harness" in graph["bench.run"]
    assert "bench.processes" in graph["bench.drill"]


def test_no_import_cycle_between_bench_modules() -> None:
    sources, packages = bench_sources()

    assert cycles(import_graph(sources, packages)) == []


def test_no_bench_module_imports_a_private_name_from_another_module() -> None:
    sources, packages = bench_sources()

    assert private_imports(sources, packages) == []


def test_no_bench_module_imports_an_entry_point() -> None:
    sources, packages = bench_sources()
    graph = import_graph(sources, packages)

    importers = {
        f"{module} imports {imported}"
        for module, imported_modules in graph.items()
        for imported in imported_modules & ENTRY_POINTS
    }
    assert importers == set()


# --- The checker, on small examples ----------------------------------------------------------


def test_the_cycle_check_finds_a_cycle_closed_by_an_import_inside_a_function() -> None:
    sources = {
        "pkg.a": "from pkg.b import helper\n",
        "pkg.b": "def late() -> None:\n    from pkg import a\n",
        "pkg.c": "import pkg.a\n",
    }

    assert cycles(import_graph(sources, frozenset())) == [["pkg.a", "pkg.b"]]


def test_the_cycle_check_resolves_relative_imports_and_sees_a_module_importing_itself() -> None:
    sources = {
        "pkg": "from . import d\n",
        "pkg.d": "from .e import thing\n",
        "pkg.e": "from ..pkg.d import other\n",
        "pkg.s": "from pkg import s\n",
    }

    assert cycles(import_graph(sources, frozenset({"pkg"}))) == [["pkg.d", "pkg.e"], ["pkg.s"]]


def test_the_cycle_check_passes_imports_that_run_one_way() -> None:
    sources = {
        "pkg.shared": "import os\n",
        "pkg.run": "from pkg.shared import ROOT\nfrom pkg import tools\n",
        "pkg.tools": "from pkg.shared import ROOT\n",
    }

    graph = import_graph(sources, frozenset())

    assert graph == {
        "pkg.shared": set(),
        "pkg.run": {"pkg.shared", "pkg.tools"},
        "pkg.tools": {"pkg.shared"},
    }
    assert cycles(graph) == []


def test_the_private_name_check_finds_private_names_and_modules_but_not_dunders() -> None:
    sources = {
        "pkg.a": (
            "from __future__ import annotations\n"
            "from pkg.b import _hidden, shown\n"
            "from pkg.c import __version__\n"
            "def later() -> None:\n"
            "    import pkg._internal\n"
        ),
    }

    assert private_imports(sources, frozenset()) == [
        "pkg.a:2 imports _hidden from pkg.b",
        "pkg.a:5 imports pkg._internal",
    ]
