"""DIP-VAE-I and -II: disentangled inferred prior (Kumar et al., ICLR 2018).

Both add to the negative ELBO a penalty matching a covariance of the inferred codes to the identity
(Eq. 6 for DIP-VAE-I, Eq. 7 for DIP-VAE-II):

    λ_od Σ_{i≠j} [Cov]_ij² + λ_d Σ_i ([Cov]_ii − 1)²,

with Cov = Cov_{p(x)}[μ(x)] (I) or Cov_{q(z)}[z] = Cov_{p(x)}[μ(x)] + E_{p(x)}[diag σ²(x)] (II), both on the
minibatch. As in disentanglement_lib, the penalty is added to the per-point loss (here ×N for the
summed loss). The prior is N(0, I).
"""
from __future__ import annotations

import torch

from pyrodisent.infer import PenalizedELBO
from pyrodisent.infer.traces import data_plate_size, gaussian_posterior_params
from pyrodisent.model import LATENT_SITE, LatentVariableModel
from pyrodisent.registry import MODELS


@MODELS.register("dip_vae")
class DIPVAE(LatentVariableModel):
    """DIP-VAE-I/II: the ELBO plus a penalty pushing the covariance of the encoder means (I) or of q(z) (II) to I.

    :param dip_type: ``i`` or ``ii``. :param lambda_od: off-diagonal weight.
    :param lambda_d: diagonal weight (default 10·λ_od for type I, λ_od for type II, as the study)."""

    def __init__(self, *args, dip_type: str = "i", lambda_od: float = 10.0, lambda_d: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if dip_type not in ("i", "ii"):
            raise ValueError(f"dip_type must be 'i' or 'ii', got {dip_type!r}")
        self.dip_type = dip_type
        self.lambda_od = float(lambda_od)
        self.lambda_d = float(lambda_d) if lambda_d is not None else (10.0 if dip_type == "i" else 1.0) * self.lambda_od

    def code_covariance(self, guide_trace) -> torch.Tensor:
        """The minibatch covariance the penalty acts on, (K, K)."""
        loc, scale = gaussian_posterior_params(guide_trace)
        centred = loc - loc.mean(0)
        covariance = centred.T @ centred / loc.shape[0]
        if self.dip_type == "ii":
            covariance = covariance + torch.diag(scale.pow(2).mean(0))
        return covariance

    def covariance_penalty(self, model_trace, guide_trace) -> torch.Tensor:
        covariance = self.code_covariance(guide_trace)
        diagonal = torch.diagonal(covariance)
        off_diagonal = covariance - torch.diag(diagonal)
        _, num_data = data_plate_size(model_trace.nodes[LATENT_SITE])
        return num_data * (self.lambda_od * off_diagonal.pow(2).sum() + self.lambda_d * (diagonal - 1).pow(2).sum())

    def training_objective(self, num_particles: int = 1):
        return PenalizedELBO(self.covariance_penalty, num_particles)


@MODELS.register("dip_vae_ii")
class DIPVAEII(DIPVAE):
    """DIP-VAE-II: the penalty on Cov_q(z) (λ_d = λ_od by default)."""

    def __init__(self, *args, **kwargs):
        kwargs["dip_type"] = "ii"
        super().__init__(*args, **kwargs)
