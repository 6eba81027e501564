"""Diagnostics: InferenceData layout, and PSIS k̂ on posteriors whose quality is known in closed form."""
import csv
import json
import warnings

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyrodisent.zoo.ivae import IVAE
from pyrodisent.data import ArrayDataset
from pyrodisent.evaluation.diagnostics import (
    build_inference_data,
    diagnose,
    khat_summary,
    pareto_khat,
    plot_khat,
    psis_khat,
    save_inference_data,
    summarize_globals,
)
from pyrodisent.model import LatentVariableModel
from pyrodisent.training.run_directory import RunDirectory

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

NUM_ACTIONS, LATENT, FEATURES = 3, 2, 4


class ActionShift(LatentVariableModel):
    """z | u ~ N(shift[u], I) with a global shift (A, K) ~ N(0, 1); guide q(shift) = N(loc, 0.1²)."""

    def __init__(self, num_data):
        super().__init__((FEATURES,), LATENT, num_data, aux_dim=NUM_ACTIONS,
                         encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)))
        shift_loc = torch.arange(NUM_ACTIONS * LATENT, dtype=torch.float32).reshape(NUM_ACTIONS, LATENT)
        self.shift_loc = nn.Parameter(shift_loc)

    def global_site_dims(self):
        return {"shift": ["action", "latent"]}

    def model_globals(self, batch):
        zeros = torch.zeros(NUM_ACTIONS, LATENT, device=batch.device)
        return {"shift": pyro.sample("shift", dist.Normal(zeros, 1.0).to_event(2))}

    def guide_globals(self, batch):
        return {"shift": pyro.sample("shift", dist.Normal(self.shift_loc, 0.1).to_event(2))}

    def prior(self, batch, shift):
        loc = batch.u @ shift
        return dist.Normal(loc, torch.ones_like(loc)).to_event(1)


def _action_data(n=30):
    generator = torch.Generator().manual_seed(1)
    u = nn.functional.one_hot(torch.arange(n) % NUM_ACTIONS, NUM_ACTIONS).float()
    return ArrayDataset(torch.randn(n, FEATURES, generator=generator), u=u,
                        factors=torch.randn(n, LATENT, generator=generator),
                        extras={"action": torch.arange(n) % NUM_ACTIONS})


def test_inference_data_groups_dims_and_shapes_with_a_global_site(tmp_path):
    data, draws, num_obs = _action_data(30), 7, 12
    model = ActionShift(len(data))
    idata = build_inference_data(model, data, num_draws=draws, num_obs=num_obs, seed=0)

    assert set(idata.groups()) == {"posterior", "posterior_predictive", "log_likelihood", "observed_data",
                                   "constant_data"}
    shift = idata.posterior["shift"]
    assert shift.dims == ("chain", "draw", "action", "latent")
    assert shift.shape == (1, draws, NUM_ACTIONS, LATENT)
    # the recorded values are the guide's draws: centred on shift_loc with sd 0.1, different per draw
    assert np.abs(shift.values.mean((0, 1)) - model.shift_loc.detach().numpy()).max() < 0.2
    assert 0.03 < shift.values.std((0, 1)).mean() < 0.3
    z = idata.posterior["z"]
    assert z.dims == ("chain", "draw", "obs", "latent")
    assert z.shape == (1, draws, num_obs, LATENT)
    assert idata.posterior_predictive["x"].dims == ("chain", "draw", "obs", "x_dim_0")
    assert idata.posterior_predictive["x"].shape == (1, draws, num_obs, FEATURES)
    assert idata.log_likelihood["x"].dims == ("chain", "draw", "obs")
    assert idata.log_likelihood["x"].shape == (1, draws, num_obs)
    np.testing.assert_array_equal(idata.observed_data["x"].values, data.x[:num_obs].numpy())
    np.testing.assert_array_equal(idata.constant_data["u"].values, data.u[:num_obs].numpy())
    assert idata.constant_data["factors"].shape == (num_obs, LATENT)
    np.testing.assert_array_equal(idata.constant_data["action"].values, np.arange(num_obs) % NUM_ACTIONS)

    # the pointwise log-likelihood is log p(x_n | z_n) at the recorded z draw
    batch = data.batch(torch.arange(num_obs))
    for d in (0, draws - 1):
        z_draw = torch.as_tensor(z.values[0, d])
        expected = model.observation_distribution(z_draw, batch).log_prob(batch.x)
        np.testing.assert_allclose(idata.log_likelihood["x"].values[0, d], expected.detach().numpy(), rtol=1e-5)

    summary = summarize_globals(idata)
    assert list(summary.index) == [f"shift[{a}, {k}]" for a in range(NUM_ACTIONS) for k in range(LATENT)]
    np.testing.assert_allclose(summary["mean"].values, shift.values.mean((0, 1)).ravel(), atol=1e-3)

    path = save_inference_data(idata, tmp_path / "idata.nc")
    loaded = az.from_netcdf(path)
    assert set(loaded.groups()) == set(idata.groups())
    for group in idata.groups():
        for name, value in idata[group].data_vars.items():
            assert loaded[group][name].dims == value.dims
            np.testing.assert_array_equal(loaded[group][name].values, value.values)


