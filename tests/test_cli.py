"""The ``pyrodisent`` command: ``list`` shows every registered name with one line on what it is."""
import io
import json
import math
import re
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
    assert "unknown kind 'modles'; expected any of models, protocols, networks, likelihoods, kernels, datasets" in (
        capsys.readouterr().err)


def test_the_command_is_installed_and_runs_as_a_module():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"pyrodisent": "pyrodisent.cli:main"}
    done = subprocess.run([sys.executable, "-m", "pyrodisent", "list", "likelihoods"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "negative_binomial" in done.stdout and "NB(mean μ" in done.stdout


# ------------------------------------------------------------------ train, evaluate, diagnose, compare
TINY = ["--set", "num_segments=4", "--set", "points_per_segment=16", "--set", "protocol.latent_dim=2", "--set",
        "hidden=[8]", "--set", "epochs=2", "--set", "batch_size=16", "--device", "cpu", "--quiet"]


def readme_prior(tmp_path):
    """The README's few-line prior (its code block up to the data), as a user's model file."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- readme-snippet: tests/test_readme.py runs this block -->")[1].split("```python")[1]
    model_file = tmp_path / "laplace_prior.py"
    model_file.write_text(block.split("\ndata = ")[0])
    return model_file


def test_a_user_model_file_trains_on_a_protocol_with_one_command(tmp_path):
    model_file = readme_prior(tmp_path)
    assert "class LaplaceVAE" in model_file.read_text()
    out = tmp_path / "run"
    assert main(["train", "--model-file", model_file, "--model", "laplace_vae", "--protocol", "nonstationary",
                 *TINY, "--out", out]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"mcc", "elbo", "khat_share_above_0_7"} <= set(metrics) and math.isfinite(metrics["elbo"])
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "laplace_vae" and config["model_file"] == str(model_file.resolve())
    assert main(["train", "--config", out / "config.json", "--device", "cpu", "--quiet", "--out", tmp_path / "again"]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["mcc"] == metrics["mcc"] and again["elbo"] == metrics["elbo"]


BAD_COMMANDS = [
    (["train", "--model", "ivea", "--protocol", "nonstationary"], r"unknown model 'ivea' \(did you mean 'ivae'\?\)"),
    (["train", "--model", "ivae", "--protocol", "nonstationry"],
     r"unknown protocol 'nonstationry' \(did you mean 'nonstationary'\?\)"),
    (["train", "--model", "cvae_corr", "--protocol", "nonstationary"],
     r"model 'cvae_corr' needs graph in each batch, which protocol 'nonstationary' does not provide \(its batches "
     r"carry: aux\); models that run on it: .*ivae"),
    (["train", "--model", "ivae", "--protocol", "nonstationary", "--set", "epoch=3"],
     r"--set epoch: unknown key; valid keys: .*trainer\.\{epochs, batch_size"),
    (["train", "--model", "ivae", "--protocol", "nonstationary", "--set", "epochs=three"],
     r"trainer\.epochs: expected an integer ≥ 1, got 'three'"),
    (["train", "--model", "ivae", "--protocol", "nonstationary", "--set", "model.beta=[1]"],
     r"model\.beta: expected a number, got \[1\]"),
    (["train", "--model", "ivae"], r"train needs --model and --protocol"),
    (["train", "--model-file", "no_such_prior.py", "--model", "x", "--protocol", "nonstationary"],
     r"--model-file no_such_prior.py: no such file"),
]


@pytest.mark.parametrize("argv, message", BAD_COMMANDS, ids=[" ".join(argv[1:5]) for argv, _ in BAD_COMMANDS])
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--device", "cpu", "--out", out])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and re.search(message, lines[0]), lines
    assert lines[0].startswith("pyrodisent train: error: ")
    assert not out.exists()


def test_evaluate_and_diagnose_a_finished_run_and_refuse_what_is_not_one(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "vae", "--protocol", "nonstationary", *TINY, "--out", out]) == 0
    trained = json.loads((out / "metrics.json").read_text())
    (out / "inference_data.nc").unlink()
    assert main(["evaluate", out, "--device", "cpu", "--quiet"]) == 0
    evaluated = json.loads((out / "metrics.json").read_text())
    for key in ("mcc", "mcc_sampled", "elbo", "khat_share_above_0_7"):
        assert evaluated[key] == trained[key], key
    assert main(["diagnose", out, "--device", "cpu", "--num-draws", "7", "--num-obs", "9"]) == 0
    import arviz as az

    idata = az.from_netcdf(out / "inference_data.nc")
    assert idata.log_likelihood.sizes["draw"] == 7 and idata.log_likelihood.sizes["obs"] == 9
    assert len(idata.log_likelihood.attrs["evaluation_data"]) == 16
    capsys.readouterr()
    for command in ("evaluate", "diagnose"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(SystemExit) as exit_:
            main([command, tmp_path / "empty"])
        error = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(error) == 1 and "is not a run directory" in error[0], error
        assert list((tmp_path / "empty").iterdir()) == []


def test_help_names_every_command_and_flag():
    done = subprocess.run([sys.executable, "-m", "pyrodisent", "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0
    for command in ("list", "train", "evaluate", "diagnose", "compare", "sweep"):
        assert command in done.stdout
    assert "pyrodisent train --config runs/ivae-0/config.json" in done.stdout  # the worked examples
    flags = {"train": ["--model", "--protocol", "--set", "--config", "--model-file", "--seed", "--out", "--device",
                       "--resume", "--overwrite", "--nproc"],
             "compare": ["--out", "--group-by", "--title"], "sweep": ["--out", "--workers", "--ray", "--threads"], "diagnose": ["--num-draws"], "list": ["--settings"]}
    for command, expected in flags.items():
        text = subprocess.run([sys.executable, "-m", "pyrodisent", command, "--help"], capture_output=True, text=True,
                              cwd=ROOT, timeout=120).stdout
        assert all(flag in text for flag in expected), (command, text)


def test_list_settings_shows_a_protocols_settings_and_models():
    out = io.StringIO()
    assert main(["list", "--settings", "sparse_shift"], out=out) == 0
    text = out.getvalue()
    models = next(line for line in text.splitlines() if line.startswith("models: "))
    assert "svae_plus" in models and "mean_shift_vae" in models and "vae" in models and "ivae" not in models
    assert "(default svae_plus)" in models
    assert re.search(r"  cells_per_action\s+250\s+cells per action", text)
    assert re.search(r"  lr\s+0.005\s+Adam's learning rate", text)
