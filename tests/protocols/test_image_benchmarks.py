"""The image benchmarks' pixel likelihood: the study's Bernoulli, or a Gaussian of a chosen std."""
import pytest
import torch

from pyrodisent.likelihoods import BernoulliLikelihood, GaussianLikelihood
from pyrodisent.protocols.settings import SettingError
from pyrodisent.runs.runner import prepare
from pyrodisent.runs.spec import RunSpec

SMALL = {"grid": "small", "train_size": 32, "diagnosis_points": 0}


def test_the_likelihood_setting_builds_the_pixel_likelihood():
    bernoulli = prepare(RunSpec("vae", "circular_sprites", protocol_settings=SMALL))
    assert isinstance(bernoulli.model.likelihood, BernoulliLikelihood)
    gaussian = prepare(RunSpec("topological_vae", "circular_sprites",
                               protocol_settings={**SMALL, "likelihood": "gaussian", "observation_scale": 0.2}))
    assert isinstance(gaussian.model.likelihood, GaussianLikelihood)
    assert torch.allclose(gaussian.model.likelihood.scale, torch.tensor(0.2))
    assert gaussian.config()["derived"]["model_arguments"]["likelihood_args"] == {"scale": 0.2}


def test_an_unknown_likelihood_is_named():
    with pytest.raises(SettingError, match=r"protocol\.likelihood: expected one of bernoulli, gaussian, got 'poisson'"):
        RunSpec("vae", "circular_sprites", protocol_settings={**SMALL, "likelihood": "poisson"}).resolve()


def test_the_kl_warmup_spans_its_share_of_training_for_every_model():
    for model in ("beta_vae", "topological_vae", "tilted_vae"):
        prepared = prepare(RunSpec(model, "circular_sprites", protocol_settings={**SMALL, "steps": 30}))
        assert prepared.model.kl_warmup_steps == 10  # circular_sprites warms up over the first third
        prepared.model.set_training_step(4)
        assert prepared.model.kl_scale == pytest.approx(0.5)  # β = 1 there, (step + 1) / 10
    plain = prepare(RunSpec("beta_vae", "circular_sprites",
                            protocol_settings={**SMALL, "steps": 30, "kl_warmup_fraction": 0}))
    assert plain.model.kl_warmup_steps == 0 and "kl_warmup_steps" not in plain.config()["derived"]["model_arguments"]
    other = prepare(RunSpec("beta_vae", "dsprites_procedural", protocol_settings={**SMALL, "steps": 30}))
    assert other.model.kl_warmup_steps == 0  # the other image benchmarks keep the study's training


def test_continuous_loops_reach_the_training_images_and_the_config():
    on_grid = prepare(RunSpec("topological_vae", "circular_sprites", protocol_settings=SMALL))
    continuous = prepare(RunSpec("topological_vae", "circular_sprites",
                                 protocol_settings={**SMALL, "continuous_loops": True}))
    assert continuous.data.dataset.continuous_loops and not on_grid.data.dataset.continuous_loops
    assert continuous.config()["derived"]["data"]["continuous_loops"] is True
    assert torch.equal(continuous.data.train.factors, on_grid.data.train.factors)  # the same grid points …
    assert not torch.equal(continuous.data.train.x, on_grid.data.train.x)  # … drawn between grid values