def test_inference_data_of_a_zoo_model_without_globals():
    data, draws = _action_data(20), 5
    model = IVAE((FEATURES,), LATENT, num_data=len(data), aux_dim=NUM_ACTIONS, prior_hidden=(8,),
                 encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)))
    model.train()
    idata = build_inference_data(model, data, num_draws=draws, num_obs=None, seed=0)
    assert model.training  # training mode restored
    assert list(idata.posterior.data_vars) == ["z"]
    assert idata.posterior["z"].shape == (1, draws, len(data), LATENT)
    assert idata.posterior["z"].values.std(1).min() > 0  # draws, not the posterior mean repeated
    assert idata.posterior_predictive["x"].shape == (1, draws, len(data), FEATURES)
    assert summarize_globals(idata).empty


def test_global_dims_override_and_mismatch():
    data = _action_data(9)
    idata = build_inference_data(ActionShift(len(data)), data, num_draws=2, global_dims={"shift": ["a", "k"]})
    assert idata.posterior["shift"].dims == ("chain", "draw", "a", "k")
    with pytest.raises(ValueError, match="'shift' has shape \\(3, 2\\) but 1 dim names"):
        build_inference_data(ActionShift(len(data)), data, num_draws=2, global_dims={"shift": ["action"]})


class LinearGaussian(LatentVariableModel):
    """z ~ N(0, 1), x | z ~ N(z, σ²): the posterior is N(x / (1 + σ²), σ² / (1 + σ²)).

    The guide is that posterior with its scale multiplied by ``scale_factor``.
    """

    def __init__(self, num_data, sigma=0.5, scale_factor=1.0):
        super().__init__((1,), 1, num_data, likelihood_args=dict(scale=sigma))
        self.sigma, self.scale_factor = sigma, scale_factor

    def posterior(self, batch):
        variance = self.sigma**2 / (1 + self.sigma**2)
        loc = batch.x / (1 + self.sigma**2)
        return dist.Normal(loc, self.scale_factor * variance**0.5 * torch.ones_like(loc)).to_event(1)

    def observation_distribution(self, z, batch):
        return self.likelihood(z, batch)


def _linear_gaussian_data(n=60, sigma=0.5):
    generator = torch.Generator().manual_seed(2)
    z = torch.randn(n, 1, generator=generator)
    return ArrayDataset(z + sigma * torch.randn(n, 1, generator=generator))


def test_khat_is_small_when_q_is_the_exact_posterior():
    data = _linear_gaussian_data()
    khat = psis_khat(LinearGaussian(len(data)), data, num_samples=1000, seed=0, batch_size=25)
    assert khat.shape == (len(data),)
    summary = khat_summary(khat)
    assert summary["khat_share_above_0_7"] == 0
    assert summary["khat_median"] < 0.5


def test_khat_is_small_when_q_is_wider_than_the_posterior():
    """Bounded weights (q covers the posterior): a genuine Pareto fit, not the constant-weights case."""
    data = _linear_gaussian_data()
    khat = psis_khat(LinearGaussian(len(data), scale_factor=1.5), data, num_samples=1000, seed=0)
    assert np.isfinite(khat).all()
    assert khat_summary(khat)["khat_share_above_0_7"] == 0
    assert np.median(khat) < 0.5


def test_khat_is_large_when_q_is_much_too_narrow():
    """q's scale is r = 0.1 times the posterior's: w ∝ exp((1 − r²) u² / 2) with u ~ N(0, 1) under q,
    a Pareto tail of shape k = 1 − r² ≈ 0.99 (PSIS, with S = 1000, estimates it a little lower)."""
    data = _linear_gaussian_data()
    khat = psis_khat(LinearGaussian(len(data), scale_factor=0.1), data, num_samples=1000, num_obs=40, seed=0)
    assert khat.shape == (40,)
    summary = khat_summary(khat)
    assert summary["khat_median"] > 0.7
    assert summary["khat_share_above_0_7"] > 0.5


def test_pareto_khat_treats_constant_weights_as_exact_and_heavy_tails_as_unreliable():
    rng = np.random.default_rng(0)
    constant = np.full((3, 500), -2.5, dtype=np.float32) + rng.normal(0, 1e-7, (3, 500)).astype(np.float32)
    assert np.all(pareto_khat(constant) == -np.inf)
    heavy = np.log(rng.pareto(1.0, (20, 2000)) + 1)  # weights with a Pareto tail of k = 1
    assert np.median(pareto_khat(heavy)) > 0.8
    light = rng.normal(0.0, 0.1, (20, 2000))  # log-normal weights with a small spread: k ≈ 0
    assert np.all(pareto_khat(light) < 0.5)
    assert khat_summary(np.array([-np.inf, 0.2, 0.6, 0.8]))["khat_share_0_5_to_0_7"] == 0.25


def test_plot_khat_and_diagnose_write_their_files(tmp_path):
    assert plot_khat(np.array([0.1, 0.6, 0.9, -np.inf]), tmp_path / "k.png").stat().st_size > 0
    data = _action_data(12)
    run = RunDirectory(tmp_path / "run")
    summary = diagnose(ActionShift(len(data)), data, run, num_draws=4, num_obs=6, num_samples=100, seed=0)
    assert set(summary) == {"khat_share_above_0_7", "khat_share_0_5_to_0_7", "khat_max", "khat_median"}
    json.dumps(summary)
    for name in ("inference_data.nc", "khat.png", "global_summary.csv"):
        assert run.file(name).stat().st_size > 0
    assert az.from_netcdf(run.file("inference_data.nc")).posterior["z"].shape == (1, 4, 6, LATENT)
    rows = list(csv.DictReader(run.file("global_summary.csv").open()))
    assert len(rows) == NUM_ACTIONS * LATENT
