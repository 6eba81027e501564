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
