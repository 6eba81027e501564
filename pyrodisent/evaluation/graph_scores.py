"""Evaluate a model on graph data: the whole graph's ELBO, and link prediction by posterior distances.

Works for any model of the zoo: a model without graph terms (a VAE) is scored by its own ELBO, and a
model with pairwise guide correlations (CVAE_corr's ``cross_correlation_of_means``) has them enter the distances.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import pyro
import torch

from pyrodisent.data.graphs import GraphDataset
from pyrodisent.infer.elbo import MeanFieldELBO
from pyrodisent.metrics.ncrr import DistanceRows
from pyrodisent.model import LatentVariableModel, plain_elbo_weights


@torch.no_grad()
def graph_evidence_lower_bound(model: LatentVariableModel, data: GraphDataset, num_particles: int = 1,
                               seed: Optional[int] = None) -> float:
    """The ELBO of the whole graph (every vertex and every edge term, β = 1) per vertex.

    Evaluated on one batch holding all vertices and edges, so no term is subsampled; the non-edge
    (negative-sampling) term of CVAE_corr is a training device, not part of the ELBO, and is left out.
    """
    if seed is not None:
        pyro.set_rng_seed(seed)
    model.eval()
    batch = data.full_batch().to(model.device)
    with plain_elbo_weights(model):
        loss, _ = MeanFieldELBO(num_particles)(model.model, model.guide, batch)
    return -float(loss) / len(data)


@torch.no_grad()
def posterior_moments(model: LatentVariableModel, data, batch_size: int = 2048) -> Tuple[torch.Tensor, torch.Tensor]:
    """Location and scale of q(z | x) for every point, each ``(N, K)`` (a diagonal guide)."""
    model.eval()
    locs, scales = [], []
    for _, batch in data.sequential(batch_size, model.device):
        loc, scale = model.posterior_params(batch)
        if scale.dim() != loc.dim():
            raise ValueError("posterior distances need a diagonal guide (posterior_covariance='diagonal')")
        locs.append(loc)
        scales.append(scale)
    return torch.cat(locs), torch.cat(scales)


def expected_squared_distance_rows(model: LatentVariableModel, data, candidate_batch: int = 1024) -> DistanceRows:
    """``distance_rows`` for :func:`~pyrodisent.metrics.ncrr`: E_q‖z_i − z_j‖² for queries i and every j,

        ‖μ_i − μ_j‖² + Σ_k (σ_ik² + σ_jk² − 2 c_ij,k σ_ik σ_jk),

    with c_ij from the model's ``cross_correlation_of_means`` when it has one (0 for a factorised guide).
    The guide is evaluated once, for every point; each row then costs distances only."""
    loc, scale = posterior_moments(model, data)
    correlated = hasattr(model, "cross_correlation_of_means")
    variance = scale.pow(2).sum(1).double()

    @torch.no_grad()
    def rows(queries: np.ndarray) -> np.ndarray:
        q = torch.as_tensor(queries, device=loc.device)
        out = []
        for start in range(0, len(loc), candidate_batch):
            stop = min(start + candidate_batch, len(loc))
            mean_part = torch.cdist(loc[q].double(), loc[start:stop].double()).pow(2)
            distance = mean_part + variance[q, None] + variance[None, start:stop]
            if correlated:
                c = model.cross_correlation_of_means(loc[q], loc[start:stop])  # (Q, C, K)
                distance = distance - 2 * torch.einsum("qck,qk,ck->qc", c, scale[q], scale[start:stop]).double()
            out.append(distance.clamp_min(0).cpu())
        return torch.cat(out, 1).numpy()

    return rows
