"""The trainer's ELBO against closed forms and against Pyro's own estimators."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal

from pyrodisent.data import ArrayDataset, Batch
from pyrodisent.evaluation.scoring import evidence_lower_bound
from pyrodisent.infer import MeanFieldELBO
from pyrodisent.infer.decomposed_elbo import DecomposedELBO
from pyrodisent.model import LatentVariableModel


class LinearGaussian(LatentVariableModel):
    """z ~ N(0, 1), x | z ~ N(a z, σ²); guide q(z|x) = N(c x, s²): everything linear, so the ELBO has a closed form."""

    def __init__(self, num_data, a=1.5, sigma=0.5, c=0.3, s=0.4):
        super().__init__((1,), 1, num_data, likelihood_args=dict(scale=sigma))
        self.a, self.sigma, self.c, self.s = a, sigma, c, s

    def posterior(self, batch):
        return dist.Normal(self.c * batch.x, self.s * torch.ones_like(batch.x)).to_event(1)

    def observation_distribution(self, z, batch):
        return self.likelihood(self.a * z, batch)


def closed_form_elbo(x, a, sigma, c, s):
    m = c * x
    expected_log_lik = -0.5 * math.log(2 * math.pi * sigma**2) - ((x - a * m) ** 2 + a**2 * s**2) / (2 * sigma**2)
    kl = 0.5 * (s**2 + m**2 - 1 - math.log(s**2))
    return expected_log_lik - kl


def test_linear_gaussian_elbo_matches_closed_form():
    x = torch.linspace(-2, 2, 64).unsqueeze(-1)
    model = LinearGaussian(num_data=64)
    data = ArrayDataset(x)
    expected = closed_form_elbo(x.squeeze(-1), model.a, model.sigma, model.c, model.s).mean().item()
    estimate = evidence_lower_bound(model, data, batch_size=16, num_particles=400, seed=0)
    # Monte Carlo error of the reconstruction term: sd of a²(ε²)s²/(2σ²)-type terms over 400×64 draws ≈ 0.006
    assert estimate == pytest.approx(expected, abs=0.03)


def test_minibatch_scaling_makes_batches_unbiased():
    """Each minibatch's loss, scaled by N/B, averages to the full-data loss."""
    x = torch.linspace(-2, 2, 32).unsqueeze(-1)
    model = LinearGaussian(num_data=32, s=1e-4)  # nearly deterministic: the estimate is exact to ~1e-6
    objective = MeanFieldELBO()
    full, _ = objective(model.model, model.guide, Batch(x=x, index=torch.arange(32)))
    halves = [objective(model.model, model.guide, Batch(x=x[i::2], index=torch.arange(32)[i::2]))[0] for i in range(2)]
    assert torch.allclose(full, sum(halves) / 2, rtol=1e-4)


def _random_model():
    class M(LatentVariableModel):
        def prior(self, batch):
            return dist.Laplace(batch.x.new_zeros(batch.size, self.latent_dim), 1.0).to_event(1)

    return M((4,), 3, num_data=100, beta=2.0)


@pytest.mark.parametrize("pyro_elbo", [TraceMeanField_ELBO, Trace_ELBO])
def test_equals_pyro_estimators_on_the_same_sample(pyro_elbo):
    torch.manual_seed(0)
    model = LatentVariableModel((4,), 3, num_data=100, beta=2.0)
    batch = Batch(x=torch.randn(10, 4), index=torch.arange(10))
    guide_trace = poutine.trace(model.guide).get_trace(batch)
    replayed_guide = poutine.replay(model.guide, trace=guide_trace)
    ours, terms = MeanFieldELBO()(model.model, replayed_guide, batch)
    theirs = pyro_elbo().differentiable_loss(model.model, replayed_guide, batch)
    if pyro_elbo is TraceMeanField_ELBO:
        assert torch.allclose(ours, theirs, rtol=1e-5)
    else:
        # Trace_ELBO scores the latent by log q − log p at the sample, ours by the analytic KL: on the same
        # sample they differ by exactly β·N/B·Σ_n (log q(z_n) − log p(z_n) − KL_n), KL_n in closed form.
        z = guide_trace.nodes["z"]["value"]
        loc, scale = model.posterior_params(batch)
        log_q = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
        log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        closed_form_kl = (0.5 * (scale**2 + loc**2 - 1) - scale.log()).sum(-1)
        difference = 2.0 * (100 / 10) * (log_q - log_p - closed_form_kl).sum()
        assert abs(float(difference.detach())) > 1e-2  # the two estimators do differ on this sample
        assert torch.allclose(theirs - ours, difference, rtol=1e-4, atol=1e-3)
    assert torch.allclose(terms["reconstruction"] + terms["kl"], ours.detach())


