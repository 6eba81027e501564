"""The concepts protocol: each model through the runner on tiny labelled images, and what the data and settings give."""
import io
import json

import numpy as np
import pytest
import torch

from pyrodisent.protocols.concepts import (CCVAE_LABEL_WEIGHT, CLAP_DELAY_CONCEPT_PRIOR, CLAP_LABEL_ALIGNED_CORE,
                                          CLAP_LABEL_WEIGHT)
from pyrodisent.protocols.settings import SettingError
from pyrodisent.registry import PROTOCOLS
from pyrodisent.runs.runner import prepare, run
from pyrodisent.runs.spec import RunSpec, compatible_model_names

TINY = {"grid": "small", "train_size": 48, "steps": 2, "latent_dim": 6, "metric_train": 100, "metric_test": 50,
        "votes_train": 50, "votes_test": 50, "probe_fit": 60, "probe_test": 40, "intervention_points": 20,
        "diagnosis_points": 0}


@pytest.mark.parametrize("model, settings", [
    ("beta_vae", {}),
    ("ccvae", {"labelled_fraction": 0.25}),
    ("clap", {"labelled_fraction": 0.5, "labels": ["heart", "large"]}),
])
def test_each_model_runs_through_the_runner(model, settings, tmp_path):
    metrics = run(RunSpec(model, "concepts", seed=0, protocol_settings={**TINY, **settings}), tmp_path / model,
                  device="cpu", progress=False, file=io.StringIO())
    names = settings.get("labels", ["heart", "square", "large", "horizontal_third"])
    per_label = ("label_accuracy", "localisation", "core_separation", "intervention_success")
    keys = per_label + tuple(f"{metric}_{name}" for name in names for metric in per_label)
    for key in ("mig", "elbo", "train_seconds", *keys):
        assert key in metrics and np.isfinite(metrics[key]), key
    for picture in ("conditional_generation.png", "core_walks.png"):
        assert (tmp_path / model / picture).stat().st_size > 0, picture
    arguments = json.loads((tmp_path / model / "config.json").read_text())["derived"]["model_arguments"]
    fraction = settings.get("labelled_fraction", 1.0)  # the classifier's weight over the labelled fraction
    assert arguments.get("label_weight") == {"ccvae": CCVAE_LABEL_WEIGHT / fraction,
                                             "clap": CLAP_LABEL_WEIGHT / fraction, "beta_vae": None}[model]
    assert arguments.get("label_aligned_core") == {"ccvae": None, "clap": CLAP_LABEL_ALIGNED_CORE,
                                                     "beta_vae": None}[model]
    assert arguments.get("delay_concept_prior") == {"ccvae": None, "clap": CLAP_DELAY_CONCEPT_PRIOR,
                                                      "beta_vae": None}[model]
    assert all(0 <= metrics[f"concept_dim_{name}"] < 6 for name in names)
    if model == "clap":  # each label's own core dimension
        assert [metrics[f"concept_dim_{name}"] for name in names] == list(range(len(names)))
    joined = [metrics.get(f"join_step_{name}") for name in names]  # the curriculum as it ran: "large" joined late
    assert joined == ([None] * len(names) if model == "beta_vae" else arguments["label_delays"]), joined
    for picture in ("conditional_generation.png", "core_walks.png", "traversals.png"):
        assert (tmp_path / model / picture).exists(), picture


def test_labelled_fraction_and_label_selection():
    prepared = prepare(RunSpec("ccvae", "concepts", protocol_settings={**TINY, "labelled_fraction": 0.25,
                                                                        "labels": ["large", "heart"]}))
    train = prepared.data.train
    assert int(train.extras["labelled"].sum()) == 12 and train.extras["labels"].shape == (48, 2)
    assert prepared.model_arguments["label_classes"] == [2, 2]
    assert prepared.data.config["labels"] == ["large", "heart"]
    again = prepare(RunSpec("ccvae", "concepts", protocol_settings={**TINY, "labelled_fraction": 0.25,
                                                                     "labels": ["large", "heart"]}))
    assert (again.data.train.extras["labelled"] == train.extras["labelled"]).all()


