"""The installed layout: the zoo is ``pyrodisent.zoo``, and nothing installs a top-level ``models``."""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["packages"], config.get("package-dir", {})


def test_every_package_folder_is_declared_under_the_project_namespace():
    packages, package_dir = _declared()
    assert all(name == "pyrodisent" or name.startswith("pyrodisent.") for name in packages), packages
    assert package_dir == {"pyrodisent.zoo": "models"}
    on_disk = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "pyrodisent").rglob("__init__.py")}
    on_disk |= {"pyrodisent.zoo." + ".".join(path.parent.relative_to(ROOT / "models").parts)
                for path in (ROOT / "models").rglob("__init__.py") if path.parent != ROOT / "models"}
    on_disk.add("pyrodisent.zoo")
    assert on_disk == set(packages), f"pyproject.toml lists {sorted(packages)}, the folders are {sorted(on_disk)}"


def test_the_zoo_imports_under_pyrodisent_and_no_models_module_is_installed(tmp_path):
    # Run from an empty folder, so neither the repository root nor the tests are on sys.path.
    script = (
        "import importlib.util, pyrodisent.zoo\n"
        "from pyrodisent.registry import MODELS\n"
        "assert 'ivae' in MODELS.names()\n"
        "print(importlib.util.find_spec('models'))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "None"


def test_models_registry_loads_the_zoo_on_first_lookup(tmp_path):
    script = "from pyrodisent.registry import MODELS\nprint(type(MODELS.get('svae_plus')).__name__, MODELS.get('svae_plus').__module__)\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.split()[-1] == "pyrodisent.zoo.svae_plus"
