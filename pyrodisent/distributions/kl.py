"""Analytic KL divergences that torch does not register but the zoo needs.

KL(N(μ₀, Σ₀) ‖ Π_j N(μ₁ⱼ, s_j²)): a full-covariance guide against a factorised prior (Eq. for two
Gaussians with Σ₁ = diag s²):

    ½ [ Σ_j Σ₀,jj / s_j² + Σ_j (μ₁ⱼ − μ₀ⱼ)² / s_j² − K + Σ_j log s_j² − log det Σ₀ ]
"""
from __future__ import annotations

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, register_kl


def kl_full_gaussian_to_diagonal(loc0: torch.Tensor, scale_tril0: torch.Tensor, loc1: torch.Tensor,
                                 scale1: torch.Tensor) -> torch.Tensor:
    """KL(N(loc0, L₀L₀ᵀ) ‖ N(loc1, diag scale1²)), summed over the last dimension."""
    variance1 = scale1.pow(2)
    diag_cov0 = scale_tril0.pow(2).sum(-1)
    log_det0 = 2 * torch.diagonal(scale_tril0, dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * ((diag_cov0 + (loc1 - loc0).pow(2)) / variance1 + variance1.log() - 1).sum(-1) - 0.5 * log_det0


@register_kl(MultivariateNormal, Independent)
def _kl_mvn_independent(p: MultivariateNormal, q: Independent):
    if not isinstance(q.base_dist, Normal) or q.reinterpreted_batch_ndims != 1:
        raise NotImplementedError
    return kl_full_gaussian_to_diagonal(p.loc, p.scale_tril, q.base_dist.loc, q.base_dist.scale)