def test_labels_read_off_the_pixels_join_ccvae_halfway_and_clap_at_three_quarters():
    """The curriculum: a logistic regression on the labelled images' pixels reads size and position off them (lift
    near 1) but not shape (below 0.5), so "large" and "horizontal_third" join CCVAE halfway through training and CLAP
    after three quarters; the lifts go into the run's config; label_curriculum=0 leaves every label from the start,
    and a share given applies to either model."""
    settings = {**TINY, "train_size": 400, "steps": 30}
    prepared = prepare(RunSpec("ccvae", "concepts", protocol_settings=settings))
    lifts = prepared.data.config["label_pixel_lift"]
    assert lifts[2] > 0.9 and lifts[3] > 0.9 and max(lifts[:2]) < 0.5, lifts
    steps = prepared.training["epochs"] * 7  # 400 images in batches of 64
    assert prepared.model_arguments["label_delays"] == [0, 0, round(steps / 2), round(steps / 2)]
    assert prepared.model.label_delays == [0, 0, 18, 18]
    plain = prepare(RunSpec("ccvae", "concepts", protocol_settings={**settings, "label_curriculum": 0}))
    assert "label_delays" not in plain.model_arguments and plain.model.label_delays == [0, 0, 0, 0]
    clap = prepare(RunSpec("clap", "concepts", protocol_settings=settings))
    assert clap.model_arguments["label_delays"] == [0, 0, round(0.75 * steps), round(0.75 * steps)]
    assert clap.model.label_delays == [0, 0, 26, 26]
    third = prepare(RunSpec("clap", "concepts", protocol_settings={**settings, "label_curriculum": 1 / 3}))
    assert third.model.label_delays == [0, 0, 12, 12]
    plain = prepare(RunSpec("clap", "concepts", protocol_settings={**settings, "label_curriculum": 0}))
    assert "label_delays" not in plain.model_arguments and plain.model.label_delays == [0, 0, 0, 0]


def test_circular_sprites_carry_their_labels():
    prepared = prepare(RunSpec("clap", "concepts", protocol_settings={**TINY, "dataset": "circular_sprites"}))
    assert prepared.data.config["labels"] == ["arrow", "red", "hue_third", "large"]
    assert prepared.model_arguments["label_classes"] == [2, 2, 3, 2]
    assert prepared.model_arguments["schedule_steps"] == 0 and prepared.data.train.x.shape[1] == 3  # β, γ constant


def test_concept_and_image_models_run_on_it_and_concept_models_only_here():
    assert {"beta_vae", "ccvae", "clap"} <= set(compatible_model_names(PROTOCOLS.get("concepts")))
    assert not {"ccvae", "clap"} & set(compatible_model_names(PROTOCOLS.get("dsprites_procedural")))


def test_bad_settings_are_named():
    with pytest.raises(SettingError, match="labelled_fraction"):
        RunSpec("ccvae", "concepts", protocol_settings={"labelled_fraction": 1.5}).resolve()
    with pytest.raises(ValueError, match="no labels \\['round'\\]"):
        prepare(RunSpec("ccvae", "concepts", protocol_settings={**TINY, "labels": ["round"]}))


def test_labelled_batch_share_fills_a_concept_models_batches_with_labelled_images():
    """A tenth labelled, labelled_batch_share 0.5: half the draws of a concept model's loader are labelled images
    (binomial sd over 6,400 draws: 0.006), every labelled image drawn; β-VAE, which reads no labels, keeps the plain
    pass; a share needs both kinds of image."""
    settings = {**TINY, "train_size": 400, "labelled_fraction": 0.1, "labelled_batch_share": 0.5}
    prepared = prepare(RunSpec("ccvae", "concepts", protocol_settings=settings))
    train = prepared.data.train
    drawn = torch.cat([b.index for seed in range(16)
                       for b in train.loader(64, generator=torch.Generator().manual_seed(seed))])
    labelled = train.extras["labelled"][drawn]
    assert abs(float(labelled.float().mean()) - 0.5) < 0.03
    assert set(drawn[labelled].tolist()) == set(train.extras["labelled"].nonzero()[:, 0].tolist())
    assert prepare(RunSpec("beta_vae", "concepts", protocol_settings=settings)).data.train.sampling_weights is None
    with pytest.raises(ValueError, match="needs labelled and unlabelled images; 400 of 400"):
        prepare(RunSpec("clap", "concepts", protocol_settings={**settings, "labelled_fraction": 1.0}))
