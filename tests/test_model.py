"""The base class's hooks: prior shapes named at the first step, tempered likelihood, global learning
rates, posterior predictive."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyrodisent.data import ArrayDataset, Batch
from pyrodisent.evaluation.scoring import evidence_lower_bound, importance_weighted_bounds
from pyrodisent.infer import MeanFieldELBO
from pyrodisent.model import LatentVariableModel
from pyrodisent.training.trainer import Trainer


class UnshapedPrior(LatentVariableModel):
    """A Laplace prior without ``.to_event(1)``: batch shape (B, K), event shape ()."""

    def prior(self, batch):
        return dist.Laplace(batch.x.new_zeros(batch.size, self.latent_dim), 1.0)


class OnePointPrior(LatentVariableModel):
    """A prior over one point's latents, not the minibatch's: batch shape (), event shape (K,)."""

    def prior(self, batch):
        return dist.Normal(torch.zeros(self.latent_dim), 1.0).to_event(1)


def test_prior_without_to_event_is_named_when_the_trainer_is_built():
    data = ArrayDataset(torch.randn(20, 4))
    model = UnshapedPrior((4,), 3, num_data=20)
    with pytest.raises(ValueError, match=r"latent site 'z' of UnshapedPrior has batch shape \(8, 3\) and event shape "
                                         r"\(\); expected batch shape \(8,\) .* event shape \(3,\): .*`\.to_event\(1\)`"):
        Trainer(model, data, epochs=1, batch_size=8, device="cpu", progress=False)


def test_prior_over_one_point_is_named():
    model = OnePointPrior((4,), 3, num_data=20)
    batch = Batch(x=torch.randn(8, 4), index=torch.arange(8))
    with pytest.raises(ValueError, match=r"batch shape \(\) and event shape \(3,\); expected batch shape \(8,\).*"
                                         r"batch\.size, 3"):
        MeanFieldELBO()(model.model, model.guide, batch)


class LinearGaussian(LatentVariableModel):
    """z ~ N(0, 1), x | z ~ N(a z, σ²), q(z | x) = N(c x, s²): the posterior predictive is N(a c x, a²s² + σ²)."""

    def __init__(self, num_data, a=1.5, sigma=0.5, c=0.3, s=0.4, **kwargs):
        super().__init__((1,), 1, num_data, likelihood_args=dict(scale=sigma), **kwargs)
        self.a, self.sigma, self.c, self.s = a, sigma, c, s

    def posterior(self, batch):
        return dist.Normal(self.c * batch.x, self.s * torch.ones_like(batch.x)).to_event(1)

    def observation_distribution(self, z, batch):
        return self.likelihood(self.a * z, batch)


def test_posterior_predictive_samples_x_with_the_likelihoods_spread():
    torch.manual_seed(0)
    model = LinearGaussian(num_data=5)
    x = torch.tensor([[-2.0], [-0.5], [0.0], [1.0], [3.0]])
    draws = model.posterior_predictive(Batch(x=x, index=torch.arange(5)), num_samples=4000)
    assert draws.shape == (4000, 5, 1)
    assert not torch.isclose(draws, x.expand_as(draws)).any()  # sampled, not the observations
    expected_std = math.sqrt(model.a**2 * model.s**2 + model.sigma**2)  # 0.781
    # standard errors over 4000 draws: mean ±0.012, std ±0.009
    assert torch.allclose(draws.mean(0), model.a * model.c * x, atol=0.05)
    assert torch.allclose(draws.std(0), torch.full_like(x, expected_std), atol=0.04)


def test_tempered_likelihood_trains_scaled_and_both_bounds_report_the_plain_elbo():
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 64).unsqueeze(-1)
    tempered = LinearGaussian(num_data=64, likelihood_weight=0.25, beta=3.0)
    plain = LinearGaussian(num_data=64)
    batch = Batch(x=x[:16], index=torch.arange(16))
    guide_trace = poutine.trace(tempered.guide).get_trace(batch)
    _, tempered_terms = MeanFieldELBO()(tempered.model, poutine.replay(tempered.guide, trace=guide_trace), batch)
    _, plain_terms = MeanFieldELBO()(plain.model, poutine.replay(plain.guide, trace=guide_trace), batch)
    assert torch.allclose(tempered_terms["reconstruction"], 0.25 * plain_terms["reconstruction"], rtol=1e-5)
    assert torch.allclose(tempered_terms["kl"], 3.0 * plain_terms["kl"], rtol=1e-5)

    data = ArrayDataset(x)
    assert evidence_lower_bound(tempered, data, num_particles=50, seed=0) == evidence_lower_bound(
        plain, data, num_particles=50, seed=0)
    m, a, s, sigma = 0.3 * x.squeeze(-1), tempered.a, tempered.s, tempered.sigma
    expected_log_lik = -0.5 * math.log(2 * math.pi * sigma**2) - ((x.squeeze(-1) - a * m) ** 2 + a**2 * s**2) / (2 * sigma**2)
    closed_form = float((expected_log_lik - 0.5 * (s**2 + m**2 - 1 - math.log(s**2))).mean())  # the plain ELBO
    # 2000 draws a point: both estimates lie within 0.01 of the closed form over seeds 0-5
    assert evidence_lower_bound(tempered, data, num_particles=2000, seed=0) == pytest.approx(closed_form, abs=0.02)
    elbo, _ = importance_weighted_bounds(tempered, data, num_samples=2000, seed=0)
    assert elbo == pytest.approx(closed_form, abs=0.02)
    assert tempered.likelihood_weight == 0.25 and tempered.beta == 3.0  # restored after evaluation


class GlobalOffset(LatentVariableModel):
    """z_n ~ N(μ, I) with a global μ ~ N(0, I): q(μ) = N(m, s²) from nn.Parameters, and a pyro.param prior scale."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.offset_loc = torch.nn.Parameter(torch.zeros(self.latent_dim))
        self.offset_raw_scale = torch.nn.Parameter(torch.full((self.latent_dim,), -2.0))

    def global_parameters(self):
        return [self.offset_loc, self.offset_raw_scale]

    def model_globals(self, batch):
        return {"offset": pyro.sample("offset", dist.Normal(torch.zeros(self.latent_dim), 1.0).to_event(1))}

    def guide_globals(self, batch):
        scale = torch.nn.functional.softplus(self.offset_raw_scale)
        return {"offset": pyro.sample("offset", dist.Normal(self.offset_loc, scale).to_event(1))}

    def prior(self, batch, offset):
        scale = pyro.param("prior_scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        return dist.Normal(offset.expand(batch.size, -1), scale).to_event(1)


def test_global_parameters_and_pyro_params_train_at_the_global_learning_rate():
    pyro.clear_param_store()
    data = ArrayDataset(torch.randn(40, 4))
    model = GlobalOffset((4,), 3, num_data=40, global_lr_factor=5.0)
    trainer = Trainer(model, data, epochs=1, batch_size=8, lr=0.01, device="cpu", progress=False)
    lr_of = {id(p): group["lr"] for group in trainer.optimizer.param_groups for p in group["params"]}
    assert lr_of[id(model.offset_loc)] == lr_of[id(model.offset_raw_scale)] == pytest.approx(0.05)
    assert lr_of[id(pyro.param("prior_scale").unconstrained())] == pytest.approx(0.05)
    assert lr_of[id(next(model.encoder.parameters()))] == pytest.approx(0.01)
    assert len(lr_of) == len(list(model.parameters())) + 1  # every parameter once, the pyro.param included


class Banana(LatentVariableModel):
    """z ~ N(0, I₂), x | z ~ N(z₂ + z₁², 0.2²): the posterior of z is curved, beyond any Gaussian."""

    def observation_distribution(self, z, batch):
        return dist.Normal(z[:, 1:] + z[:, :1] ** 2, 0.2).to_event(1)


@pytest.mark.parametrize("seed", [0, 1])
def test_flow_guide_reaches_a_curved_posterior_that_a_gaussian_guide_cannot(seed):
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(256, 2, generator=generator)
    data = ArrayDataset(z[:, 1:] + z[:, :1] ** 2 + 0.2 * torch.randn(256, 1, generator=generator))
    elbos = []
    for layers in (0, 2):
        torch.manual_seed(seed)
        model = Banana((1,), 2, 256, posterior_flow_layers=layers, encoder_args=dict(hidden=(32,)))
        Trainer(model, data, epochs=100, batch_size=128, lr=1e-2, seed=seed, progress=False).fit()
        elbos.append(evidence_lower_bound(model, data, batch_size=256, num_particles=50, seed=0))
    gaussian, flow = elbos
    assert flow > gaussian + 0.3  # measured over seeds 0–2: 0.69, 0.52, 0.94 nats per point


def test_flow_guide_codes_are_the_base_mean_through_the_flow_and_images_are_refused():
    torch.manual_seed(0)
    model = Banana((1,), 2, 16, posterior_flow_layers=1)
    batch = Batch(x=torch.randn(16, 1), index=torch.arange(16))
    q = model.posterior(batch)
    # Pyro's own sampling path with the base collapsed onto its mean: the flow's image of the base mean
    collapsed = dist.TransformedDistribution(dist.Delta(q.base_dist.mean, event_dim=1), q.transforms)
    codes = model.encode(batch)
    assert torch.allclose(codes, collapsed.sample(), atol=1e-6)
    assert not torch.allclose(codes, q.base_dist.mean, atol=1e-3)  # the flow moved them
    with pytest.raises(ValueError, match="needs vector observations"):
        LatentVariableModel((1, 16, 16), 2, 16, encoder="conv_encoder", decoder="conv_decoder", posterior_flow_layers=1)


def test_global_kl_warmup_scales_the_global_sites_by_the_warmup_factor_only():
    batch = Batch(x=torch.randn(8, 4), index=torch.arange(8))
    for flag, expected in ((True, 0.5), (False, 1.0)):
        model = GlobalOffset((4,), 3, num_data=40, beta=2.0, kl_warmup_steps=10, global_kl_warmup=flag)
        model.set_training_step(4)  # warm-up factor (4 + 1) / 10
        guide_trace = poutine.trace(model.guide).get_trace(batch)
        model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch)
        for trace in (guide_trace, model_trace):
            assert trace.nodes["offset"]["scale"] == pytest.approx(expected)  # β does not enter
            assert trace.nodes["z"]["scale"] == pytest.approx(2.0 * 0.5 * 40 / 8)  # local: β·warm-up·N/B
        # the global KL term of the loss carries the factor: the ELBO difference is the factor times the KL
        plain = GlobalOffset((4,), 3, num_data=40, beta=2.0, kl_warmup_steps=10)
        plain.load_state_dict(model.state_dict())
        plain.set_training_step(4)
        _, warm = MeanFieldELBO()(model.model, poutine.replay(model.guide, trace=guide_trace), batch)
        _, cold = MeanFieldELBO()(plain.model, poutine.replay(plain.guide, trace=guide_trace), batch)
        q = guide_trace.nodes["offset"]["fn"]
        global_kl = float(torch.distributions.kl_divergence(q, model_trace.nodes["offset"]["fn"]).detach())
        assert float(cold["kl"] - warm["kl"]) == pytest.approx((1.0 - expected) * global_kl, rel=1e-4, abs=1e-5)
    model.set_training_step(20)
    assert model.warmup_factor == 1.0
