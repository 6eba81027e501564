"""Every example runs end to end with tiny settings and writes its run directory."""
import argparse
import csv
import json
import re
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
    log = list(csv.DictReader((out / "training_log.csv").open()))
    assert [int(row["epoch"]) for row in log] == [1, 2]
    assert float(log[-1]["loss"]) < float(log[0]["loss"])  # two epochs are enough to lower the loss
    assert metrics["epochs"] == 2
    assert re.search(rf"^mcc\s+{metrics['mcc']:.4f}$", done.stdout, re.M)  # the table shows what metrics.json holds
    assert json.loads((out / "config.json").read_text())["model"] == model
    for name in ("training_log.csv", "training_log.png", "checkpoint.pt", "matched_latents.png"):
        assert (out / name).exists(), name


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
            "heldout_elbo", "khat_share_above_0_7", "train_seconds", "eval_seconds", "run_seconds",
            "heldout_khat_share_above_0_7", "khat_share_above_0_7_amortized", "peak_rss_gb"}
    assert keys <= set(metrics)
    assert 0.1 < metrics["peak_rss_gb"] < 20  # torch alone takes more than 0.1 GB; KiB were converted
    assert {"vae_mcc", "mean_shift_mcc", "vae_heldout_iwae"} <= set(metrics)
    for name in ("targets.png", "khat.png", "inference_data.nc", "global_summary.csv", "training_log.png"):
        assert (out / name).exists(), name
    assert (out / "baselines" / "vae" / "metrics.json").exists()
    assert "svae_plus against its baselines" in done.stdout


def test_disentanglement_example(tmp_path):
    out = tmp_path / "dis"
    run_example("disentanglement.py", "--model", "factor_vae", "--grid", "small", "--train-size", "128", "--steps", "4",
                "--metric-train", "200", "--metric-test", "100", "--diagnosis-points", "10", "--diagnosis-samples", "25",
                "--out", str(out), "--device", "cpu")
    metrics = json.loads((out / "metrics.json").read_text())
    keys = {"mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "modularity",
            "explicitness", "irs", "beta_vae_score", "factor_vae_score", "elbo", "train_seconds"}
    assert keys <= set(metrics) and metrics["steps"] == 4
    for name in ("reconstructions.png", "traversals.png", "kl_per_dimension.png", "training_log.png"):
        assert (out / name).exists(), name


# --- bad input, faults and their messages (in-process: the imports cost more than these runs) -----

import errno  # noqa: E402
import os  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402

from pyrodisent.runs import command_line as experiment  # noqa: E402

TINY_IVAE = ["--num-segments", "4", "--points-per-segment", "16", "--latent-dim", "2", "--hidden", "8", "--epochs",
             "2", "--batch-size", "16", "--device", "cpu", "--quiet"]
TINY_SVAE = ["--cells-per-action", "6", "--num-actions", "10", "--first-heldout-action", "8", "--epochs", "1",
             "--heldout-epochs", "1", "--iwae-samples", "30", "--khat-samples", "30", "--eval-cells", "20",
             "--device", "cpu", "--quiet"]
TINY_DISENTANGLEMENT = ["--grid", "small", "--train-size", "128", "--steps", "4", "--metric-train", "200",
                        "--metric-test", "100", "--diagnosis-points", "10", "--diagnosis-samples", "25", "--device", "cpu"]


@pytest.fixture
def command(capsys, load_example):
    """Run an example's main as its command line does: (exit status, stderr lines)."""
    threads = torch.get_num_threads()

    def run(script, *args):
        argv = [str(a) for a in args]
        module = load_example(script)
        capsys.readouterr()
        try:
            experiment.run_command_line(lambda: module.main(argv), argv)
            code = 0
        except SystemExit as exit:
            code = exit.code
        return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]

    yield run
    torch.set_num_threads(threads)


