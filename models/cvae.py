"""Correlated VAEs: CVAE_ind and CVAE_corr (Tang, Liang, Jebara & Ruan, "Correlated Variational
Auto-Encoders", ICML 2019).

Data points are the vertices of a graph G = (V, E) that says which are correlated. The prior over all
latents follows the graph (§3.1, Eq. 3; :mod:`pyrodisent.distributions.graph`)::

    p(Z) = Π_{i∈V} N(z_i; 0, I) · Π_{(i,j)∈E} [p_τ(z_i, z_j) / (N(z_i) N(z_j))]^{w_ij}
    x_i | z_i ~ p_θ(x | z_i)                                         (decoder, one per vertex)

with p_τ a bivariate normal per latent dimension (unit variances, correlation τ) and w_ij = 1 on a tree;
on a general graph the spanning-tree average gives w_ij = the effective resistance of the edge (Eq. 6–7).

CVAE_ind (§3.2, Eq. 8) keeps a factorised guide q(z_i | x_i) = N(μ(x_i), diag σ²(x_i)); its ELBO is

    Σ_i E_q log p(x_i | z_i) − Σ_i KL(q_i ‖ N(0, I)) − Σ_E w_ij [KL(q_i q_j ‖ p_τ) − KL(q_i ‖ N) − KL(q_j ‖ N)].

CVAE_corr (§3.3, Eq. 9–10) adds a bivariate guide on every edge, per dimension a correlation
c_ij = (1 − ε)(2σ(g(x_i, x_j)) − 1) from a symmetric network g, so the edge term becomes
KL(q_ij ‖ p_τ) − KL(q_i ‖ N) − KL(q_j ‖ N); and, since g is amortised, a negative-sampling term on
random non-edge pairs, γ · I_q(z_i; z_j) = γ · Σ_k −½ log(1 − c_ij,k²), keeps it from correlating every pair.

The Pyro program (each term a sample site, each minibatch a subsampled plate, so the minibatch ELBO is
unbiased for the whole graph — vertices ×|V|/B, edges ×|E|/E_b, pairs ×#non-edges/P):

    model                                          guide
    plate data:      z ~ N(0, I); x ~ p(x | z)     z ~ q(z | x)
    plate edges:     z_edge ~ r_τ     (scale w)    z_edge ~ r_q(c_ij)      (c = 0 for CVAE_ind)
    plate non_edges: z_pair ~ r_0   (scale γ·2/N)  z_pair ~ r_q(c_ij)      (CVAE_corr only)

where r is a :class:`~pyrodisent.distributions.graph.GaussianEdgeFactor`, the edge factor
p(z_i, z_j)/(p(z_i) p(z_j)); its KL is exactly the bracket of Eq. 8. The pair (z_i, z_j) at an edge is
the same latent as at the vertices: the ELBO is a sum of expectations under one- and two-vertex
marginals of q, and each is estimated with its own draw (exactly, in expectation). A model site r_0
(ρ = 0) asserts independence, so the non-edge term's KL is the guide's mutual information; its scale
γ·2/N is the official code's (γ times the average over a vertex's non-neighbours).

The graph arrives with the batch (:class:`~pyrodisent.data.GraphBatch`, from a
:class:`~pyrodisent.data.GraphDataset`). Plain batches (no graph) are scored by the vertex terms
alone — that is how encoding and per-point evaluation work — but training on them is refused.

g here is α_k exp(−β_k ‖A(μ(x_i) − μ(x_j))‖²): a Gaussian kernel on a learned linear map of the guide's
means, symmetric by construction and cheap on all candidate pairs (link prediction ranks every vertex
against every other). The official code averages an MLP of (x_i, x_j) and of (x_j, x_i) instead. On the
tree protocol a bilinear form of an MLP embedding of x learned no correlation at all, and a Gaussian kernel
on such an embedding, trained against easy random negatives, became a coarse metric whose noise swamped
the fine ranking of held-out links; on the guide's means (this class) it ranks them far better, because
the same two terms then shape the means themselves: edges close, random pairs far apart (README, "Results").
"""
from __future__ import annotations

from typing import Optional, Tuple

import pyro
import torch
from pyro import poutine
from torch.nn.functional import softplus

from pyrodisent.data.batch import Batch
from pyrodisent.data.graphs import GraphBatch
from pyrodisent.distributions.graph import GaussianEdgeFactor, standard_edge_factor
from pyrodisent.model import LatentVariableModel
from pyrodisent.registry import MODELS

