"""The correlated graph prior: the edge factor and its KL, and the whole-graph prior against a dense MVN."""
import math

import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import shortest_path
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from pyrodisent.data import undirected_graphs as graphs
from pyrodisent.distributions.graph import GaussianEdgeFactor, GraphCorrelatedNormal, standard_edge_factor


def bivariate(loc, scale, rho):
    covariance = torch.stack([torch.stack([scale[..., 0] ** 2, rho * scale[..., 0] * scale[..., 1]], -1),
                              torch.stack([rho * scale[..., 0] * scale[..., 1], scale[..., 1] ** 2], -1)], -2)
    return MultivariateNormal(loc, covariance_matrix=covariance)


def random_factor(shape=(5,), seed=0, rho_range=0.9):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(*shape, 2, generator=g, dtype=torch.float64)
    scale = 0.3 + torch.rand(*shape, 2, generator=g, dtype=torch.float64)
    rho = rho_range * (2 * torch.rand(*shape, generator=g, dtype=torch.float64) - 1)
    return GaussianEdgeFactor(loc, scale, rho)


def test_edge_factor_log_prob_is_joint_over_marginals():
    factor = random_factor()
    value = torch.randn(5, 2, dtype=torch.float64)
    joint = bivariate(factor.loc, factor.scale, factor.correlation).log_prob(value)
    marginals = Normal(factor.loc, factor.scale).log_prob(value).sum(-1)
    torch.testing.assert_close(factor.log_prob(value), joint - marginals)


def test_edge_factor_samples_follow_the_bivariate_normal():
    torch.manual_seed(0)
    factor = GaussianEdgeFactor(torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0]), torch.tensor(0.8))
    samples = factor.rsample((200_000,))
    assert samples.mean(0).tolist() == pytest.approx([1.0, -2.0], abs=0.02)
    assert samples.std(0).tolist() == pytest.approx([0.5, 2.0], rel=0.02)
    assert np.corrcoef(samples.T.numpy())[0, 1] == pytest.approx(0.8, abs=0.01)
    assert factor.expand((3,)).batch_shape == (3,)


def test_edge_factor_with_zero_correlation_is_one():
    factor = GaussianEdgeFactor(torch.zeros(4, 2), torch.ones(4, 2), torch.zeros(4))
    assert torch.all(factor.log_prob(torch.randn(4, 2)) == 0)


def test_edge_factor_kl_is_bivariate_kl_minus_marginal_kls():
    q, p = random_factor(seed=1), random_factor(seed=2)
    expected = (kl_divergence(bivariate(q.loc, q.scale, q.correlation), bivariate(p.loc, p.scale, p.correlation))
                - kl_divergence(Normal(q.loc, q.scale), Normal(p.loc, p.scale)).sum(-1))
    torch.testing.assert_close(kl_divergence(q, p), expected)
    # Monte Carlo: E_q[log r_q − log r_p]
    torch.manual_seed(0)
    z = q.rsample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    torch.testing.assert_close(mc, expected, atol=0.03, rtol=0.02)


def test_edge_factor_kl_against_independence_is_mutual_information():
    q = random_factor(seed=3)
    p = standard_edge_factor(0.0, (5,), q.loc)
    torch.testing.assert_close(kl_divergence(q, p), -0.5 * torch.log1p(-q.correlation ** 2))


def small_tree(n=7, seed=0):
    return graphs.tree_edges(graphs.random_recursive_tree(n, seed))


def tree_covariance(n, edges, tau):
    """The Gaussian Markov tree's covariance, built independently of the prior: unit variances, and along a
    path of d edges the correlation τ^d (root ~ N(0, 1), child = τ · parent + √(1 − τ²) ε)."""
    adjacency = np.zeros((n, n))
    adjacency[edges[:, 0], edges[:, 1]] = adjacency[edges[:, 1], edges[:, 0]] = 1
    return torch.as_tensor(tau ** shortest_path(adjacency, unweighted=True))


def bivariate_edge_term(first, second, tau):
    """log N₂((a, b); 0, [[1, τ], [τ, 1]]) − log N(a) − log N(b), written out."""
    joint = (-math.log(2 * math.pi) - 0.5 * math.log(1 - tau ** 2)
             - (first ** 2 - 2 * tau * first * second + second ** 2) / (2 * (1 - tau ** 2)))
    return joint - Normal(0.0, 1.0).log_prob(first) - Normal(0.0, 1.0).log_prob(second)