BAD_VALUES = [
    ("ivae.py", ["--lr", "nan"], r"^ivae.py: error: argument --lr: expected a finite number > 0, got 'nan'"),
    ("ivae.py", ["--lr", "0"], r"argument --lr: expected a finite number > 0, got '0'"),
    ("ivae.py", ["--lr", "inf"], r"argument --lr: expected a finite number > 0, got 'inf'"),
    ("ivae.py", ["--model", "beta_vae", "--beta", "nan"], r"argument --beta: expected a finite number > 0"),
    ("ivae.py", ["--grad-clip", "-1"], r"argument --grad-clip: expected a finite number > 0, got '-1'"),
    ("disentanglement.py", ["--model", "factor_vae", "--gamma", "-10"],
     r"argument --gamma: expected a finite number ≥ 0, got '-10'"),
    ("disentanglement.py", ["--model", "dip_vae", "--lambda-od", "nan"], r"argument --lambda-od: expected a finite"),
    ("ivae.py", ["--device", "mps"], r"argument --device: device 'mps' was asked for but MPS .* is not available"),
    ("ivae.py", ["--device", "meta"], r"argument --device: device 'meta' cannot train a model here"),
    ("ivae.py", ["--device", "cpu:7"], r"argument --device: device 'cpu:7' does not exist"),
    ("svae_plus.py", ["--khat-samples", "10"], r"argument --khat-samples: expected an integer ≥ 25, got '10' \(PSIS"),
    ("svae_plus.py", [*TINY_SVAE, "--eval-cells", "1000"],
     r"argument --eval-cells: expected at most the 48 training cells, got 1000"),
    ("ivae.py", ["--seed", str(2**32)], r"argument --seed: expected an integer ≥ 0 and ≤ 4294967295, got '4294967296'"),
    ("ivae.py", ["--data-seed", "-1"], r"argument --data-seed: expected an integer ≥ 0"),
    ("ivae.py", [*TINY_IVAE, "--objective", "official"], r"^ivae.py: error: --objective official has no "),
]


@pytest.mark.parametrize("script, args, message", BAD_VALUES, ids=[" ".join(a[-2:]) for _, a, _ in BAD_VALUES])
def test_bad_values_fail_in_one_line_before_anything_is_written(command, tmp_path, script, args, message):
    code, lines = command(script, *args, "--out", tmp_path / "run")
    assert code == 2 and len(lines) == 1 and re.search(message, lines[0]), lines
    assert not (tmp_path / "run").exists()


