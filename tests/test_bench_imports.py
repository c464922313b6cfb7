"""The bench modules import one way: the entry points (run, drill, profile_paths) take what
they share from bench/harness.py (and processes, mixed), never from one another; no import
cycle, however late the import, and no module reaches for another's private names.

Read from the source with `ast` (tests/import_graph.py), so imports inside functions count as
well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tests.import_graph import cycles, import_graph, package_imports, private_imports, read_package

PACKAGE = "bench"
ENTRY_POINTS = frozenset({"bench.run", "bench.drill", "bench.profile_paths"})


def entry_point_imports(graph: Mapping[str, Iterable[str]]) -> set[str]:
    """Each import of an entry point, as "module imports entry point", in a graph of module →
    imported modules; empty when there is none."""
    return {
        f"{module} imports {imported}"
        for module, imported_modules in graph.items()
        for imported in set(imported_modules) & ENTRY_POINTS
    }


# --- The bench package ---------------------------------------------------------------------


def test_the_check_reads_every_bench_module_and_their_imports() -> None:
    package = read_package(PACKAGE)
    graph = import_graph(package)

    assert {"bench", "bench.harness", "bench.run", "bench.drill", "bench.processes"} <= set(
        package.sources
    )
    assert package.packages == {"bench"}
    assert "bench.harness" in graph["bench.run"]
    assert "bench.processes" in graph["bench.drill"]


def test_no_import_cycle_between_bench_modules() -> None:
    assert cycles(import_graph(read_package(PACKAGE))) == []


def test_no_bench_module_imports_a_private_name_from_another_module() -> None:
    assert private_imports(package_imports(read_package(PACKAGE))) == []


def test_no_bench_module_imports_an_entry_point() -> None:
    assert entry_point_imports(import_graph(read_package(PACKAGE))) == set()


# --- The entry-point check, on a small example (the cycle and private-name checks are tried in
# test_import_graph.py) ---------------------------------------------------------------------


def test_the_entry_point_check_finds_an_entry_point_imported_by_another_module() -> None:
    graph = {
        "bench.run": {"bench.harness", "bench.processes"},
        "bench.drill": {"bench.harness", "bench.run"},
        "bench.harness": {"bench.profile_paths"},
        "bench.processes": set(),
    }

    assert entry_point_imports(graph) == {
        "bench.drill imports bench.run",
        "bench.harness imports bench.profile_paths",
    }
