"""Every example runs end to end with tiny settings and writes its run directory."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(script, *args, check=True):
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args, "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, check=check, timeout=600)


@pytest.mark.parametrize("model", ["ivae", "vae"])
def test_ivae_example(tmp_path, model):
    out = tmp_path / model
    done = run_example("ivae.py", "--model", model, "--epochs", "2", "--points-per-segment", "20", "--out", str(out),
                       "--device", "cpu")
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"mcc", "mcc_sampled", "elbo", "train_seconds"} <= set(metrics)
    assert 0 < metrics["mcc"] <= 1 and metrics["train_seconds"] > 0
    assert json.loads((out / "config.json").read_text())["model"] == model
    for name in ("training_log.csv", "training_log.png", "checkpoint.pt", "matched_latents.png"):
        assert (out / name).exists(), name
    assert "mcc" in done.stdout


def test_example_refuses_to_clobber_and_resumes(tmp_path):
    out = tmp_path / "run"
    run_example("ivae.py", "--epochs", "1", "--points-per-segment", "10", "--out", str(out), "--device", "cpu")
    before = (out / "metrics.json").read_text()
    again = run_example("ivae.py", "--epochs", "1", "--points-per-segment", "10", "--out", str(out), "--device", "cpu",
                        check=False)
    assert again.returncode != 0 and "already holds a run" in again.stderr
    assert (out / "metrics.json").read_text() == before
    bad = run_example("ivae.py", "--device", "cuda:7", "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "device" in bad.stderr and not (tmp_path / "x").exists()
