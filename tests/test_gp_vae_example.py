"""examples/gp_vae.py runs end to end with tiny settings (both models) and writes its run directory.

(Its own file rather than tests/test_examples.py, which other examples share.)
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.data import SpriteSequences, as_generator
from pyrodisent.evaluation.imputation import impute, mean_fill, observed_means
from pyrodisent.metrics import missing_entry_scores
from pyrodisent.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("model", ["gp_vae", "vae"])
def test_gp_vae_example(tmp_path, model):
    out = tmp_path / model
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "gp_vae.py"), "--model", model, "--kernel",
                           "rbf+periodic", "--num-train", "12", "--num-test", "6", "--num-frames", "4",
                           "--image-size", "16", "--width", "16", "--latent-dim", "3", "--epochs", "1",
                           "--batch-size", "4", "--classifier-frames", "40", "--out", str(out), "--device", "cpu",
                           "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for prefix in ("", "mean_fill_", "forward_fill_"):
        assert {f"{prefix}missing_nll", f"{prefix}missing_mse", f"{prefix}auroc"} <= set(metrics)
    # the reported scores are those of the checkpointed model and of mean fill on the configured data, recomputed
    config = json.loads((out / "config.json").read_text())
    settings = config["protocol_settings"]
    source = SpriteSequences(**config["derived"]["data"])
    rng = as_generator(settings["data_seed"])
    train, test = source.sample(settings["num_train"], rng), source.sample(settings["num_test"], rng)
    missing_mse = lambda guess: missing_entry_scores(test.complete, guess, test.observed_mask)["missing_mse"]  # noqa: E731
    means = observed_means(train.masked, train.observed_mask)
    assert metrics["mean_fill_missing_mse"] == pytest.approx(missing_mse(mean_fill(test.masked, test.observed_mask, means)))
    arguments = config["derived"]["model_arguments"]
    arguments = {**arguments, "observation_shape": tuple(arguments["observation_shape"])}
    trained = MODELS.build(config["model"], **arguments)
    trained.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=False)["model"])
    test_data = test.sequences() if model == "gp_vae" else test.frames()
    imputed = impute(trained, test_data).reshape(test.complete.shape)
    assert metrics["missing_mse"] == pytest.approx(missing_mse(imputed), rel=1e-5)
    assert metrics["missing_mse"] != pytest.approx(metrics["mean_fill_missing_mse"])
    assert json.loads((out / "config.json").read_text())["model"] == model
    for name in ("training_log.csv", "training_log.png", "checkpoint.pt", "imputations.png"):
        assert (out / name).exists(), name
    assert "imputation of held-out sequences" in done.stdout