def test_bad_values_leave_an_existing_run_untouched(command, tmp_path):
    out = tmp_path / "run"
    assert command("ivae.py", *TINY_IVAE, "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for bad in (["--lr", "nan"], ["--objective", "official"]):
        code, lines = command("ivae.py", *TINY_IVAE, *bad, "--out", out, "--resume")
        assert code == 2 and len(lines) == 1, lines
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_debug_shows_the_traceback(command, tmp_path):
    with pytest.raises(ValueError, match="--objective official has no total-correlation term"):
        command("ivae.py", *TINY_IVAE, "--objective", "official", "--debug", "--out", tmp_path / "run")


def test_failures_are_one_line_messages(command, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert command("ivae.py", *TINY_IVAE, "--out", out)[0] == 0
    checkpoint = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(checkpoint[: len(checkpoint) // 2])
    code, lines = command("ivae.py", *TINY_IVAE, "--out", out, "--resume")
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: CheckpointError: checkpoint ") and \
        "could not be read" in lines[0] and "--debug" in lines[0], lines

    (out / "config.json").write_text('{"model": ')
    code, lines = command("ivae.py", *TINY_IVAE, "--out", out, "--resume")
    assert code == 1 and len(lines) == 1 and f"{out / 'config.json'} is not valid JSON" in lines[0], lines

    (tmp_path / "notes.txt").write_text("x")
    code, lines = command("ivae.py", *TINY_IVAE, "--out", tmp_path / "notes.txt" / "run")
    assert code == 1 and len(lines) == 1 and "notes.txt is a file, not a folder" in lines[0], lines

    code, lines = command("ivae.py", *TINY_IVAE, "--lr", "1e4", "--out", tmp_path / "diverges")
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: NonFiniteLossError: loss became "), lines
    assert "--grad-clip" in lines[0]

    replace = os.replace

    def full_disk(source, destination, *args, **kwargs):
        if Path(destination).name == "checkpoint.pt":
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    code, lines = command("ivae.py", *TINY_IVAE, "--out", tmp_path / "full")
    assert code == 1 and len(lines) == 1, lines
    assert f"cannot write {tmp_path / 'full' / 'checkpoint.pt'}: No space left on device" in lines[0]
    assert not [p for p in (tmp_path / "full").iterdir() if p.name.endswith(".tmp")]


def test_resume_may_change_the_learning_rate_and_clipping_only(command, tmp_path):
    out = tmp_path / "run"
    assert command("ivae.py", *TINY_IVAE, "--out", out)[0] == 0
    code, lines = command("ivae.py", *TINY_IVAE, "--lr", "0.001", "--grad-clip", "5", "--out", out, "--resume")
    assert code == 0, lines
    config = json.loads((out / "config.json").read_text())
    assert config["trainer_settings"]["lr"] == 0.001 and config["trainer_settings"]["grad_clip"] == 5.0
    changes = config["resume_changes"]
    assert len(changes) == 1 and {key: changes[0][key] for key in ("trainer_settings.lr", "trainer_settings.grad_clip")} \
        == {"trainer_settings.grad_clip": {"from": None, "to": 5.0}, "trainer_settings.lr": {"from": 0.006, "to": 0.001}}
    smaller_batches = [("8" if previous == "--batch-size" else arg) for previous, arg in zip([""] + TINY_IVAE, TINY_IVAE)]
    code, lines = command("ivae.py", *smaller_batches, "--out", out, "--resume")
    assert code == 1 and "differs in ['derived.trainer_arguments.batch_size', 'trainer_settings.batch_size']" in lines[0]
    assert "may change" in lines[0] and "'trainer_settings.lr'" in lines[0]


def test_a_second_writer_is_refused(command, tmp_path, hold_run_directory):
    out = tmp_path / "run"
    assert command("ivae.py", *TINY_IVAE, "--out", out)[0] == 0
    (out / "config.json").write_text(json.dumps({"held": True}))  # the holder's own config, so it may resume
    config = (out / "config.json").read_text()
    holder = hold_run_directory(out, {"held": True})
    log = (out / "training_log.csv").read_bytes()
    code, lines = command("ivae.py", *TINY_IVAE, "--out", out, "--resume")
    assert code == 1 and len(lines) == 1 and f"in use by another run (process {holder.pid} holds" in lines[0]
    assert (out / "training_log.csv").read_bytes() == log and (out / "config.json").read_text() == config


def test_quiet_silences_the_warnings_an_example_expects():
    from sklearn.exceptions import ConvergenceWarning

    from pyrodisent.data.shapes3d import SlowLayoutWarning

    for quiet, expected in ((False, 2), (True, 0)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            experiment.check_run_args(argparse.ArgumentParser(), argparse.Namespace(
                device="cpu", resume=False, overwrite=False, out=Path("unused"), quiet=quiet, experiment_name="ivae"))
            warnings.warn("3dshapes.h5: images are stored in chunks", SlowLayoutWarning)
            warnings.warn("lbfgs failed to converge", ConvergenceWarning)
        assert len(caught) == expected, [str(w.message) for w in caught]


def test_the_metric_phase_shows_a_progress_bar(command, tmp_path):
    code, lines = command("disentanglement.py", *TINY_DISENTANGLEMENT, "--out", tmp_path / "run")
    assert code == 0
    assert any(re.search(r"metrics: 100%.*8/8", line) for line in lines), lines
