"""BandedPrecisionNormal against a dense Gaussian of the same precision; its KL to a GP prior."""
import math

import pyro.distributions as dist
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from pyrodisent.distributions import BandedPrecisionNormal, solve_upper_bidiagonal
from pyrodisent.gp import GaussianProcessPrior, build_kernel


def random_banded(batch=(3, 2), num_steps=7, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    loc = torch.randn(*batch, num_steps, generator=gen, dtype=dtype)
    diagonal = torch.rand(*batch, num_steps, generator=gen, dtype=dtype) + 0.5
    superdiagonal = torch.randn(*batch, num_steps - 1, generator=gen, dtype=dtype)
    return BandedPrecisionNormal(loc, diagonal, superdiagonal)


def dense_twin(q: BandedPrecisionNormal) -> MultivariateNormal:
    factor = q.bidiagonal_factor()
    return MultivariateNormal(q.loc, precision_matrix=factor.transpose(-1, -2) @ factor)


@pytest.mark.parametrize("num_steps", [1, 2, 7, 33])
def test_log_prob_and_moments_match_a_dense_gaussian_with_the_same_precision(num_steps):
    q = random_banded(num_steps=num_steps)
    dense = dense_twin(q)
    z = torch.randn(5, *q.batch_shape, num_steps, dtype=torch.float64)
    torch.testing.assert_close(q.log_prob(z), dense.log_prob(z))
    torch.testing.assert_close(q.covariance_matrix, dense.covariance_matrix)
    torch.testing.assert_close(q.variance, dense.variance)
    torch.testing.assert_close(q.entropy(), dense.entropy())
    assert q.batch_shape == (3, 2) and q.event_shape == (num_steps,)


def test_rsample_is_loc_plus_the_inverse_factor_times_noise_and_has_the_dense_covariance():
    q = random_banded(num_steps=6)
    torch.manual_seed(1)
    sample = q.rsample()
    torch.manual_seed(1)
    noise = torch.randn(*q.batch_shape, 6, dtype=torch.float64)
    solved = torch.linalg.solve_triangular(q.bidiagonal_factor(), noise.unsqueeze(-1), upper=True).squeeze(-1)
    torch.testing.assert_close(sample, q.loc + solved)
    draws = q.rsample((40_000,))
    centred = draws - q.loc
    empirical = torch.einsum("s...i,s...j->...ij", centred, centred) / len(draws)
    torch.testing.assert_close(empirical, q.covariance_matrix, atol=0.05 * q.variance.max().item(), rtol=0.05)


def test_bidiagonal_solve_handles_long_sequences_and_gradients():
    gen = torch.Generator().manual_seed(0)
    diagonal = (torch.rand(4, 1000, generator=gen) + 0.5).requires_grad_()
    superdiagonal = torch.randn(4, 999, generator=gen) * 0.4
    rhs = torch.randn(4, 1000, generator=gen)
    y = solve_upper_bidiagonal(diagonal, superdiagonal, rhs)
    residual = diagonal * y + torch.nn.functional.pad(superdiagonal * y[:, 1:], (0, 1))
    torch.testing.assert_close(residual, rhs, atol=1e-4, rtol=1e-4)
    y.sum().backward()
    assert torch.isfinite(diagonal.grad).all()
    # Its gradient is the dense solve's (checked on a stretch short enough to solve densely).
    length = 60
    weights = torch.randn(4, length, generator=gen)
    grads = []
    for solve in (solve_upper_bidiagonal, dense_upper_bidiagonal_solve):
        leaf = diagonal.detach()[:, :length].clone().requires_grad_()
        (solve(leaf, superdiagonal[:, : length - 1], rhs[:, :length]) * weights).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=1e-4)
    assert grads[0].abs().max() > 1e-2


def dense_upper_bidiagonal_solve(diagonal, superdiagonal, rhs):
    upper = torch.diag_embed(diagonal) + torch.diag_embed(superdiagonal, offset=1)
    return torch.linalg.solve(upper, rhs.unsqueeze(-1)).squeeze(-1)


def gp_prior(num_steps, batch_shape, kernel="cauchy", num_channels=2):
    gp = GaussianProcessPrior(build_kernel(kernel, num_channels, length_scale=2.0), num_steps).double()
    return gp(batch_shape)


@pytest.mark.parametrize("kernel", ["cauchy", "rbf+periodic"])
def test_kl_to_the_gp_prior_equals_the_dense_formula(kernel):
    q = random_banded(batch=(3, 2), num_steps=9)
    p = gp_prior(9, (3,), kernel)
    torch.testing.assert_close(kl_divergence(q, p), kl_divergence(dense_twin(q), p))
    with_mean = MultivariateNormal(torch.randn(3, 2, 9, dtype=torch.float64), scale_tril=p.scale_tril)
    torch.testing.assert_close(kl_divergence(q, with_mean), kl_divergence(dense_twin(q), with_mean))


def test_kl_equals_a_monte_carlo_estimate():
    q = random_banded(batch=(2,), num_steps=8, seed=3)
    p = gp_prior(8, (), num_channels=2)
    z = q.sample((200_000,))
    estimate = (q.log_prob(z) - p.log_prob(z)).mean(0)
    standard_error = (q.log_prob(z) - p.log_prob(z)).std(0) / math.sqrt(len(z))
    analytic = kl_divergence(q, p)
    assert torch.all((analytic - estimate).abs() < 4 * standard_error), (analytic, estimate, standard_error)


def test_kl_stays_accurate_in_float32_for_long_sequences():
    q64 = random_banded(batch=(1, 2), num_steps=400, seed=4)
    q64 = BandedPrecisionNormal(q64.loc, q64.diagonal, q64.superdiagonal.tanh() * q64.diagonal[..., :-1])
    p64 = gp_prior(400, (1,))
    q32 = BandedPrecisionNormal(q64.loc.float(), q64.diagonal.float(), q64.superdiagonal.float())
    p32 = MultivariateNormal(p64.loc.float(), scale_tril=p64.scale_tril.float())
    torch.testing.assert_close(kl_divergence(q32, p32).double(), kl_divergence(q64, p64), rtol=1e-3, atol=1e-2)


def test_pyro_independent_wrappers_dispatch_to_the_analytic_kl():
    q = random_banded(batch=(3, 2), num_steps=5)
    p = gp_prior(5, (3,))
    kl = kl_divergence(dist.Independent(q, 1), dist.MultivariateNormal(p.loc, scale_tril=p.scale_tril).to_event(1))
    torch.testing.assert_close(kl, kl_divergence(q, p).sum(-1))


def test_expand_and_validation():
    q = random_banded(batch=(2,), num_steps=4)
    expanded = q.expand((5, 2))
    assert expanded.batch_shape == (5, 2) and expanded.sample().shape == (5, 2, 4)
    with pytest.raises(ValueError, match="superdiagonal must end in T − 1 = 3"):
        BandedPrecisionNormal(torch.zeros(4), torch.ones(4), torch.zeros(4))
    with pytest.raises(ValueError):
        BandedPrecisionNormal(torch.zeros(4), -torch.ones(4), torch.zeros(3), validate_args=True)