EDGE_PLATE, EDGE_SITE = "edges", "z_edge"
PAIR_PLATE, PAIR_SITE = "non_edges", "z_pair"


@MODELS.register("cvae_ind")
class CVAEInd(LatentVariableModel):
    """CVAE_ind: the correlated prior over the graph with a factorised guide.

    :param correlation: τ, the prior correlation along an edge (0.99 in the paper).
    """

    batch_needs = frozenset({"graph"})  # what each batch must carry (pyrodisent.protocols.base)

    def __init__(self, *args, correlation: float = 0.99, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 <= correlation < 1:
            raise ValueError(f"correlation τ must be in [0, 1), got {correlation}")
        if self.posterior_covariance != "diagonal":
            raise ValueError("correlated VAEs use a diagonal guide per vertex (posterior_covariance='diagonal')")
        self.correlation = float(correlation)

    # ------------------------------------------------------------------ the generative story
    def model(self, batch: Batch) -> torch.Tensor:
        self._check_graph(batch)
        z = super().model(batch)  # singleton factors N(z_i; 0, I) and the likelihood, Eq. 3
        if isinstance(batch, GraphBatch) and batch.num_batch_edges:
            with self.edge_plate(batch), self.latent_scale(), poutine.scale(scale=batch.edge_weight):
                # edge factors p_τ(z_i, z_j) / (N(z_i) N(z_j)), weighted by w_ij (Eq. 3, 7)
                prior = standard_edge_factor(self.correlation, (batch.num_batch_edges, self.latent_dim), batch.x)
                pyro.sample(EDGE_SITE, prior.to_event(1))
        return z

    def guide(self, batch: Batch) -> torch.Tensor:
        z = super().guide(batch)  # q(z_i | x_i)
        if isinstance(batch, GraphBatch) and batch.num_batch_edges:
            with self.edge_plate(batch), self.latent_scale(), poutine.scale(scale=batch.edge_weight):
                pyro.sample(EDGE_SITE, self.pair_posterior(batch.edge_x).to_event(1))  # q_ij (Eq. 8, 9)
        return z

    def edge_plate(self, batch: GraphBatch):
        return pyro.plate(EDGE_PLATE, batch.num_edges, subsample=batch.edge_index, dim=-1)

    # ------------------------------------------------------------------ the guide's pieces
    def pair_posterior(self, pair_x: torch.Tensor) -> GaussianEdgeFactor:
        """q(z_i, z_j) / (q(z_i) q(z_j)) for pairs of observations ``(P, 2, *shape)``; batch shape (P, K)."""
        loc, scale = self.endpoint_posteriors(pair_x)
        return GaussianEdgeFactor(loc, scale, self.correlation_of_means(loc[..., 0], loc[..., 1]))

    def endpoint_posteriors(self, pair_x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Location and scale of q at both ends of each pair, each ``(P, K, 2)``."""
        loc, scale = self._posterior_params_of(pair_x.reshape(-1, *pair_x.shape[2:]))
        unflatten = lambda t: t.reshape(pair_x.shape[0], 2, self.latent_dim).transpose(1, 2)  # noqa: E731
        return unflatten(loc), unflatten(scale)

    def correlation_of_means(self, loc_first: torch.Tensor, loc_second: torch.Tensor) -> torch.Tensor:
        """c_ij per latent dimension from the guide means at both ends, ``(..., K)``: 0 for the factorised guide."""
        return loc_first.new_zeros(torch.broadcast_shapes(loc_first.shape, loc_second.shape))

    def pair_correlation(self, x_first: torch.Tensor, x_second: torch.Tensor) -> torch.Tensor:
        """c_ij per latent dimension for aligned pairs of observations, ``(P, K)``; symmetric in (x_i, x_j)."""
        loc_first, loc_second = self._posterior_params_of(x_first)[0], self._posterior_params_of(x_second)[0]
        return self.correlation_of_means(loc_first, loc_second)

    def _posterior_params_of(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.posterior_params(Batch(x=x, index=torch.arange(len(x), device=x.device)))

    def _check_graph(self, batch: Batch) -> None:
        if self.training and not isinstance(batch, GraphBatch):
            raise TypeError(f"{type(self).__name__} trains on graph batches: wrap the data in "
                            "pyrodisent.data.GraphDataset (a plain batch has no edges, and the model would "
                            "silently become a VAE)")


@MODELS.register("cvae_corr")
class CVAECorr(CVAEInd):
    """CVAE_corr: adds per-edge guide correlations and the negative-sampling term on non-edges.

    g(x_i, x_j) = α_k exp(−β_k ‖A(μ(x_i) − μ(x_j))‖²) ≥ 0 — a Gaussian kernel on a learned linear map A
    (H × K, initialised to the identity when H = K) of the guide's means: symmetric, 0 for far pairs,
    and cheap on every candidate pair. Through it the edge term pulls the means of linked vertices
    together and the non-edge term pushes random pairs apart.

    :param non_edge_weight: γ (1000 in the official code).
    :param correlation_features: H, the size of A's output (default K).
    :param epsilon: ε, keeps |c| ≤ 1 − ε.
    """

    def __init__(self, *args, non_edge_weight: float = 1000.0, correlation_features: Optional[int] = None,
                 epsilon: float = 1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        if non_edge_weight < 0:
            raise ValueError(f"non_edge_weight γ must be ≥ 0, got {non_edge_weight}")
        if not 0 < epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
        self.non_edge_weight = float(non_edge_weight)
        self.epsilon = float(epsilon)
        features = int(correlation_features or self.latent_dim)
        self.correlation_map = torch.nn.Linear(self.latent_dim, features, bias=False)  # A
        with torch.no_grad():
            self.correlation_map.weight.copy_(torch.eye(features, self.latent_dim))
        self.correlation_amplitude = torch.nn.Parameter(torch.full((self.latent_dim,), 3.0))  # α = softplus(·)
        self.correlation_bandwidth = torch.nn.Parameter(torch.zeros(self.latent_dim))  # β = softplus(·)

    def model(self, batch: Batch) -> torch.Tensor:
        z = super().model(batch)
        if self._has_pairs(batch):
            with self.pair_plate(batch), self.latent_scale(), poutine.scale(scale=self.pair_scale()):
                independent = standard_edge_factor(0.0, (batch.num_batch_pairs, self.latent_dim), batch.x)
                pyro.sample(PAIR_SITE, independent.to_event(1))  # non-edges: independent (negative sampling)
        return z

    def guide(self, batch: Batch) -> torch.Tensor:
        z = super().guide(batch)
        if self._has_pairs(batch):
            with self.pair_plate(batch), self.latent_scale(), poutine.scale(scale=self.pair_scale()):
                pyro.sample(PAIR_SITE, self.pair_posterior(batch.pair_x).to_event(1))  # KL = γ-weighted I_q(z_i; z_j)
        return z

    def _has_pairs(self, batch: Batch) -> bool:
        return isinstance(batch, GraphBatch) and batch.num_batch_pairs > 0 and self.non_edge_weight > 0

    def pair_plate(self, batch: GraphBatch):
        # uniform draws among the non-edge pairs: the plate scales their sum by #non-edges / P
        pairs = torch.arange(batch.num_batch_pairs, device=batch.device)
        return pyro.plate(PAIR_PLATE, batch.num_non_edges, subsample=pairs, dim=-1)

    def pair_scale(self) -> float:
        """γ · 2/N per non-edge pair: γ times each vertex's average over its non-neighbours (official code)."""
        return self.non_edge_weight * 2.0 / self.num_data

    # ------------------------------------------------------------------ c_ij = (1 − ε)(2σ(g) − 1), Eq. 10
    def correlation_from_distance(self, squared_distance: torch.Tensor) -> torch.Tensor:
        """c per latent dimension from d² = ‖A(μ_i − μ_j)‖², ``(...) → (..., K)``."""
        g = softplus(self.correlation_amplitude) * torch.exp(
            -softplus(self.correlation_bandwidth) * squared_distance[..., None])
        return (1 - self.epsilon) * (2 * torch.sigmoid(g) - 1)

    def correlation_of_means(self, loc_first: torch.Tensor, loc_second: torch.Tensor) -> torch.Tensor:
        return self.correlation_from_distance(self.correlation_map(loc_first - loc_second).pow(2).sum(-1))

    def cross_correlation_of_means(self, loc_queries: torch.Tensor, loc_candidates: torch.Tensor) -> torch.Tensor:
        """c between every query and every candidate from their guide means ``(Q, K)`` and ``(C, K)``:
        ``(Q, C, K)`` (link prediction ranks all pairs)."""
        first, second = self.correlation_map(loc_queries), self.correlation_map(loc_candidates)
        return self.correlation_from_distance(torch.cdist(first, second).pow(2))
