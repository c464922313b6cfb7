"""A package's imports read from its source with `ast`: which module imports which (at module
level or inside functions, relative imports resolved), the cycles among them, and the imports
of another module's private names.

Shared by the tests that hold the app's layers (test_architecture.py) and the bench's entry
points (test_bench_imports.py); the checks themselves are tested in test_import_graph.py.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Package:
    """The source of every module of a package by dotted name, and the names among them that
    are packages themselves (an `__init__.py`, where `from . import x` means the package)."""

    sources: Mapping[str, str]
    packages: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Import:
    """One import in `importer` at `line`. `module` is absolute; `name` is what
    `from module import name` takes, None where a whole module is imported (`import a.b`, or
    `from a import b` when `a.b` is a module of the package)."""

    importer: str
    module: str
    name: str | None
    line: int


def read_package(name: str, root: Path = ROOT) -> Package:
    """The package `name` as it stands below `root`: every module but its migrations."""
    sources: dict[str, str] = {}
    packages: set[str] = set()
    for path in sorted((root / name).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        sources[".".join(parts)] = path.read_text("utf-8")
    return Package(sources, frozenset(packages))


def imports_of(
    module: str, source: str, modules: Collection[str] = (), *, is_package: bool = False
) -> list[Import]:
    """Every import in the source of `module`, at module level or inside functions, with
    relative imports made absolute. `from a import b` is an import of the module `a.b` when
    that is one of `modules`, else of `a` naming `b`."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append(
                    Import(module, submodule, None, node.lineno)
                    if submodule in modules
                    else Import(module, base, alias.name, node.lineno)
                )
    return found


def package_imports(package: Package) -> list[Import]:
    """Every import of every module of the package, by module and line."""
    return sorted(
        (
            found
            for module, source in package.sources.items()
            for found in imports_of(
                module, source, package.sources, is_package=module in package.packages
            )
        ),
        key=lambda found: (found.importer, found.line, found.module, found.name or ""),
    )


def import_graph(package: Package) -> dict[str, set[str]]:
    """Each module of the package, with the modules of the package it imports."""
    graph: dict[str, set[str]] = {module: set() for module in package.sources}
    for found in package_imports(package):
        if found.module in graph:
            graph[found.importer].add(found.module)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles, each as the sorted modules of one strongly connected group of more
    than one module (Tarjan's algorithm), or a module importing itself; [] when there is none."""
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
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph.get(module, ()):
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def is_private(name: str) -> bool:
    """Whether a name is private by convention: `_x` or `__x`, but not a dunder `__x__`."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(imports: Iterable[Import]) -> list[str]:
    """Each private name taken from another module, as "importer:line imports _name from
    module", and each import of a module whose dotted name has a private part, as
    "importer:line imports module"; by module and line, [] when there is none."""
    return [
        f"{found.importer}:{found.line} imports "
        + (f"{found.name} from {found.module}" if found.name is not None else found.module)
        for found in sorted(
            imports, key=lambda found: (found.importer, found.line, found.module, found.name or "")
        )
        if found.module != found.importer
        and (
            (found.name is not None and is_private(found.name))
            or any(is_private(part) for part in found.module.split("."))
        )
    ]