def test_monte_carlo_kl_fallback_equals_trace_elbo():
    """Normal guide against a Laplace prior has an analytic KL in torch; a Student-t prior does not."""

    class StudentPrior(LatentVariableModel):
        def prior(self, batch):
            return dist.StudentT(3.0, batch.x.new_zeros(batch.size, self.latent_dim), 1.0).to_event(1)

    model = StudentPrior((4,), 3, num_data=50)
    batch = Batch(x=torch.randn(10, 4), index=torch.arange(10))
    replayed_guide = poutine.replay(model.guide, trace=poutine.trace(model.guide).get_trace(batch))
    ours, _ = MeanFieldELBO()(model.model, replayed_guide, batch)
    theirs = Trace_ELBO().differentiable_loss(model.model, replayed_guide, batch)
    assert torch.allclose(ours, theirs, rtol=1e-5)


def test_non_reparameterised_guide_is_refused():
    def model():
        pyro.sample("k", dist.Bernoulli(0.5))

    def guide():
        pyro.sample("k", dist.Bernoulli(0.3))

    with pytest.raises(ValueError, match="objective='trace'"):
        MeanFieldELBO()(model, guide)


def _decomposed_and_trace_elbo(model, guide, batch):
    replayed_guide = poutine.replay(guide, trace=poutine.trace(guide).get_trace(batch))
    ours, terms = DecomposedELBO()(model, replayed_guide, batch)
    return ours, terms, Trace_ELBO().differentiable_loss(model, replayed_guide, batch)


def test_decomposed_elbo_with_unit_weights_is_the_monte_carlo_elbo_at_beta_and_warmup():
    """β = 2 and a KL warm-up enter through poutine.scale on the latent site: the decomposition must
    carry them, so at weights (1, 1, 1, 1) it is Pyro's Trace_ELBO on the same sample."""
    torch.manual_seed(0)
    model = _random_model()  # β = 2
    batch = Batch(x=torch.randn(16, 4), index=torch.arange(16))
    ours, terms, theirs = _decomposed_and_trace_elbo(model.model, model.guide, batch)
    assert torch.allclose(ours, theirs, rtol=1e-4)
    assert set(terms) == {"reconstruction", "mutual_information", "total_correlation", "dimension_kl"}
    unit = _random_model()
    unit.load_state_dict(model.state_dict())
    unit.beta = 1.0
    torch.manual_seed(1)
    _, _, at_beta_two = _decomposed_and_trace_elbo(model.model, model.guide, batch)
    torch.manual_seed(1)
    ours_unit, unit_terms, at_beta_one = _decomposed_and_trace_elbo(unit.model, unit.guide, batch)
    assert not torch.allclose(at_beta_two, at_beta_one, rtol=1e-3)  # β does change the loss
    model.kl_warmup_steps = 10
    model.set_training_step(2)  # KL weight 2 · 3/10
    torch.manual_seed(1)
    ours_warm, warm_terms, theirs_warm = _decomposed_and_trace_elbo(model.model, model.guide, batch)
    assert torch.allclose(ours_warm, theirs_warm, rtol=1e-4)
    for name in ("mutual_information", "total_correlation"):  # the guide-side parts scale by β·warm-up
        assert torch.allclose(warm_terms[name], 0.6 * unit_terms[name], rtol=1e-4)


