"""The weak_pairs protocol: each model through the runner on tiny pairs, and what the data and settings give."""
import io

import numpy as np
import pytest

from pyrodisent.protocols.settings import SettingError
from pyrodisent.runs.runner import prepare, run
from pyrodisent.runs.spec import RunSpec, compatible_model_names
from pyrodisent.registry import PROTOCOLS

TINY = {"grid": "small", "train_size": 48, "steps": 2, "latent_dim": 3, "metric_train": 100, "metric_test": 50,
        "votes_train": 50, "votes_test": 50, "pair_eval": 40, "diagnosis_points": 6, "diagnosis_samples": 25,
        "diagnosis_draws": 3}


@pytest.mark.parametrize("model, settings", [
    ("beta_vae", {}),
    ("ada_gvae", {"pairs": "approximate", "correlation": 0.2}),
    ("ada_mlvae", {"k": -1}),
    ("latent_shift", {"pairs": "mined", "mining_steps": 1, "remine_epochs": 1}),
])
def test_each_model_runs_through_the_runner(model, settings, tmp_path):
    metrics = run(RunSpec(model, "weak_pairs", seed=0, protocol_settings={**TINY, **settings}), tmp_path / model,
                  device="cpu", progress=False, file=io.StringIO())
    for key in ("mig", "dci_disentanglement", "factor_vae_score", "elbo", "train_seconds", "khat_median", "pair_crosstalk"):
        assert key in metrics and np.isfinite(metrics[key]), key
    pair_metrics = {"changed_dims_precision", "changed_dims_recall"}
    if model == "beta_vae":
        assert not pair_metrics & set(metrics)
    else:
        assert all(key in metrics and np.isfinite(metrics[key]) for key in pair_metrics), pair_metrics
    assert (tmp_path / model / "traversals.png").exists()


def test_models_of_single_images_train_on_both_images_at_twice_the_batch():
    single = prepare(RunSpec("beta_vae", "weak_pairs", protocol_settings=TINY))
    paired = prepare(RunSpec("ada_gvae", "weak_pairs", protocol_settings=TINY))
    assert len(single.data.train) == 2 * len(paired.data.train) == 96
    assert single.training["batch_size"] == 2 * paired.training["batch_size"]
    assert single.training["epochs"] == paired.training["epochs"]
    assert "x_pair" in paired.data.train.extras and not single.data.train.extras
    assert paired.model_arguments["beta"] == single.model_arguments["beta"] == 2.0


def test_mined_pairs_come_with_a_remining_callback():
    prepared = prepare(RunSpec("ada_gvae", "weak_pairs", protocol_settings={**TINY, "pairs": "mined",
                                                                          "mining_steps": 1}))
    partners = prepared.data.train.extras["partner"].numpy()
    assert (partners != np.arange(48)).all()
    callbacks = prepared.resolved.protocol.training_callbacks(prepared.data, 0)
    assert len(callbacks) == 1 and callbacks[0].every_epochs == 2


def test_pair_models_and_image_models_run_on_it():
    names = compatible_model_names(PROTOCOLS.get("weak_pairs"))
    assert {"beta_vae", "ada_gvae", "ada_mlvae", "latent_shift"} <= set(names)
    assert "ada_gvae" not in compatible_model_names(PROTOCOLS.get("dsprites_procedural"))


def test_bad_settings_are_named():
    with pytest.raises(SettingError, match="protocol.k: expected -1"):
        RunSpec("ada_gvae", "weak_pairs", protocol_settings={"k": 0}).resolve()
    with pytest.raises(ValueError, match="has no factor 'hue'"):
        prepare(RunSpec("ada_gvae", "weak_pairs", protocol_settings={**TINY, "correlation": 0.1,
                                                                      "correlated_factors": ["hue", "posX"]}))
    with pytest.raises(KeyError, match="no_such_set"):
        prepare(RunSpec("ada_gvae", "weak_pairs", protocol_settings={**TINY, "dataset": "no_such_set"}))
