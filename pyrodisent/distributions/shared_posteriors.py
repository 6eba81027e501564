"""Posteriors of a pair that shares some latent dimensions (Locatello et al., ICML 2020, §4, "Practical adaptive
algorithms"): which dimensions a pair shares, and the averaged posterior the two observations get on them.

For diagonal Gaussian posteriors q(z|x1) = N(μ1, v1) and q(z|x2) = N(μ2, v2), per dimension j:

    δ_j = KL(q(z_j | x1) ‖ q(z_j | x2))                       how much the pair disagrees on dimension j
    τ   = ½ (max_j δ_j + min_j δ_j)                           the adaptive threshold, per pair
    j shared  ⇔  δ_j < τ                                      (changed: δ_j ≥ τ)

and on the shared dimensions both observations get one averaged posterior a(q1, q2):

- GVAE (arithmetic mean):     μ = ½ (μ1 + μ2),  v = ½ (v1 + v2)
- ML-VAE (product of experts): v = 2 v1 v2 / (v1 + v2),  μ = (μ1 / v1 + μ2 / v2) · v / 2   (precision-weighted)

Everything takes and returns locations and *scales* (standard deviations), shape (B, K).
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch

Posterior = Tuple[torch.Tensor, torch.Tensor]  # (location, scale), each (B, K)


def gaussian_kl_per_dimension(loc_1: torch.Tensor, scale_1: torch.Tensor, loc_2: torch.Tensor,
                              scale_2: torch.Tensor) -> torch.Tensor:
    """δ_j = KL(N(μ1_j, σ1_j²) ‖ N(μ2_j, σ2_j²)) = log(σ2/σ1) + (σ1² + (μ1 − μ2)²) / (2 σ2²) − ½, shape (B, K)."""
    variance_2 = scale_2 ** 2
    return torch.log(scale_2 / scale_1) + (scale_1 ** 2 + (loc_1 - loc_2) ** 2) / (2 * variance_2) - 0.5


def adaptive_threshold(divergence: torch.Tensor) -> torch.Tensor:
    """τ = ½ (max_j δ_j + min_j δ_j) per pair: ``divergence`` (B, K) → (B, 1)."""
    return 0.5 * (divergence.amax(-1, keepdim=True) + divergence.amin(-1, keepdim=True))


def shared_dimensions(divergence: torch.Tensor) -> torch.Tensor:
    """Booleans (B, K): δ_j < τ, the dimensions the pair is taken to share."""
    return divergence < adaptive_threshold(divergence)


def arithmetic_mean(loc_1: torch.Tensor, scale_1: torch.Tensor, loc_2: torch.Tensor,
                    scale_2: torch.Tensor) -> Posterior:
    """Ada-GVAE's average: the mean of the means and the mean of the variances."""
    variance = 0.5 * (scale_1 ** 2 + scale_2 ** 2)
    return 0.5 * (loc_1 + loc_2), variance.sqrt()


def product_of_experts(loc_1: torch.Tensor, scale_1: torch.Tensor, loc_2: torch.Tensor,
                       scale_2: torch.Tensor) -> Posterior:
    """Ada-ML-VAE's average (disentanglement_lib's MLVAE): variance 2 v1 v2 / (v1 + v2), precision-weighted mean."""
    variance_1, variance_2 = scale_1 ** 2, scale_2 ** 2
    variance = 2 * variance_1 * variance_2 / (variance_1 + variance_2)
    loc = (loc_1 / variance_1 + loc_2 / variance_2) * variance * 0.5
    return loc, variance.sqrt()


AVERAGES: Dict[str, Callable[..., Posterior]] = {"arithmetic_mean": arithmetic_mean,
                                                 "product_of_experts": product_of_experts}


def averaged_pair_posteriors(first: Posterior, second: Posterior, average: Callable[..., Posterior]
                             ) -> Tuple[Posterior, Posterior, torch.Tensor]:
    """The pair's posteriors with the shared dimensions replaced by ``average`` of the two, and the shared
    dimensions: ``((loc_1, scale_1), (loc_2, scale_2), shared (B, K))``."""
    (loc_1, scale_1), (loc_2, scale_2) = first, second
    shared = shared_dimensions(gaussian_kl_per_dimension(loc_1, scale_1, loc_2, scale_2))
    loc, scale = average(loc_1, scale_1, loc_2, scale_2)
    return ((torch.where(shared, loc, loc_1), torch.where(shared, scale, scale_1)),
            (torch.where(shared, loc, loc_2), torch.where(shared, scale, scale_2)), shared)
