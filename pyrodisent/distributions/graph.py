"""Graph-structured Gaussian priors (Tang et al., "Correlated Variational Auto-Encoders", ICML 2019).

Over an acyclic graph G = (V, E) the correlated prior is (paper Eq. 3)

    p(Z) = Π_{i∈V} N(z_i; 0, I) · Π_{(i,j)∈E} p_τ(z_i, z_j) / (N(z_i; 0, I) N(z_j; 0, I)),

each edge factor a bivariate normal per latent dimension with unit variances and correlation τ. On a
tree this is exactly the Gaussian Markov tree "root ~ N(0, I), child = τ · parent + √(1 − τ²) ε", a
normalised density whose precision is I plus one 2 × 2 block per edge. On a general graph the paper
averages the tree prior over the uniform spanning trees T of G (Eq. 6); the ELBO uses
E_T[log p_T(Z)] ≤ log E_T[p_T(Z)], in which each edge term is weighted by the probability that the edge
lies in a uniform spanning tree — its effective resistance w_ij = (e_i − e_j)ᵀ L⁺ (e_i − e_j) (Eq. 7).

- :class:`GaussianEdgeFactor` is one edge factor: the density of a bivariate normal divided by the
  product of its two marginals. It is a proper density with respect to that product of marginals, so
  E_q[log r_q − log r_p] = KL(q_ij ‖ p_ij) − KL(q_i ‖ p_i) − KL(q_j ‖ p_j) — exactly the edge term of
  the paper's ELBO (Eq. 8), registered as the analytic ``kl_divergence`` of two edge factors.
- :class:`GraphCorrelatedNormal` is the whole prior over the latents of every vertex: ``log_prob`` of a
  full latent matrix (exact and normalised on forests; the spanning-tree average on general graphs) and
  ``sample`` (ancestral along the tree; on a general graph a uniform spanning tree is drawn first, by
  Wilson's algorithm, so samples follow the mixture).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints, register_kl

from pyrodisent.data import undirected_graphs as graphs

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


class GaussianEdgeFactor(TorchDistribution):
    """r(z_i, z_j) = N₂((z_i, z_j); μ, Σ(ρ)) / (N(z_i; μ_i, σ_i²) N(z_j; μ_j, σ_j²)), Σ(ρ) with variances
    σ_i², σ_j² and correlation ρ.

    A density with respect to N(μ_i, σ_i²) ⊗ N(μ_j, σ_j²) (it integrates to one against it); samples are
    drawn from the bivariate normal N₂(μ, Σ(ρ)) itself (reparameterised). With ρ = 0 it is identically 1.

    :param loc: ``(..., 2)`` the two means μ_i, μ_j.
    :param scale: ``(..., 2)`` the two standard deviations σ_i, σ_j.
    :param correlation: ``(...)`` ρ ∈ (−1, 1).
    """

    arg_constraints = {"loc": constraints.real_vector, "scale": constraints.independent(constraints.positive, 1),
                       "correlation": constraints.interval(-1.0, 1.0)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, correlation, validate_args=None):
        correlation = torch.as_tensor(correlation, dtype=loc.dtype, device=loc.device)
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], scale.shape[:-1], correlation.shape)
        self.loc = loc.expand(batch_shape + (2,))
        self.scale = scale.expand(batch_shape + (2,))
        self.correlation = correlation.expand(batch_shape)
        super().__init__(batch_shape, torch.Size([2]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return GaussianEdgeFactor(self.loc.expand(batch_shape + (2,)), self.scale.expand(batch_shape + (2,)),
                                  self.correlation.expand(batch_shape))

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return self.scale.pow(2)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        noise = torch.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        rho = self.correlation
        first = noise[..., 0]
        second = rho * first + (1 - rho.pow(2)).sqrt() * noise[..., 1]
        return self.loc + self.scale * torch.stack([first, second], -1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        u = (value - self.loc) / self.scale
        rho = self.correlation
        one_minus = 1 - rho.pow(2)
        squares = u.pow(2).sum(-1)
        joint = (squares - 2 * rho * u[..., 0] * u[..., 1]) / one_minus
        return -0.5 * one_minus.log() - 0.5 * joint + 0.5 * squares


@register_kl(GaussianEdgeFactor, GaussianEdgeFactor)
def kl_edge_factors(q: GaussianEdgeFactor, p: GaussianEdgeFactor) -> torch.Tensor:
    """E_q[log r_q − log r_p] = KL(q_ij ‖ p_ij) − KL(q_i ‖ p_i) − KL(q_j ‖ p_j) (the bivariate KL less its
    two univariate ones; the paper's edge term, Eq. 8, and — with p's ρ = 0 — the mutual information of q)."""
    rho_p, rho_q = p.correlation, q.correlation
    ratio = (q.scale.pow(2) + (q.loc - p.loc).pow(2)) / p.scale.pow(2)  # (..., 2)
    difference = q.loc - p.loc
    cross = (rho_q * q.scale[..., 0] * q.scale[..., 1] + difference[..., 0] * difference[..., 1]) / (
        p.scale[..., 0] * p.scale[..., 1])
    one_minus_p = 1 - rho_p.pow(2)
    return 0.5 * (rho_p.pow(2) / one_minus_p * ratio.sum(-1) - 2 * rho_p / one_minus_p * cross
                  + one_minus_p.log() - (1 - rho_q.pow(2)).log())


def standard_edge_factor(correlation: float | torch.Tensor, batch_shape, like: torch.Tensor) -> GaussianEdgeFactor:
    """p_τ(z_i, z_j) / (N(z_i) N(z_j)) for unit variances and correlation τ, with the given batch shape."""
    zeros = like.new_zeros(tuple(batch_shape) + (2,))
    return GaussianEdgeFactor(zeros, torch.ones_like(zeros), torch.as_tensor(correlation, dtype=like.dtype,
                                                                              device=like.device))


class GraphCorrelatedNormal(TorchDistribution):
    """The correlated prior over the latents of all vertices, event shape ``(N, K)``.

    :param num_vertices: N.
    :param edges: ``(E, 2)`` undirected edges (validated: no self-loops, ids in range, no duplicates).
    :param latent_dim: K.
    :param correlation: τ, the correlation along an edge.
    :param edge_weights: weight w_ij of each edge term; default the effective resistances (exactly 1 on
        a forest). Sampling needs the default (it is the spanning-tree mixture).

    Disconnected graphs: each component is independent (its own tree, or spanning-tree mixture); an
    isolated vertex is N(0, I).
    """

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)

    def __init__(self, num_vertices: int, edges, latent_dim: int, correlation: float = 0.99,
                 edge_weights: Optional[np.ndarray] = None, validate_args=None):
        if not 0 <= correlation < 1:
            raise ValueError(f"correlation τ must be in [0, 1), got {correlation}")
        self.num_vertices = int(num_vertices)
        self.edges = graphs.validate_edges(num_vertices, edges)
        self.latent_dim = int(latent_dim)
        self.correlation = float(correlation)
        self.default_weights = edge_weights is None
        weights = graphs.effective_resistances(num_vertices, self.edges) if edge_weights is None else edge_weights
        self.edge_weights = torch.as_tensor(np.asarray(weights, dtype=np.float32))
        if self.edge_weights.shape != (len(self.edges),) or not (self.edge_weights > 0).all():
            raise ValueError(f"edge_weights must be {len(self.edges)} positive numbers, got shape "
                             f"{tuple(self.edge_weights.shape)}")
        count, _ = graphs.connected_components(num_vertices, self.edges)
        self.is_forest = len(self.edges) == num_vertices - count
        super().__init__(torch.Size(), torch.Size([num_vertices, latent_dim]), validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Σ_i log N(z_i; 0, I) + Σ_E w_ij log[p_τ(z_i, z_j) / (N(z_i) N(z_j))]; ``value`` (..., N, K)."""
        singletons = (-0.5 * value.pow(2) - _HALF_LOG_TWO_PI).sum((-2, -1))
        if len(self.edges) == 0:
            return singletons
        i = torch.as_tensor(self.edges[:, 0], device=value.device)
        j = torch.as_tensor(self.edges[:, 1], device=value.device)
        pairs = torch.stack([value[..., i, :], value[..., j, :]], -1)  # (..., E, K, 2)
        factor = standard_edge_factor(self.correlation, pairs.shape[-3:-1], value)
        weights = self.edge_weights.to(value)
        return singletons + (factor.log_prob(pairs).sum(-1) * weights).sum(-1)

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Ancestral samples ``(*sample_shape, N, K)``: root N(0, I), child = τ · parent + √(1 − τ²) ε along a
        tree of each component (a uniform spanning tree, redrawn per sample, when the graph has cycles)."""
        if not self.is_forest and not self.default_weights:
            raise ValueError("sampling follows the spanning-tree mixture, whose edge weights are the effective "
                             "resistances; this prior was given other edge_weights")
        shape = self._extended_shape(sample_shape)
        noise = torch.randn(shape).reshape(-1, self.num_vertices, self.latent_dim)
        if self.is_forest:
            parent, levels = graphs.forest_levels(self.num_vertices, self.edges)
            return graphs.propagate_along_forest(noise, parent, levels, self.correlation).reshape(shape)
        samples = []
        for draw in noise:
            seed = int(torch.randint(0, 2**31 - 1, ()))
            forest = graphs.uniform_spanning_forest(self.num_vertices, self.edges, seed)
            parent, levels = graphs.forest_levels(self.num_vertices, forest)
            samples.append(graphs.propagate_along_forest(draw, parent, levels, self.correlation))
        return torch.stack(samples).reshape(shape)

    def precision_matrix(self) -> torch.Tensor:
        """Λ (N, N) of one latent dimension: I + Σ_E w_ij [τ², −τ; −τ, τ²] / (1 − τ²) on the (i, j) block.

        On a forest p(Z) = Π_k N(Z_{:,k}; 0, Λ⁻¹) exactly."""
        tau = self.correlation
        precision = torch.eye(self.num_vertices, dtype=torch.float64)
        w = self.edge_weights.double()
        i = torch.as_tensor(self.edges[:, 0])
        j = torch.as_tensor(self.edges[:, 1])
        diagonal = w * tau ** 2 / (1 - tau ** 2)
        precision.index_put_((i, i), diagonal, accumulate=True)
        precision.index_put_((j, j), diagonal, accumulate=True)
        off = -w * tau / (1 - tau ** 2)
        precision.index_put_((i, j), off, accumulate=True)
        precision.index_put_((j, i), off, accumulate=True)
        return precision
