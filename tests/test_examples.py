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


def test_svae_plus_example_with_baselines(tmp_path):
    out = tmp_path / "svae"
    done = run_example("svae_plus.py", "--cells-per-action", "6", "--num-actions", "10", "--first-heldout-action", "8",
                       "--epochs", "1", "--heldout-epochs", "1", "--iwae-samples", "30", "--khat-samples", "30",
                       "--eval-cells", "20", "--baselines", "--out", str(out), "--device", "cpu")
    metrics = json.loads((out / "metrics.json").read_text())
    keys = {"mcc", "mcc_spearman", "r2", "target_f1", "target_precision", "target_recall", "heldout_iwae",
            "heldout_elbo", "khat_share_above_0_7", "train_seconds"}
    assert keys <= set(metrics)
    assert {"vae_mcc", "mean_shift_mcc", "vae_heldout_iwae"} <= set(metrics)
    assert metrics["heldout_iwae"] >= metrics["heldout_elbo"] - 1e-6  # Jensen, on the same weights
    for name in ("targets.png", "khat.png", "inference_data.nc", "global_summary.csv", "training_log.png"):
        assert (out / name).exists(), name
    assert (out / "baselines" / "vae" / "metrics.json").exists()
    assert "sVAE+ against its baselines" in done.stdout


def test_disentanglement_example(tmp_path):
    out = tmp_path / "dis"
    run_example("disentanglement.py", "--model", "factor_vae", "--grid", "small", "--train-size", "128", "--steps", "4",
                "--metric-train", "200", "--metric-test", "100", "--out", str(out), "--device", "cpu")
    metrics = json.loads((out / "metrics.json").read_text())
    keys = {"mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "modularity",
            "explicitness", "irs", "beta_vae_score", "factor_vae_score", "elbo", "train_seconds"}
    assert keys <= set(metrics) and metrics["steps"] == 4
    for name in ("reconstructions.png", "traversals.png", "kl_per_dimension.png", "training_log.png"):
        assert (out / name).exists(), name
