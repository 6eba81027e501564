"""A user's own data is a protocol in a line — a file, arrays or a torch Dataset — scored with every metric
its ground truth allows."""
import json

import h5py
import numpy as np
import pytest
import torch

from pyrodisent.cli import main as pyrodisent
from pyrodisent.protocols import register_arrays, register_dataset
from pyrodisent.protocols.settings import SettingError
from pyrodisent.runs.runner import run
from pyrodisent.runs.spec import RunSpec

TINY = ["--set", "epochs=2", "--set", "protocol.latent_dim=3", "--set", "hidden=[16]", "--set", "diagnosis_points=20",
        "--set", "diagnosis_samples=25", "--device", "cpu", "--quiet"]
FACTOR_METRICS = {"mcc", "mcc_spearman", "r2", "mig", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                  "sap", "modularity", "explicitness", "irs"}


def arrays(n=240, seed=0):
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 3)).astype(np.float32)
    x = np.tanh(factors @ rng.normal(size=(3, 6))).astype(np.float32) + 0.05 * rng.normal(size=(n, 6)).astype(np.float32)
    labels = rng.integers(0, 4, size=n)
    return x, factors, labels


def test_a_file_with_factors_gets_every_metric_its_truth_allows(tmp_path):
    x, factors, labels = arrays()
    np.savez(tmp_path / "cells.npz", x=x, z=factors, condition=labels)
    out = tmp_path / "run"
    assert pyrodisent(["train", "--model", "ivae", "--protocol", "user_data", "--set", f"path={tmp_path / 'cells.npz'}",
                       "--set", "factors_key=z", "--set", "aux_key=condition", *TINY, "--out", out]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert FACTOR_METRICS | {"elbo", "khat_share_above_0_7"} <= set(metrics)
    assert all(np.isfinite(metrics[key]) for key in FACTOR_METRICS)
    config = json.loads((out / "config.json").read_text())
    assert config["derived"]["model_arguments"]["aux_dim"] == 4  # the labels became a one-hot u
    assert (out / "matched_latents.png").exists()

    without = tmp_path / "no-factors"
    with h5py.File(tmp_path / "cells.h5", "w") as file:
        file.create_dataset("x", data=x)
    assert pyrodisent(["train", "--model", "vae", "--protocol", "user_data", "--set", f"path={tmp_path / 'cells.h5'}",
                       *TINY, "--out", without]) == 0
    metrics = json.loads((without / "metrics.json").read_text())
    assert "elbo" in metrics and not FACTOR_METRICS & set(metrics)


def test_arrays_and_a_torch_dataset_register_as_protocols(tmp_path):
    x, factors, labels = arrays()
    register_arrays("my_cells", x, factors=factors, u=labels)
    register_dataset("my_cells_dataset", torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(factors),
                                                                        torch.as_tensor(labels)))
    trainer = {"epochs": 2}
    protocol = {"latent_dim": 3, "hidden": [16], "diagnosis_points": 20, "diagnosis_samples": 25}
    first = run(RunSpec("ivae", "my_cells", protocol_settings=protocol, trainer_settings=trainer), tmp_path / "a",
                device="cpu", progress=False)
    second = run(RunSpec("ivae", "my_cells_dataset", protocol_settings=protocol, trainer_settings=trainer),
                 tmp_path / "b", device="cpu", progress=False)
    for key in FACTOR_METRICS | {"elbo"}:
        assert first[key] == second[key], key
    register_arrays("unlabelled", x)
    with pytest.raises(SettingError, match=r"model 'ivae' needs aux in each batch, which protocol 'unlabelled' does "
                                           r"not provide \(its batches carry: x only\)"):
        RunSpec("ivae", "unlabelled").resolve()


def test_bad_files_and_arrays_are_named(tmp_path):
    x, factors, _ = arrays()
    np.savez(tmp_path / "cells.npz", x=x)
    spec = RunSpec("vae", "user_data", protocol_settings={"path": str(tmp_path / "cells.npz"), "factors_key": "z"})
    with pytest.raises(KeyError, match=r"cells.npz has no array 'z' \(for factors\); it holds: x"):
        spec.resolve().protocol.load("vae", 0)
    with pytest.raises(ValueError, match=r"factors must be \(N, F\) with N = 240 rows like x; got \(10, 3\)"):
        register_arrays("short", x, factors=factors[:10])
    with pytest.raises(ValueError, match=r"user_data needs path"):
        RunSpec("vae", "user_data").resolve().protocol.load("vae", 0)
