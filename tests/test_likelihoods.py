import numpy as np
import pytest
import torch
from scipy import stats

from pyrodisent.data import Batch
from pyrodisent.likelihoods import LIKELIHOODS, build_likelihood


def batch_of(x):
    return Batch(x=x, index=torch.arange(x.shape[0]))


def test_bernoulli_matches_scipy():
    logits = torch.randn(4, 1, 2, 3)
    x = (torch.rand(4, 1, 2, 3) > 0.5).float()
    d = build_likelihood("bernoulli", (1, 2, 3))(logits, batch_of(x))
    assert d.event_shape == (1, 2, 3) and d.batch_shape == (4,)
    expected = stats.bernoulli.logpmf(x.numpy(), torch.sigmoid(logits).numpy()).reshape(4, -1).sum(-1)
    np.testing.assert_allclose(d.log_prob(x).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("learn", [False, True])
def test_gaussian_matches_scipy(learn):
    out, x = torch.randn(5, 3), torch.randn(5, 3)
    lik = build_likelihood("gaussian", (3,), scale=0.3, learn_scale=learn)
    expected = stats.norm.logpdf(x.numpy(), out.numpy(), 0.3).sum(-1)
    np.testing.assert_allclose(lik(out, batch_of(x)).log_prob(x).detach().numpy(), expected, rtol=1e-4)
    assert len(list(lik.parameters())) == (1 if learn else 0)


def test_laplace_matches_scipy():
    out, x = torch.randn(5, 3), torch.randn(5, 3)
    d = build_likelihood("laplace", (3,), scale=0.7)(out, batch_of(x))
    np.testing.assert_allclose(d.log_prob(x).numpy(), stats.laplace.logpdf(x.numpy(), out.numpy(), 0.7).sum(-1), rtol=1e-5)


def test_poisson_with_and_without_library_size():
    out = torch.randn(4, 6)
    x = torch.poisson(torch.full((4, 6), 3.0))
    d = build_likelihood("poisson", (6,))(out, batch_of(x))
    rate = x.sum(-1, keepdim=True) * torch.softmax(out, -1)
    np.testing.assert_allclose(d.log_prob(x).numpy(), stats.poisson.logpmf(x.numpy(), rate.numpy()).sum(-1), rtol=1e-5)
    d2 = build_likelihood("poisson", (6,), use_library_size=False)(out, batch_of(x))
    np.testing.assert_allclose(d2.log_prob(x).numpy(), stats.poisson.logpmf(x.numpy(), out.exp().numpy()).sum(-1), rtol=1e-5)


def test_negative_binomial_mean_dispersion_matches_scipy():
    out = torch.randn(4, 6)
    x = torch.poisson(torch.full((4, 6), 5.0))
    library = torch.full((4,), 1000.0)
    b = Batch(x=x, index=torch.arange(4), extras={"library_size": library})
    lik = build_likelihood("negative_binomial", (6,), initial_dispersion=2.5)
    d = lik(out, b)
    mean = (1000.0 * torch.softmax(out, -1)).numpy()
    theta = 2.5
    # scipy's nbinom(n, p): n = θ, p = θ / (θ + μ); mean μ, variance μ + μ²/θ
    expected = stats.nbinom.logpmf(x.numpy(), theta, theta / (theta + mean)).sum(-1)
    np.testing.assert_allclose(d.log_prob(x).detach().numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(lik.mean(out, b).detach().numpy(), mean, rtol=1e-5)


def test_negative_binomial_equals_torch_with_the_mean_from_softmax_and_loads_its_checkpoints():
    """The log-space mean log L + log_softmax(output) gives torch's NegativeBinomial(θ, logits = log μ − log θ)
    with μ = L · softmax(output); the likelihood's state is still the one parameter ``log_dispersion``."""
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(5, 8, generator=gen, dtype=torch.float64) * 2
    x = torch.poisson(torch.rand(5, 8, generator=gen, dtype=torch.float64) * 40, generator=gen)
    library = x.sum(-1) + 100.0
    b = Batch(x=x, index=torch.arange(5), extras={"library_size": library})
    lik = build_likelihood("negative_binomial", (8,)).double()
    with torch.no_grad():
        lik.log_dispersion.copy_(torch.randn(8, generator=gen, dtype=torch.float64))
    mean = library[:, None] * torch.softmax(out, -1)
    theta = lik.log_dispersion.detach().exp()
    expected = torch.distributions.NegativeBinomial(total_count=theta.expand(5, 8), logits=mean.log() - theta.log())
    torch.testing.assert_close(lik(out, b).log_prob(x).detach(), expected.log_prob(x).sum(-1))
    torch.testing.assert_close(lik.log_rate(out, b), lik.rate(out, b).log())
    torch.testing.assert_close(lik.mean(out, b).detach(), mean)
    without_library = build_likelihood("negative_binomial", (8,), use_library_size=False).double()
    torch.testing.assert_close(without_library.mean(out, b).detach(), out.exp())
    assert set(lik.state_dict()) == {"log_dispersion"}
    saved = {"log_dispersion": torch.full((8,), 0.3, dtype=torch.float64)}
    lik.load_state_dict(saved)
    theta = lik.distribution(out, b).theta.detach()
    torch.testing.assert_close(theta, torch.full((8,), 0.3, dtype=torch.float64).exp())


def test_negative_binomial_of_a_repeated_batch_scores_each_copy_as_the_batch():
    """Importance samples stack copies of a batch (Batch.repeat): every copy's row scores as the row does alone."""
    gen = torch.Generator().manual_seed(1)
    x = torch.poisson(torch.rand(4, 6, generator=gen) * 30, generator=gen)
    b = Batch(x=x, index=torch.tensor([3, 0, 8, 5]), extras={"library_size": x.sum(-1) + 1.0})
    outputs = torch.randn(3, 4, 6, generator=gen)  # three draws of the decoder output for each point
    lik = build_likelihood("negative_binomial", (6,))
    stacked = lik(outputs.reshape(12, 6), b.repeat(3)).log_prob(b.repeat(3).x).detach().reshape(3, 4)
    alone = torch.stack([lik(output, b).log_prob(x).detach() for output in outputs])
    torch.testing.assert_close(stacked, alone)


def test_count_likelihoods_score_an_empty_row():
    x = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 1.0]])
    b = batch_of(x)  # library size: the row totals, 0 for the first row
    for name in ("negative_binomial", "poisson"):
        log_p = build_likelihood(name, (3,))(torch.randn(2, 3), b).log_prob(x).detach()
        torch.testing.assert_close(log_p[0], torch.tensor(0.0), atol=1e-6, rtol=0)  # an empty row: p(0) = 1


def test_observed_mask_drops_missing_entries():
    out, x = torch.zeros(2, 3), torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, False, True], [True, True, True]])
    b = Batch(x=x, index=torch.arange(2), extras={"observed_mask": mask})
    lp = build_likelihood("gaussian", (3,))(out, b).log_prob(x)
    np.testing.assert_allclose(lp.numpy(), [2 * stats.norm.logpdf(0.0), 3 * stats.norm.logpdf(0.0)], rtol=1e-6)


def test_bad_scale_and_unknown_name():
    with pytest.raises(ValueError, match="scale must be positive"):
        build_likelihood("gaussian", (3,), scale=0.0)
    with pytest.raises(KeyError, match="registered likelihoods"):
        build_likelihood("student", (3,))
    assert {"bernoulli", "gaussian", "laplace", "poisson", "negative_binomial"} <= set(LIKELIHOODS.names())
