"""The β-VAE family's training objectives against hand computations on one minibatch."""
import pytest
import torch
from pyro import poutine

import pyrodisent.zoo  # noqa: F401  (registers the zoo)
from pyrodisent.zoo.factor_vae import permute_dimensions
from pyrodisent.data import Batch
from pyrodisent.infer import MeanFieldELBO
from pyrodisent.registry import MODELS

N, D, K = 100, 6, 3


def build(name, **kwargs):
    return MODELS.build(name, observation_shape=(D,), latent_dim=K, num_data=N, encoder_args=dict(hidden=(8,)),
                        decoder_args=dict(hidden=(8,)), **kwargs)


def traces(model, batch):
    guide_trace = poutine.trace(model.guide).get_trace(batch)
    model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(batch)
    return model_trace, guide_trace, poutine.replay(model.guide, trace=guide_trace)


BATCH = Batch(x=torch.randn(10, D), index=torch.arange(10))


def test_dip_vae_penalty_by_hand():
    for name, factor in (("dip_vae", 10.0), ("dip_vae_ii", 1.0)):
        model = build(name, lambda_od=2.0)
        model_trace, guide_trace, guide = traces(model, BATCH)
        loss, terms = model.training_objective()(model.model, guide, BATCH)
        elbo_loss, _ = MeanFieldELBO()(model.model, guide, BATCH)
        loc, scale = model.posterior_params(BATCH)
        cov = torch.cov(loc.T, correction=0)
        if name == "dip_vae_ii":
            cov = cov + torch.diag(scale.pow(2).mean(0))
        off = cov - torch.diag(torch.diagonal(cov))
        expected = N * (2.0 * off.pow(2).sum() + factor * 2.0 * (torch.diagonal(cov) - 1).pow(2).sum())
        assert torch.allclose(loss - elbo_loss, expected, rtol=1e-4)
        assert torch.allclose(terms["penalty"], expected.detach(), rtol=1e-4)


def test_annealed_vae_replaces_the_kl_by_the_capacity_penalty():
    model = build("annealed_vae", gamma=5.0, max_capacity=10.0, capacity_steps=100)
    model.set_training_step(50)
    assert model.capacity == pytest.approx(5.0)
    model_trace, guide_trace, guide = traces(model, BATCH)
    loss, terms = model.training_objective()(model.model, guide, BATCH)
    loc, scale = model.posterior_params(BATCH)
    kl = (0.5 * (loc.pow(2) + scale.pow(2) - 1) - scale.log()).sum(-1)
    expected = terms["reconstruction"] + N * 5.0 * (kl.mean() - 5.0).abs()
    assert torch.allclose(loss, expected, rtol=1e-4)


def test_beta_tcvae_weights_only_the_total_correlation():
    model = build("beta_tcvae", tc_weight=6.0)
    _, _, guide = traces(model, BATCH)
    loss6, terms = model.training_objective()(model.model, guide, BATCH)
    model.tc_weight = 1.0
    loss1, _ = model.training_objective()(model.model, guide, BATCH)
    assert torch.allclose(loss6 - loss1, 5.0 * terms["total_correlation"], rtol=1e-4)


def test_factor_vae_discriminator_learns_and_is_not_trained_by_the_vae_loss():
    torch.manual_seed(0)
    model = build("factor_vae", discriminator_hidden=(32, 32), discriminator_lr=1e-2)
    main_params = {id(p) for group in model.parameter_groups(1e-3) for p in group["params"]}
    assert not any(id(p) in main_params for p in model.discriminator.parameters())
    (objective,) = model.auxiliary_objectives()
    assert {id(p) for p in objective.parameters} == {id(p) for p in model.discriminator.parameters()}
    # correlated codes: the discriminator should separate them from their permutations
    model.posterior = lambda batch: torch.distributions.Independent(
        torch.distributions.Normal(batch.x[:, :1].expand(-1, K) * torch.tensor([1.0, 2.0, -1.0]), 0.05), 1)
    batch = Batch(x=torch.randn(256, D), index=torch.arange(256))
    optimizer = torch.optim.Adam(objective.parameters, lr=objective.lr, betas=objective.betas)
    for _ in range(150):
        second = Batch(x=torch.randn(256, D), index=torch.arange(256))
        optimizer.zero_grad()
        objective.loss(batch, second).backward()
        optimizer.step()
    z = model.posterior(batch).sample()
    with torch.no_grad():
        real = model.discriminator(z).argmax(-1).eq(0).float().mean()
        fake = model.discriminator(permute_dimensions(z)).argmax(-1).eq(1).float().mean()
    assert real > 0.8 and fake > 0.8


def test_permute_dimensions_keeps_marginals():
    z = torch.arange(12.0).reshape(4, 3)
    p = permute_dimensions(z)
    assert all(sorted(p[:, j].tolist()) == z[:, j].tolist() for j in range(3))