def test_decomposed_elbo_honours_poutine_scale_and_mask():
    torch.manual_seed(0)
    model = _random_model()
    batch = Batch(x=torch.randn(16, 4), index=torch.arange(16))
    replayed_guide = poutine.replay(model.guide, trace=poutine.trace(model.guide).get_trace(batch))
    plain, _ = DecomposedELBO(total_correlation_weight=4.0)(model.model, replayed_guide, batch)
    scaled, _ = DecomposedELBO(total_correlation_weight=4.0)(
        poutine.scale(model.model, scale=0.3), poutine.scale(replayed_guide, scale=0.3), batch)
    assert torch.allclose(scaled, 0.3 * plain, rtol=1e-4)
    keep = torch.arange(16) % 3 != 0
    masked_model, masked_guide = poutine.mask(model.model, mask=keep), poutine.mask(replayed_guide, mask=keep)
    ours, _ = DecomposedELBO()(masked_model, masked_guide, batch)
    theirs = Trace_ELBO().differentiable_loss(masked_model, masked_guide, batch)
    assert torch.allclose(ours, theirs, rtol=1e-4)
    assert not torch.allclose(ours, DecomposedELBO()(model.model, replayed_guide, batch)[0], rtol=1e-3)


# ---------------------------------------------------------------------- sites only the guide has
OBSERVED = torch.randn(99, generator=torch.Generator().manual_seed(0)) + 0.5


def conjugate_model():
    """μ ~ N(0, 1), x_i | μ ~ N(μ, 1) for 99 points: the posterior of μ is N(Σx/100, 0.1²)."""
    mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
    with pyro.plate("points", len(OBSERVED)):
        pyro.sample("x", dist.Normal(mu, 1.0), obs=OBSERVED)


def test_autonormal_guide_only_sites_equal_pyro_estimators():
    """AutoNormal samples ``mu_unconstrained`` (guide only, auxiliary) and a Delta at ``mu``: the loss and its
    gradients must be Pyro's, which add log q of the auxiliary site."""
    pyro.clear_param_store()
    guide = AutoNormal(conjugate_model, init_scale=0.3)
    guide()  # creates the parameters
    replayed = poutine.replay(guide, trace=poutine.trace(guide).get_trace())
    ours, _ = MeanFieldELBO()(conjugate_model, replayed)
    ours_gradients = torch.autograd.grad(ours, list(guide.parameters()), retain_graph=True)
    for pyro_elbo in (TraceMeanField_ELBO, Trace_ELBO):
        theirs = pyro_elbo().differentiable_loss(conjugate_model, replayed)
        assert torch.allclose(ours, theirs, rtol=1e-6)
        for mine, their in zip(ours_gradients, torch.autograd.grad(theirs, list(guide.parameters()), retain_graph=True)):
            assert torch.allclose(mine, their, rtol=1e-5)


def test_autonormal_scale_reaches_the_exact_posterior_scale():
    """Dropping the auxiliary site's log q (the old behaviour) makes q(μ) collapse below the posterior's 0.1."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    guide = AutoNormal(conjugate_model, init_scale=0.5)
    objective = MeanFieldELBO()
    objective(conjugate_model, guide)
    optimizer = torch.optim.Adam(guide.parameters(), lr=0.01)
    for _ in range(1500):
        loss, _ = objective(conjugate_model, guide)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    posterior_mean = float(OBSERVED.sum()) / 100
    assert float(guide.locs.mu.detach()) == pytest.approx(posterior_mean, abs=0.03)
    assert float(guide.scales.mu.detach()) == pytest.approx(0.1, abs=0.012)


def test_unmarked_guide_only_site_is_refused():
    def model():
        pyro.sample("a", dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample("a", dist.Normal(0.0, 1.0))
        pyro.sample("b", dist.Normal(0.0, 1.0))  # e.g. a misspelt model site

    with pytest.raises(ValueError, match=r"guide site 'b' has no counterpart in the model.*is_auxiliary"):
        MeanFieldELBO()(model, guide)
