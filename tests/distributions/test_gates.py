"""The sparse-gate machinery sVAE+ and latent_shift share."""
import pytest
import torch

from pyrodisent.distributions.gates import (annealed_temperature, check_gate_settings, gate_probability_posterior,
                                            relaxed_gate, sparsity_prior, unscored_relaxed_gate)


def test_temperature_anneals_linearly_then_stays():
    assert annealed_temperature(1.0, 0.2, 10, 5) == pytest.approx(0.6)
    assert annealed_temperature(1.0, 0.2, 10, 50) == pytest.approx(0.2)
    assert annealed_temperature(1.0, None, 10, 5) == 1.0


def test_gates_are_hard_with_relaxed_gradients():
    probability = torch.full((100,), 0.3, requires_grad=True)
    gate = relaxed_gate(probability, 0.5).rsample()
    assert set(gate.unique().tolist()) <= {0.0, 1.0}
    gate.sum().backward()
    assert probability.grad is not None and probability.grad.abs().sum() > 0


def test_unscored_gate_draws_but_adds_nothing():
    gate = unscored_relaxed_gate(torch.full((4,), 0.5), 0.5)
    value = gate.rsample()
    assert set(value.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(gate.log_prob(value.clone()), torch.zeros(4))


def test_posterior_mean_is_the_sigmoid_and_prior_is_beta_one_k():
    posterior = gate_probability_posterior(torch.tensor([0.0, 2.0]), torch.log(torch.tensor([10.0, 10.0])))
    torch.testing.assert_close(posterior.mean, torch.sigmoid(torch.tensor([0.0, 2.0])))
    prior = sparsity_prior(torch.zeros(3), 9.0)
    torch.testing.assert_close(prior.mean, torch.full((3,), 0.1))
    with pytest.raises(ValueError, match="sparsity K must be positive"):
        check_gate_settings(0.0, 1.0)
