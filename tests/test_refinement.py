"""Semi-amortised refinement: on a linear-Gaussian model the exact posterior is a correlated Gaussian in
closed form; a mean-field encoder that is mis-centred and too narrow must be refined onto it."""
import pyro.distributions as dist
import pytest
import torch

from pyrodisent.data import ArrayDataset
from pyrodisent.diagnostics import psis_khat
from pyrodisent.evaluation import importance_weighted_evaluation
from pyrodisent.model import LatentVariableModel
from pyrodisent.refinement import RefinedPosterior, encoder_gaussian, refined_posterior

LATENT, FEATURES, NOISE = 2, 3, 0.3


class MisplacedEncoder(LatentVariableModel):
    """z ~ N(0, I), x | z ~ N(W z + b, σ² I); the guide: a diagonal Gaussian one exact-posterior sd off
    the exact mean in every latent, with a third of the exact marginal sds."""

    def __init__(self, num_data):
        super().__init__((FEATURES,), LATENT, num_data, decoder_args=dict(hidden=()), likelihood_args=dict(scale=NOISE))
        generator = torch.Generator().manual_seed(5)
        with torch.no_grad():
            self.decoder.layers[0].weight.copy_(torch.randn(FEATURES, LATENT, generator=generator))
            self.decoder.layers[0].bias.copy_(torch.randn(FEATURES, generator=generator))

    def exact_posterior(self, x):
        weight, bias = self.decoder.layers[0].weight.detach(), self.decoder.layers[0].bias.detach()
        covariance = torch.linalg.inv(torch.eye(LATENT) + weight.T @ weight / NOISE**2)
        return (x - bias) @ weight @ covariance / NOISE**2, covariance

    def posterior(self, batch):
        mean, covariance = self.exact_posterior(batch.x)
        sd = covariance.diagonal().sqrt()
        return dist.Normal(mean + sd, (sd / 3).expand_as(mean)).to_event(1)


def test_refinement_reaches_the_exact_posterior_and_repairs_khat():
    data = ArrayDataset(torch.randn(8, FEATURES, generator=torch.Generator().manual_seed(1)) * 2)
    model = MisplacedEncoder(len(data))
    before = psis_khat(model, data, num_samples=500, seed=0)
    assert (before > 0.7).all()  # the encoder's guide is unusable as a proposal
    refined = RefinedPosterior(model, data).fit(steps=300, lr=0.05, num_particles=4)
    mean, covariance = model.exact_posterior(data.x)
    q = refined.distribution(torch.arange(len(data)), detach=True)
    sd = covariance.diagonal().sqrt()
    assert torch.all((q.mean - mean).abs() / sd < 0.1)
    assert torch.allclose(q.covariance_matrix, covariance.expand(len(data), LATENT, LATENT), rtol=0.15, atol=0.05 * float(sd.min() ** 2))
    assert refined.history[-1] < refined.history[0]
    with refined_posterior(model, refined):
        after = psis_khat(model, data, num_samples=500, seed=0)
        scored = importance_weighted_evaluation(model, data, num_samples=500, seed=0)
    assert (after < 0.5).all()
    assert scored["iwae"] - scored["elbo"] < 0.05  # a proposal equal to the posterior: no gap between bounds
    # outside the block the model's own encoder is back
    assert torch.allclose(encoder_gaussian(model.posterior(data.batch(torch.arange(2))))[0], mean[:2] + sd)


def test_refinement_needs_a_gaussian_encoder():
    with pytest.raises(TypeError, match="Gaussian posterior"):
        encoder_gaussian(dist.Gamma(torch.ones(3, 2), 1.0).to_event(1))
