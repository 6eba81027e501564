"""The ``pyrodisent`` command: ``list`` shows every registered name with one line on what it is."""
import io
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pyrodisent.cli import main, registries

ROOT = Path(__file__).resolve().parents[1]


def listing(*kinds):
    out = io.StringIO()
    assert main(["list", *kinds], out=out) == 0
    return out.getvalue()


def test_list_shows_every_registered_name_with_its_description():
    text = listing()
    for kind, registry in registries().items():
        assert f"{kind} ({len(registry.names())})" in text
        for name in registry.names():
            description = registry.describe(name)
            assert description, f"{kind} {name!r} has no docstring to describe it"
            assert not description.startswith(":param"), f"{kind} {name!r}: the first docstring line is a parameter"
            assert f"  {name} " in text and description in text
    assert "svae_plus" in text and "sVAE+: the mean shift of each action" in text


def test_list_takes_kinds_and_refuses_unknown_ones(capsys):
    text = listing("kernels")
    assert text.startswith("kernels (") and "rbf" in text and "svae_plus" not in text and "models (" not in text
    with pytest.raises(SystemExit) as exit_:
        main(["list", "modles"])
    assert exit_.value.code == 2
    assert "unknown kind 'modles'; expected any of models, networks, likelihoods, kernels, datasets" in (
        capsys.readouterr().err)


def test_the_command_is_installed_and_runs_as_a_module():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"pyrodisent": "pyrodisent.cli:main"}
    done = subprocess.run([sys.executable, "-m", "pyrodisent", "list", "likelihoods"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "negative_binomial" in done.stdout and "NB(mean μ" in done.stdout
