"""The import-graph checks of tests/import_graph.py on small made-up packages, so that each can
be seen to fail: reading a package, resolving its imports, the cycles and the private names."""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import (
    Import,
    Package,
    cycles,
    import_graph,
    package_imports,
    private_imports,
    read_package,
)


def test_reading_a_package_names_its_modules_and_packages_and_leaves_out_migrations(
    tmp_path: Path,
) -> None:
    for path, source in {
        "pkg/__init__.py": "",
        "pkg/tools.py": "import os\n",
        "pkg/app/__init__.py": "",
        "pkg/app/models.py": "from pkg import tools\n",
        "pkg/app/migrations/__init__.py": "",
        "pkg/app/migrations/0001_initial.py": "from pkg.app import models\n",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(source)

    package = read_package("pkg", tmp_path)

    assert package.sources == {
        "pkg": "",
        "pkg.tools": "import os\n",
        "pkg.app": "",
        "pkg.app.models": "from pkg import tools\n",
    }
    assert package.packages == {"pkg", "pkg.app"}


def test_the_cycle_check_finds_a_cycle_closed_by_an_import_inside_a_function() -> None:
    package = Package(
        {
            "pkg.a": "from pkg.b import helper\n",
            "pkg.b": "def late() -> None:\n    from pkg import a\n",
            "pkg.c": "import pkg.a\n",
        }
    )

    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b"]]


def test_the_cycle_check_resolves_relative_imports_and_sees_a_module_importing_itself() -> None:
    package = Package(
        {
            "pkg": "from . import d\n",
            "pkg.d": "from .e import thing\n",
            "pkg.e": "from ..pkg.d import other\n",
            "pkg.s": "from pkg import s\n",
        },
        frozenset({"pkg"}),
    )

    assert cycles(import_graph(package)) == [["pkg.d", "pkg.e"], ["pkg.s"]]


def test_the_cycle_check_passes_imports_that_run_one_way() -> None:
    package = Package(
        {
            "pkg.shared": "import os\n",
            "pkg.run": "from pkg.shared import ROOT\nfrom pkg import tools\n",
            "pkg.tools": "from pkg.shared import ROOT\n",
        }
    )

    graph = import_graph(package)

    assert graph == {
        "pkg.shared": set(),
        "pkg.run": {"pkg.shared", "pkg.tools"},
        "pkg.tools": {"pkg.shared"},
    }
    assert cycles(graph) == []


def test_the_private_name_check_finds_private_names_and_modules_not_dunders_or_own_names() -> None:
    package = Package(
        {
            "pkg": "",
            "pkg.a": (
                "from __future__ import annotations\n"
                "from pkg.b import _hidden, shown\n"
                "from pkg.c import __version__, __mangled\n"
                "def later() -> None:\n"
                "    import pkg._internal\n"
                "    from pkg.a import _cache\n"
            ),
            "pkg.b": "",
            "pkg.c": "",
            "pkg.services": "",
            "pkg.services.reconcile": "",
            "pkg.services.creation": "from .reconcile import _steps_reconcile, __all__\n",
        },
        frozenset({"pkg", "pkg.services"}),
    )

    imports = package_imports(package)

    assert [found for found in imports if found.importer == "pkg.services.creation"] == [
        Import("pkg.services.creation", "pkg.services.reconcile", "__all__", 1),
        Import("pkg.services.creation", "pkg.services.reconcile", "_steps_reconcile", 1),
    ]
    assert private_imports(imports) == [
        "pkg.a:2 imports _hidden from pkg.b",
        "pkg.a:3 imports __mangled from pkg.c",
        "pkg.a:5 imports pkg._internal",
        "pkg.services.creation:1 imports _steps_reconcile from pkg.services.reconcile",
    ]