def test_tree_prior_log_density_is_the_tree_gaussian():
    """Exact check: Π_i N(z_i) Π_E p_τ/(N N) equals N(0, C) per latent dimension on a tree, C_ij = τ^d(i, j)."""
    n, k, tau = 7, 3, 0.8
    edges = small_tree(n)
    prior = GraphCorrelatedNormal(n, edges, latent_dim=k, correlation=tau)
    covariance = tree_covariance(n, edges, tau)
    mvn = MultivariateNormal(torch.zeros(n, dtype=torch.float64), covariance_matrix=covariance)
    z = torch.randn(4, n, k, dtype=torch.float64)
    expected = mvn.log_prob(z.transpose(-1, -2)).sum(-1)
    torch.testing.assert_close(prior.log_prob(z), expected)
    torch.testing.assert_close(torch.linalg.inv(prior.precision_matrix()), covariance)


def test_tree_prior_integrates_to_one():
    """Numerical integration on a 3-vertex path: ∫ exp(log_prob) dz = 1 (a 3-D grid, spacing 0.1)."""
    prior = GraphCorrelatedNormal(3, [[0, 1], [1, 2]], latent_dim=1, correlation=0.6)
    axis = torch.arange(-6.0, 6.0 + 1e-9, 0.1, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3, 1)
    assert float(prior.log_prob(grid).exp().sum() * 0.1 ** 3) == pytest.approx(1.0, abs=1e-6)


def test_tree_prior_samples_have_tree_covariance():
    torch.manual_seed(0)
    n, tau = 6, 0.9
    edges = small_tree(n, 1)
    prior = GraphCorrelatedNormal(n, edges, latent_dim=2, correlation=tau)
    samples = prior.sample((20_000,))
    assert samples.shape == (20_000, n, 2)
    flat = samples.permute(0, 2, 1).reshape(-1, n).double()
    empirical = flat.T @ flat / len(flat)
    torch.testing.assert_close(empirical, tree_covariance(n, edges, tau), atol=0.03, rtol=0)


def test_general_graph_prior_weights_edges_by_resistance():
    """A triangle with a pendant edge: each triangle edge lies in 2 of the 3 spanning trees (w = 2/3), the
    pendant edge in all of them (w = 1); the log density is the w-weighted sum of the edge terms."""
    edges = np.array([[0, 1], [1, 2], [0, 2], [2, 3]])
    prior = GraphCorrelatedNormal(4, edges, latent_dim=2, correlation=0.5)
    weights = [2 / 3, 2 / 3, 2 / 3, 1.0]
    np.testing.assert_allclose(prior.edge_weights.numpy(), weights, rtol=1e-6)
    z = torch.randn(4, 2, dtype=torch.float64)
    expected = Normal(0.0, 1.0).log_prob(z).sum() + sum(
        w * bivariate_edge_term(z[i], z[j], 0.5).sum() for w, (i, j) in zip(weights, edges))
    torch.testing.assert_close(prior.log_prob(z), expected.to(prior.log_prob(z).dtype))
    samples = prior.sample((1000,))  # a uniform spanning tree per draw: marginals stay N(0, 1)
    assert samples.std().item() == pytest.approx(1.0, abs=0.05)


def test_graph_prior_rejects_bad_graphs():
    with pytest.raises(ValueError, match="self-loops"):
        GraphCorrelatedNormal(3, [[0, 0]], latent_dim=1)
    with pytest.raises(ValueError, match="outside"):
        GraphCorrelatedNormal(3, [[0, 3]], latent_dim=1)
    with pytest.raises(ValueError, match="correlation"):
        GraphCorrelatedNormal(3, [[0, 1]], latent_dim=1, correlation=1.0)
    isolated = GraphCorrelatedNormal(3, [[0, 1]], latent_dim=2)  # vertex 2 isolated: N(0, I)
    z = torch.randn(3, 2, dtype=torch.float64)
    expected = Normal(0.0, 1.0).log_prob(z).sum() + bivariate_edge_term(z[0], z[1], 0.99).sum()
    torch.testing.assert_close(isolated.log_prob(z), expected)
