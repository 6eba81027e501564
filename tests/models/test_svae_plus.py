import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyrodisent.zoo.svae_plus import MeanShiftVAE, SparseShiftVAE
from pyrodisent.data import Batch
from pyrodisent.infer import MeanFieldELBO


def small_model(cls=SparseShiftVAE, **kwargs):
    return cls((6,), 3, num_data=40, num_actions=4, likelihood="poisson", input_transform="log1p",
               encoder_args=dict(hidden=(8,)), decoder_args=dict(hidden=(8,)), **kwargs)


def batch(n=5):
    x = torch.poisson(torch.full((n, 6), 20.0))
    return Batch(x=x, index=torch.arange(n), extras={"action": torch.tensor([0, 1, 2, 3, 1])[:n]})


def test_gumbel_sigmoid_mask_is_hard_with_gradients():
    model = small_model(initial_mask_logit=0.0)
    trace = poutine.trace(model.guide).get_trace(batch())
    mask = trace.nodes["mask"]["value"]
    assert mask.shape == (4, 3)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    mask.sum().backward()
    # straight-through: each hard mask entry passes the relaxation's gradient, which grows with its logit
    assert (model.mask_logits.grad > 0).all(), model.mask_logits.grad
    assert isinstance(trace.nodes["mask"]["fn"].base_dist, dist.RelaxedBernoulliStraightThrough)


