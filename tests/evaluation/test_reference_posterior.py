"""NUTS reference posterior: on a conjugate linear-Gaussian model the exact posterior is known in closed
form, so the reference can be checked against it, and guides of known quality must be scored as such."""

import numpy as np
import pyro.distributions as dist
import pytest
import torch

from pyrodisent.data import ArrayDataset
from pyrodisent.evaluation.diagnostics import build_inference_data
from pyrodisent.model import LatentVariableModel
from pyrodisent.evaluation.reference_posterior import REFERENCE_GROUP, ReferencePosterior, reference_check

LATENT, FEATURES, NOISE = 2, 3, 0.5


class LinearGaussian(LatentVariableModel):
    """z ~ N(0, I), x | z ~ N(W z + b, σ² I); the guide is the exact posterior with its covariance
    times ``guide_scale`` squared (1: exact, < 1: too narrow)."""

    def __init__(self, num_data, guide_scale=1.0):
        super().__init__((FEATURES,), LATENT, num_data, decoder_args=dict(hidden=()),
                         likelihood_args=dict(scale=NOISE))
        self.guide_scale = guide_scale
        generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            linear = self.decoder.layers[0]
            linear.weight.copy_(torch.randn(FEATURES, LATENT, generator=generator))
            linear.bias.copy_(torch.randn(FEATURES, generator=generator))

    def exact_posterior(self, x):
        """Closed form: Σ = (I + WᵀW/σ²)⁻¹, mean Σ Wᵀ (x − b) / σ²."""
        linear = self.decoder.layers[0]
        weight, bias = linear.weight.detach(), linear.bias.detach()
        covariance = torch.linalg.inv(torch.eye(LATENT) + weight.T @ weight / NOISE**2)
        mean = (x - bias) @ weight @ covariance / NOISE**2
        return mean, covariance

    def posterior(self, batch):
        mean, covariance = self.exact_posterior(batch.x)
        tril = torch.linalg.cholesky(covariance) * self.guide_scale
        return dist.MultivariateNormal(mean, scale_tril=tril.expand(len(mean), LATENT, LATENT))


def _data():
    x = torch.randn(6, FEATURES, generator=torch.Generator().manual_seed(0)) * 2
    return ArrayDataset(x)


def test_nuts_agrees_with_the_closed_form_and_an_exact_guide_scores_well():
    data = _data()
    model = LinearGaussian(len(data))
    points = [1, 4]
    table, reference = reference_check(model, data, points, num_chains=2, warmup_steps=150, num_samples=400, seed=0)
    draws = reference.draws.reshape(-1, len(points), LATENT)  # (chains·draws, B, K)
    mean, covariance = model.exact_posterior(data.x[points])
    sd = covariance.diagonal().sqrt()
    # NUTS draws: mean within 0.25 posterior sds of the closed form, sds within 20 %
    assert torch.all((draws.mean(0).float() - mean).abs() / sd < 0.25)
    assert torch.all((draws.std(0).float() / sd - 1).abs() < 0.2)
    correlation = covariance[0, 1] / (sd[0] * sd[1])
    for b in range(len(points)):
        measured = np.corrcoef(draws[:, b].numpy().T)[0, 1]
        assert abs(measured - float(correlation)) < 0.15
    assert (table["khat"] < 0.5).all()
    assert table["sd_ratio_median"].between(0.8, 1.25).all()
    assert (table["mean_shift_max_abs"] < 0.3).all()
    assert table["coverage_90"].between(0.8, 0.97).all()
    assert (table["r_hat_max"] < 1.1).all()
    assert (table["khat_gaussian_fit"] < 0.7).all()


def test_too_narrow_guide_is_flagged():
    data = _data()
    model = LinearGaussian(len(data), guide_scale=0.3)
    table, _ = reference_check(model, data, [0, 2], num_chains=2, warmup_steps=150, num_samples=300, seed=1)
    assert (table["khat"] > 0.7).all()
    assert (table["coverage_90"] < 0.5).all()
    assert table["sd_ratio_median"].between(0.2, 0.4).all()
    # the Gaussian family is right: a Gaussian fitted to the NUTS draws is a good proposal
    assert (table["khat_gaussian_fit"] < 0.7).all()


def test_reference_draws_are_their_own_inference_data_group():
    data = _data()
    model = LinearGaussian(len(data))
    reference = ReferencePosterior(model, data, [0, 3, 5], num_chains=2, warmup_steps=30, num_samples=20,
                                   guide_samples=50, seed=0).run()
    idata = build_inference_data(model, data, num_draws=5, num_obs=6)
    reference.add_to(idata)
    group = getattr(idata, REFERENCE_GROUP)
    assert group["z"].dims == ("chain", "draw", "obs", "latent")
    assert group["z"].shape == (2, 20, 3, LATENT)
    assert list(group["obs"].values) == [0, 3, 5]
    assert "posterior" in idata.groups()


def test_bad_points_and_chain_counts_are_refused():
    data = _data()
    model = LinearGaussian(len(data))
    with pytest.raises(ValueError, match="index the 6 data points"):
        ReferencePosterior(model, data, [7])
    with pytest.raises(ValueError, match="num_chains"):
        ReferencePosterior(model, data, [0], num_chains=1)
    with pytest.raises(RuntimeError, match="run"):
        ReferencePosterior(model, data, [0], guide_samples=30).compare_guide()
