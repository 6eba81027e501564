"""Every third-party package the library or the zoo imports is declared in pyproject.toml."""
import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: import name → distribution name, where they differ.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "pyro": "pyro-ppl", "yaml": "pyyaml"}


def _declared():
    """The dependencies and the optional extras a feature imports (ray for sweep --ray), not the test tools."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for name, group in project.get("optional-dependencies", {}).items() if name != "test" for r in group]
    requirements = project["dependencies"] + extras
    return {re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower() for requirement in requirements}


def _imported(folders):
    """Top-level names of every import (module level or inside functions) in the folders' sources."""
    names = {}
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    names.setdefault(module.split(".")[0], str(path.relative_to(ROOT)))
    return names


def test_every_imported_package_is_declared():
    imported = _imported([ROOT / "pyrodisent", ROOT / "models"])
    assert {"torch", "pandas", "xarray", "joblib", "sklearn"} <= set(imported)  # the walk saw the sources
    third_party = {name: path for name, path in imported.items()
                   if name not in sys.stdlib_module_names and name not in ("pyrodisent", "__future__")}
    missing = {DISTRIBUTIONS.get(name, name): path for name, path in third_party.items()
               if DISTRIBUTIONS.get(name, name).lower() not in _declared()}
    assert not missing, f"imported but not declared in pyproject.toml dependencies (first importer): {missing}"
