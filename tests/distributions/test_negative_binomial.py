"""MeanDispersionNegativeBinomial against torch's NegativeBinomial(total_count=θ, logits=log μ − log θ)."""
import pyro.distributions as dist
import pytest
import torch

from pyrodisent.data import Batch
from pyrodisent.distributions import MeanDispersionNegativeBinomial


def random_parameters(rows=6, features=5, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    log_mean = (torch.randn(rows, features, generator=gen) * 3).to(dtype)  # μ from about 10⁻⁴ to 10⁴
    log_theta = torch.randn(features, generator=gen).to(dtype)
    return log_mean, log_theta


def torch_twin(log_mean, log_theta) -> torch.distributions.NegativeBinomial:
    total_count = log_theta.exp().expand_as(log_mean)
    return torch.distributions.NegativeBinomial(total_count=total_count, logits=log_mean - log_theta)


def counts(shape, seed=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.poisson(torch.rand(shape, generator=gen) * 50, generator=gen)
    x[0] = 0.0
    x[-1, 0] = 60_000.0  # counts of this size occur in sequencing data
    return x.to(dtype)


def test_log_prob_matches_torch_and_keeps_theta_unbroadcast():
    log_mean, log_theta = random_parameters()
    nb = MeanDispersionNegativeBinomial(log_mean, log_theta)
    assert nb.batch_shape == (6, 5) and nb.event_shape == ()
    assert nb.log_theta.shape == (5,)  # θ is not broadcast to the rows
    x = counts((6, 5))
    torch.testing.assert_close(nb.log_prob(x), torch_twin(log_mean, log_theta).log_prob(x), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(nb.logits, log_mean - log_theta)


def test_float32_log_prob_is_as_accurate_as_torch():
    """Against a float64 reference, float32 errors stay those of torch's own float32 formula (counts in the
    tens of thousands make the lgamma terms large)."""
    log_mean, log_theta = random_parameters(rows=40, features=30)
    x = counts((40, 30))
    exact = torch_twin(log_mean, log_theta).log_prob(x)
    ours = MeanDispersionNegativeBinomial(log_mean.float(), log_theta.float()).log_prob(x.float()).double()
    theirs = torch_twin(log_mean.float(), log_theta.float()).log_prob(x.float()).double()
    assert (ours - exact).abs().max() <= 1.5 * (theirs - exact).abs().max() + 1e-5


def test_gradients_match_torch():
    log_mean, log_theta = random_parameters()
    x = counts((6, 5))
    ours = [t.clone().requires_grad_() for t in (log_mean, log_theta)]
    theirs = [t.clone().requires_grad_() for t in (log_mean, log_theta)]
    MeanDispersionNegativeBinomial(*ours).log_prob(x).sum().backward()
    torch_twin(*theirs).log_prob(x).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad)


def test_mean_variance_and_sample_moments():
    log_mean = torch.tensor([[0.5, 2.0, 4.0]], dtype=torch.float64)
    log_theta = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    nb = MeanDispersionNegativeBinomial(log_mean, log_theta)
    mean, theta = log_mean.exp(), log_theta.exp()
    torch.testing.assert_close(nb.mean, mean)
    torch.testing.assert_close(nb.variance, mean + mean**2 / theta)
    torch.manual_seed(0)
    draws = nb.sample((200_000,))
    assert draws.shape == (200_000, 1, 3)
    assert torch.equal(draws, draws.round()) and (draws >= 0).all()
    # standard errors: sd/√n for the mean; the variance's relative error is about √(2/n)·(kurtosis) here
    torch.testing.assert_close(draws.mean(0), nb.mean, rtol=0.02, atol=0.0)
    torch.testing.assert_close(draws.var(0), nb.variance, rtol=0.05, atol=0.0)


def test_expand_mask_and_to_event():
    log_mean, log_theta = random_parameters(rows=3, features=4)
    nb = MeanDispersionNegativeBinomial(log_mean, log_theta)
    x = counts((3, 4))
    expanded = nb.expand((2, 3, 4))
    assert expanded.batch_shape == (2, 3, 4) and expanded.log_theta.shape == (4,)
    torch.testing.assert_close(expanded.log_prob(x), nb.log_prob(x).expand(2, 3, 4))
    mask = torch.tensor([[True, False, True, True]]).expand(3, 4)
    scored = nb.mask(mask).to_event(1).log_prob(x)
    torch.testing.assert_close(scored, (nb.log_prob(x) * mask).sum(-1))


def test_validation_rejects_non_counts():
    log_mean, log_theta = random_parameters(rows=1, features=2)
    with pytest.raises(ValueError):
        MeanDispersionNegativeBinomial(log_mean, log_theta, validate_args=True).log_prob(torch.tensor([[1.5, 2.0]]))
    with pytest.raises(ValueError):
        MeanDispersionNegativeBinomial(torch.full((1, 2), float("nan")), log_theta, validate_args=True)


def test_repeated_rows_give_the_same_log_prob_as_scoring_every_row():
    """Rows declared as S stacked copies of a batch (Batch.repeat's ``copies``) share the x-only terms; the
    result is the same as without, and a value whose copies differ falls back to every row."""
    log_mean, log_theta = random_parameters(rows=4 * 3, features=5)
    x = counts((3, 5))
    repeated = Batch(x=x, index=torch.tensor([7, 2, 9])).repeat(4)
    assert repeated.copies == 4
    stacked = MeanDispersionNegativeBinomial(log_mean, log_theta, copies=repeated.copies)
    plain = MeanDispersionNegativeBinomial(log_mean, log_theta)
    assert stacked._copies(repeated.x) == 4 and plain._copies(repeated.x) is None
    torch.testing.assert_close(stacked.log_prob(repeated.x), plain.log_prob(repeated.x), rtol=0, atol=0)
    torch.testing.assert_close(stacked.log_normalizer(repeated.x), plain.log_normalizer(repeated.x), rtol=0, atol=0)
    torch.testing.assert_close(stacked.log_prob(repeated.x), torch_twin(log_mean, log_theta).log_prob(repeated.x))
    other = repeated.x.clone()
    other[5, 1] += 1.0  # a copy that differs from its first row
    assert stacked._copies(other) is None
    torch.testing.assert_close(stacked.log_prob(other), plain.log_prob(other), rtol=0, atol=0)
    # θ that varies by row: every row is scored on its own
    per_row_theta = MeanDispersionNegativeBinomial(log_mean, log_theta.expand(12, 5), copies=4)
    assert per_row_theta._copies(repeated.x) is None
    torch.testing.assert_close(per_row_theta.log_prob(repeated.x), plain.log_prob(repeated.x))
    assert stacked.expand((2, 12, 5)).copies == 1  # new leading dimensions: the rows are no longer those copies


def test_is_a_pyro_distribution():
    log_mean, log_theta = random_parameters(rows=2, features=3)
    nb = MeanDispersionNegativeBinomial(log_mean, log_theta)
    assert isinstance(nb, dist.TorchDistribution)
    assert nb.support is torch.distributions.constraints.nonnegative_integer
    assert set(nb.arg_constraints) == {"log_mean", "log_theta"}
