"""examples/gp_vae.py runs end to end with tiny settings (both models) and writes its run directory.

(Its own file rather than tests/test_examples.py, which other examples share.)
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert 0 <= metrics["mcc"] <= 1 and metrics["train_seconds"] > 0 and metrics["missing_mse"] >= 0
    assert json.loads((out / "config.json").read_text())["model"] == model
    for name in ("training_log.csv", "training_log.png", "checkpoint.pt", "imputations.png"):
        assert (out / name).exists(), name
    assert "imputation of held-out sequences" in done.stdout
