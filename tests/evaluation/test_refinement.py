"""Semi-amortised refinement: on a linear-Gaussian model the exact posterior is a correlated Gaussian in
closed form; a mean-field encoder that is mis-centred and too narrow must be refined onto it."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch.nn.functional import softplus

from pyrodisent.data import ArrayDataset
from pyrodisent.evaluation.diagnostics import psis_khat
from pyrodisent.evaluation.scoring import importance_weighted_evaluation
from pyrodisent.model import LatentVariableModel, _local_log_prob, plain_elbo_weights
from pyrodisent.evaluation.refinement import (RefinedPosterior, StackedMultivariateNormal, _log_prob, _rsample, encoder_gaussian,
                                   refined_posterior)
from pyrodisent.sites import LATENT_SITE

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


class FullCovarianceEncoder(MisplacedEncoder):
    """The same model with a full-covariance guide: the exact posterior's correlation, a third of its scale."""

    def posterior(self, batch):
        mean, covariance = self.exact_posterior(batch.x)
        factor = torch.linalg.cholesky(covariance) / 3
        return dist.MultivariateNormal(mean + covariance.diagonal().sqrt(), scale_tril=factor.expand(len(mean), -1, -1))


def reference_fit(refined, steps, lr, num_particles):
    """The refinement loop written with torch's MultivariateNormal, T filled into a matrix entry by entry and
    C_n T_n as a matrix product for every encoder: what ``RefinedPosterior.fit`` must reproduce."""
    model, k = refined.model, refined.encoder_mean.shape[1]
    rows, cols = torch.tril_indices(k, k)

    def q(index, detach):
        shift, raw = (refined.shift.detach(), refined.raw_factor.detach()) if detach else (refined.shift,
                                                                                         refined.raw_factor)
        tril = raw.new_zeros(len(index), k, k)
        tril[:, rows, cols] = raw[index]
        factor_t = torch.tril(tril, -1) + torch.diag_embed(softplus(torch.diagonal(tril, dim1=-2, dim2=-1)) + 1e-6)
        factor = refined.encoder_factor[index]
        loc = refined.encoder_mean[index] + (factor @ shift[index][..., None])[..., 0]
        return dist.MultivariateNormal(loc, scale_tril=factor @ factor_t)

    optimizer = torch.optim.Adam([refined.shift, refined.raw_factor], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    fixed_model = poutine.replay(model.model, trace=refined.globals_trace)
    for p in model.parameters():
        p.requires_grad_(False)
    batch = refined.data.batch(torch.arange(len(refined.data)))
    for _ in range(steps):
        optimizer.zero_grad()
        z = q(batch.index, False).rsample((num_particles,))
        log_q = q(batch.index, True).log_prob(z)
        with poutine.block(), plain_elbo_weights(model):
            trace = poutine.trace(poutine.condition(fixed_model, data={LATENT_SITE: z.reshape(-1, k)})).get_trace(
                batch.repeat(num_particles))
        loss = -(_local_log_prob(trace).reshape(num_particles, -1) - log_q).mean(0).sum()
        loss.backward()
        optimizer.step()
        schedule.step()
        refined.history.append(float(loss.detach()) / len(refined.data))
    for p in model.parameters():
        p.requires_grad_(True)
    return refined


@pytest.mark.parametrize("encoder", [MisplacedEncoder, FullCovarianceEncoder])
def test_fit_reproduces_the_multivariate_normal_formulation(encoder):
    data = ArrayDataset(torch.randn(8, FEATURES, generator=torch.Generator().manual_seed(1)) * 2)
    model = encoder(len(data))
    pyro.set_rng_seed(3)
    fitted = RefinedPosterior(model, data).fit(steps=20, lr=0.05, num_particles=4)
    assert (fitted.encoder_scale is not None) == (encoder is MisplacedEncoder)  # the diagonal shortcut
    pyro.set_rng_seed(3)
    reference = reference_fit(RefinedPosterior(model, data), steps=20, lr=0.05, num_particles=4)
    torch.testing.assert_close(fitted.shift, reference.shift, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fitted.raw_factor, reference.raw_factor, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(fitted.history), torch.tensor(reference.history), rtol=1e-5, atol=1e-5)
    assert all(p.requires_grad for p in model.parameters())
    index = torch.tensor([5, 0, 2])
    q = fitted.distribution(index, detach=True)
    loc, scale_tril = fitted.gaussian(index, detach=True)
    torch.testing.assert_close(q.loc, loc)
    torch.testing.assert_close(q.scale_tril, scale_tril)


def test_scoring_distribution_of_repeated_points_is_that_of_the_points():
    """``batch.repeat(S)`` (importance samples) repeats every point's q_n: computed once per point, the same
    numbers, and the same draws and densities as the MultivariateNormal of the repeated parameters."""
    data = ArrayDataset(torch.randn(6, FEATURES, generator=torch.Generator().manual_seed(2)))
    refined = RefinedPosterior(FullCovarianceEncoder(len(data)), data).fit(steps=3)
    batch = data.batch(torch.tensor([4, 1, 3]))
    once = refined.distribution(batch.index, detach=True)
    repeated = refined.distribution(batch.repeat(5).index, detach=True, copies=5)
    assert isinstance(repeated, StackedMultivariateNormal) and isinstance(repeated, dist.MultivariateNormal)
    assert repeated.batch_shape == (15,) and repeated.event_shape == (LATENT,)
    assert torch.equal(repeated.loc, once.loc.repeat(5, 1))
    assert torch.equal(repeated.scale_tril, once.scale_tril.repeat(5, 1, 1))
    plain = dist.MultivariateNormal(repeated.loc, scale_tril=repeated.scale_tril)
    torch.manual_seed(0)
    z = repeated.rsample((2,))
    torch.manual_seed(0)
    torch.testing.assert_close(z, plain.rsample((2,)))
    torch.testing.assert_close(repeated.log_prob(z), plain.log_prob(z))
    torch.testing.assert_close(repeated.log_prob(z[0, :1]), plain.log_prob(z[0, :1]))  # broadcast against the rows
    for name in ("mean", "variance", "covariance_matrix", "precision_matrix"):
        torch.testing.assert_close(getattr(repeated, name), getattr(plain, name))
    torch.testing.assert_close(repeated.entropy(), plain.entropy())
    expanded = repeated.expand((2, 15))
    torch.testing.assert_close(expanded.log_prob(z), plain.expand((2, 15)).log_prob(z))
    torch.testing.assert_close(repeated.to_event(1).log_prob(z), plain.log_prob(z).sum(-1))
    # an index with repeats that is not a stack of copies: q_n of every position all the same
    shuffled = refined.distribution(torch.tensor([4, 1, 4, 3, 1]), detach=True)
    torch.testing.assert_close(shuffled.loc, once.loc[[0, 1, 0, 2, 1]])


def test_draws_and_density_are_those_of_the_multivariate_normal():
    gen = torch.Generator().manual_seed(4)
    loc = torch.randn(7, 3, generator=gen)
    scale_tril = torch.randn(7, 3, 3, generator=gen).tril()
    scale_tril.diagonal(dim1=-2, dim2=-1).copy_(torch.rand(7, 3, generator=gen) + 0.1)
    mvn = dist.MultivariateNormal(loc, scale_tril=scale_tril)
    torch.manual_seed(0)
    expected = mvn.rsample((5,))
    torch.manual_seed(0)
    z = _rsample(loc, scale_tril, 5)
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(_log_prob(loc, scale_tril, z), mvn.log_prob(z))
