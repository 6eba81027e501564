"""Every module imports on its own, without a cycle, a private dependency module, or a backend switch.

A cycle between modules (``pyrodisent.data.undirected_graphs → pyrodisent.data.ground_truth → pyrodisent/data/__init__ →
pyrodisent.data.graphs → pyrodisent.data.undirected_graphs`` was one) works or fails depending on which module a user
imports first, so it is checked two ways: each module imported first, in a clean interpreter state, and
the static graph of module-level imports. Importing must not choose matplotlib's backend (the user's
choice stands), and no module-level import reaches into scikit-learn's or Pyro's private modules
(a release that moves them must not break ``import pyrodisent``).
"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

ROOT = Path(__file__).resolve().parents[1]
# Where each package's modules live: the zoo (top-level ``models/``) is installed as ``pyrodisent.zoo``.
PACKAGE_FOLDERS = {"pyrodisent": ROOT / "pyrodisent", "pyrodisent.zoo": ROOT / "models"}


def _modules() -> Dict[str, Path]:
    """Dotted name → source file of every module of the package (packages by their ``__init__.py``)."""
    modules = {}
    for package, folder in PACKAGE_FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _is_package(name: str, modules: Dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _module_level_imports(tree: ast.Module):
    """Import statements run when the module is imported (not those inside functions or TYPE_CHECKING)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                pending.extend(node.body + node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            pending.extend(node.body)
            pending.extend(getattr(node, "orelse", []) + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                pending.extend(handler.body)


def import_graph(modules: Dict[str, Path]) -> Dict[str, Set[str]]:
    """Module → the package modules whose code runs when it is imported (module-level imports).

    Importing ``a.b.c`` from outside ``a.b`` first runs ``a/b/__init__.py``: those enclosing packages are
    edges too (the ones that already enclose the importing module are initialised by then).
    """
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if _is_package(name, modules) else name.rpartition(".")[0]
        for node in _module_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                if target not in modules or target == name:
                    continue
                graph[name].add(target)
                parts = target.split(".")
                for depth in range(2, len(parts)):  # enclosing packages below the root
                    enclosing = ".".join(parts[:depth])
                    if enclosing in modules and not (name == enclosing or name.startswith(enclosing + ".")):
                        graph[name].add(enclosing)
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle ``[a, b, …, a]`` of the directed graph, or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: finished
    path: List[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_cycle_finder_finds_the_cycle_through_a_package_init():
    # The shape of the old cycle: graphs imports data.ground_truth, so data/__init__ runs first,
    # and it imports data.graphs, which imports graphs.
    graph = {"p.graphs": {"p.data", "p.data.ground_truth"}, "p.data": {"p.data.graphs", "p.data.ground_truth"},
             "p.data.graphs": {"p.graphs"}, "p.data.ground_truth": set()}
    assert find_cycle(graph) == ["p.data", "p.data.graphs", "p.graphs", "p.data"]
    graph["p.graphs"] = {"p.random_state"}
    graph["p.random_state"] = set()
    assert find_cycle(graph) is None


def test_import_graph_follows_package_inits_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "p"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "__init__.py").write_text("from .graphs import G\n")
    (package / "data" / "graphs.py").write_text("from p import graphs\n")
    (package / "data" / "ground_truth.py").write_text("import numpy\n")
    (package / "graphs.py").write_text(
        "from typing import TYPE_CHECKING\nfrom p.data.ground_truth import x\n"
        "if TYPE_CHECKING:\n    from p import other\ndef f():\n    import p.other\n")
    (package / "other.py").write_text("")
    monkeypatch.setitem(PACKAGE_FOLDERS, "p", package)
    modules = {name: path for name, path in _modules().items() if name == "p" or name.startswith("p.")}
    graph = import_graph(modules)
    assert graph["p.graphs"] == {"p.data", "p.data.ground_truth"}  # not the TYPE_CHECKING or function imports
    assert graph["p.data"] == {"p.data.graphs"}
    assert graph["p.data.graphs"] == {"p.graphs"}
    assert find_cycle(graph) == ["p.data", "p.data.graphs", "p.graphs", "p.data"]


def test_module_level_imports_have_no_cycle():
    graph = import_graph(_modules())
    assert len(graph) > 50  # the walk found the package (a wrong root would find nothing and pass)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_every_module_imports_first_and_leaves_the_matplotlib_backend_alone(tmp_path):
    """Each module imported as the first pyrodisent module of the interpreter (third-party libraries,
    which cannot take part in a cycle of ours, stay loaded between modules to keep this fast), after the
    user chose the "svg" backend; no import may call ``matplotlib.use`` or change the backend."""
    names = sorted(_modules())
    script = (
        "import importlib, json, sys, traceback\n"
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "calls = []\n"
        "matplotlib.use = lambda *args, **kwargs: calls.append(repr(args))\n"
        "failures = {}\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'pyrodisent' or m.startswith('pyrodisent.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException:\n"
        "        failures[name] = traceback.format_exc(limit=-3)\n"
        "    if calls or matplotlib.get_backend() != 'svg':\n"
        "        failures[name] = f'matplotlib.use{calls}, backend now {matplotlib.get_backend()!r}'\n"
        "        calls.clear()\n"
        "        matplotlib.rcParams['backend'] = 'svg'\n"
        "print(json.dumps(failures))\n"
    )
    # From an empty folder, so the installed package (not the tests folder) is what is imported; without
    # MPLBACKEND, so the backend is the one the script chose.
    environment = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(f"{name}:\n{error}" for name, error in failures.items())


#: dependencies whose private modules pyrodisent must not import when it is imported.
GUARDED_DEPENDENCIES = ("sklearn", "pyro")


def _private_imports(modules: Dict[str, Path]) -> List[str]:
    """``module: import`` for each module-level import of a private name of a guarded dependency."""
    found = []
    for name, path in modules.items():
        for node in _module_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif node.level == 0 and node.module:
                imported = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for dotted in imported:
                parts = dotted.split(".")
                if parts[0] in GUARDED_DEPENDENCIES and any(part.startswith("_") for part in parts[1:]):
                    found.append(f"{name}: {dotted}")
    return found


def test_no_module_level_import_of_a_private_dependency_module(tmp_path):
    assert not _private_imports(_modules())
    # The check sees one (the old diagnostics import), and ignores one made inside a function.
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "__init__.py").write_text(
        "from pyro.poutine.subsample_messenger import _Subsample\n"
        "def losses():\n    from sklearn._loss.loss import HalfBinomialLoss\n")
    assert _private_imports({"p": tmp_path / "p" / "__init__.py"}) == [
        "p: pyro.poutine.subsample_messenger._Subsample"]