def test_prior_density_on_a_hand_made_case():
    model = small_model()
    shift = torch.tensor([[5.0, -4.0, 0.0], [0.0, 2.0, 3.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    b = batch(2)
    z = torch.tensor([[4.0, 0.5, 0.0], [0.0, 2.0, 2.0]])
    log_density = model.prior(b, shift=shift, mask=mask).log_prob(z)
    # action 0 keeps only the first shift: means (5, 0, 0); action 1 keeps the last two: means (0, 2, 3)
    expected = [
        sum(-0.5 * math.log(2 * math.pi) - 0.5 * d**2 for d in (4 - 5, 0.5 - 0, 0 - 0)),
        sum(-0.5 * math.log(2 * math.pi) - 0.5 * d**2 for d in (0, 0, 2 - 3)),
    ]
    np.testing.assert_allclose(log_density.numpy(), expected, rtol=1e-6)


def test_mask_terms_reduce_to_the_beta_kl():
    """q(γ | π) equals p(γ | π), so the ELBO's mask terms are KL(q(π) ‖ Beta(1, K)) alone."""
    model = small_model(sparsity=10.0)
    model.shift_raw_scale.data.fill_(-20.0)
    b = batch()
    trace = poutine.trace(model.guide).get_trace(b)
    loss, terms = MeanFieldELBO()(model.model, poutine.replay(model.guide, trace=trace), b)
    model_trace = poutine.trace(poutine.replay(model.model, trace=trace)).get_trace(b)
    mask_model = model_trace.nodes["mask"]["fn"].log_prob(trace.nodes["mask"]["value"])
    mask_guide = trace.nodes["mask"]["fn"].log_prob(trace.nodes["mask"]["value"])
    assert torch.allclose(mask_model, mask_guide)
    beta_kl = torch.distributions.kl_divergence(model.mask_probability_posterior(),
                                                dist.Beta(torch.ones(4, 3), 10 * torch.ones(4, 3))).sum()
    # the other KL terms written out: shift N(m, s²) against N(0, 10²), and z | x against N(μ_a ⊙ γ_a, I) per
    # cell, scaled to the 40 cells of the data set
    def normal_kl(loc_q, scale_q, loc_p, scale_p):
        return (torch.log(scale_p / scale_q) + (scale_q**2 + (loc_q - loc_p) ** 2) / (2 * scale_p**2) - 0.5).sum()

    shift_scale = torch.nn.functional.softplus(model.shift_raw_scale)
    shift_kl = normal_kl(model.shift_loc, shift_scale, torch.zeros(4, 3), torch.tensor(10.0))
    prior_loc = (trace.nodes["shift"]["value"] * trace.nodes["mask"]["value"])[b["action"]]
    loc, scale = model.posterior_params(b)
    latent_kl = 40 / 5 * normal_kl(loc, scale, prior_loc, torch.ones(()))
    torch.testing.assert_close(terms["kl"], (beta_kl + shift_kl + latent_kl).detach(), rtol=1e-4, atol=1e-3)
    # K enters only through KL(q(π) ‖ Beta(1, K)), exactly (not a one-sample estimate at the drawn π)
    model.sparsity = 2.0
    loss_at_two, _ = MeanFieldELBO()(model.model, poutine.replay(model.guide, trace=trace), b)
    beta_kl_at_two = torch.distributions.kl_divergence(model.mask_probability_posterior(),
                                                       dist.Beta(torch.ones(4, 3), 2 * torch.ones(4, 3))).sum()
    torch.testing.assert_close(loss - loss_at_two, beta_kl - beta_kl_at_two, rtol=1e-4, atol=1e-3)


def test_mean_shift_baseline_has_no_mask():
    model = small_model(MeanShiftVAE)
    trace = poutine.trace(model.guide).get_trace(batch())
    assert "mask" not in trace.nodes and trace.nodes["shift"]["value"].shape == (4, 3)
    assert model.predicted_targets().shape == (4, 3)


def test_global_medians_fix_the_globals():
    model = small_model()
    model.mask_logits.data = torch.tensor([[3.0, -3.0, 3.0]] * 4)
    trace = model.fixed_globals_trace(batch())
    assert torch.equal(trace.nodes["mask"]["value"], torch.tensor([[1.0, 0.0, 1.0]] * 4))
    assert torch.equal(trace.nodes["shift"]["value"], model.shift_loc.detach())
    log_w = model.log_importance_weights(batch(), 7, globals_trace=trace)
    assert log_w.shape == (7, 5)
    # the weights use the fixed globals: against zero shifts (same draws of z, since q(z | x) ignores the
    # globals) log w differs by log N(z; μ_a ⊙ γ_a, I) − log N(z; 0, I) = z·m − ‖m‖²/2, m = μ_a ⊙ γ_a
    b = batch()
    model.shift_loc.data = torch.tensor([[2.0, -1.5, 1.0]] * 4)
    shifted = model.fixed_globals_trace(b)
    model.shift_loc.data = torch.zeros(4, 3)
    unshifted = model.fixed_globals_trace(b)
    torch.manual_seed(0)
    with torch.no_grad():
        log_w_shifted = model.log_importance_weights(b, 4000, globals_trace=shifted)
    torch.manual_seed(0)
    with torch.no_grad():
        log_w_unshifted = model.log_importance_weights(b, 4000, globals_trace=unshifted)
        loc, _ = model.posterior_params(b)
    m = torch.tensor([2.0, 0.0, 1.0])  # the mask [1, 0, 1] keeps the first and last shifts, every action
    expected = loc @ m - 0.5 * m.pow(2).sum()
    torch.testing.assert_close((log_w_shifted - log_w_unshifted).mean(0), expected, atol=0.15, rtol=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sparsity K must be positive"):
        small_model(sparsity=0.0)
    with pytest.raises(ValueError, match="num_actions"):
        MeanShiftVAE((6,), 3, num_data=4, num_actions=0)
    with pytest.raises(KeyError, match="carries: none"):
        small_model().prior(Batch(x=torch.zeros(2, 6), index=torch.arange(2)), shift=torch.zeros(4, 3),
                            mask=torch.ones(4, 3))


def test_temperature_schedule():
    model = small_model(temperature=1.0, final_temperature=0.5, temperature_anneal_steps=10)
    model.set_training_step(5)
    assert model.temperature == pytest.approx(0.75)
    model.set_training_step(50)
    assert model.temperature == pytest.approx(0.5)


def test_reset_actions_restarts_only_those_actions_posteriors():
    model = small_model(initial_mask_logit=4.0, initial_concentration=7.0)
    with torch.no_grad():
        for parameter in model.global_parameters():
            parameter.add_(torch.randn_like(parameter))
    before = [p.detach().clone() for p in model.global_parameters()]
    model.reset_actions(torch.tensor([1, 3]))
    shift_loc, shift_raw_scale, mask_logits, log_concentration = model.global_parameters()
    assert torch.equal(shift_loc[[1, 3]], torch.zeros(2, 3))
    assert torch.equal(shift_raw_scale[[1, 3]], torch.full((2, 3), -3.0))
    assert torch.equal(mask_logits[[1, 3]], torch.full((2, 3), 4.0))  # every mask back on
    assert torch.allclose(log_concentration[[1, 3]], torch.full((2, 3), math.log(7.0)))
    for old, new in zip(before, model.global_parameters()):
        assert torch.equal(old[[0, 2]], new[[0, 2]])  # the other actions keep what they learned
    baseline = small_model(MeanShiftVAE)
    baseline.reset_actions(torch.tensor([0]))
    assert torch.equal(baseline.shift_loc[0], torch.zeros(3))
