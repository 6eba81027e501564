"""Ada-GVAE (Locatello et al., "Weakly-supervised disentanglement without compromises", ICML 2020, §4.1).

Pairs (x1, x2) share an unknown set of factors. One encoder for both observations; per latent dimension the
pair's disagreement δ_j = KL(q(z_j | x1) ‖ q(z_j | x2)); the adaptive threshold τ = ½ (max_j δ_j + min_j δ_j)
(the paper's heuristic for the unknown number of changed factors); on the dimensions with δ_j < τ — taken
as shared — both posteriors are replaced by their average a(q1, q2), here the arithmetic mean of the means
and of the variances (the Group-VAE average). Objective (the paper's pair ELBO with the averaged posteriors
q̃, β-weighted KL as in the β-VAE):

    E_q̃(z1|x1) log p(x1|z1) + E_q̃(z2|x2) log p(x2|z2) − β KL(q̃(z1|x1) ‖ N(0, I)) − β KL(q̃(z2|x2) ‖ N(0, I))

— the sum of the two observations' terms (twice the paper's mean: the same optimum). As a Pyro program: the
model has N(0, I) priors on z1 and z2 and both likelihoods (:class:`~pyrodisent.paired_model.
PairedLatentVariableModel`); the guide samples z1, z2 from the averaged posteriors
(:mod:`pyrodisent.distributions.shared_posteriors`).
"""
from __future__ import annotations

import torch

from pyrodisent.data.batch import Batch
from pyrodisent.distributions.shared_posteriors import (arithmetic_mean, averaged_pair_posteriors,
                                                        gaussian_kl_per_dimension, shared_dimensions)
from pyrodisent.paired_model import PairedLatentVariableModel
from pyrodisent.registry import MODELS


@MODELS.register("ada_gvae")
class AdaGVAE(PairedLatentVariableModel):
    """Weakly supervised pairs: the dimensions below the adaptive KL threshold get the arithmetic mean of the
    pair's posteriors. β (default 1, as the paper's weakly supervised runs' lowest) weighs the KL terms."""

    #: a(q1, q2) on the shared dimensions: (loc_1, scale_1, loc_2, scale_2) → (loc, scale)
    average = staticmethod(arithmetic_mean)

    def __init__(self, *args, beta: float = 1.0, **kwargs):
        super().__init__(*args, beta=beta, **kwargs)

    def pair_posteriors(self, batch: Batch):
        first, second = self.encoded_pair(batch)
        first, second, _ = averaged_pair_posteriors(first, second, self.average)
        return first, second

    @torch.no_grad()
    def changed_dimensions(self, batch: Batch) -> torch.Tensor:
        """δ_j ≥ τ: the dimensions left unaveraged (taken to have changed), (B, K) booleans."""
        (loc_1, scale_1), (loc_2, scale_2) = self.encoded_pair(batch)
        return ~shared_dimensions(gaussian_kl_per_dimension(loc_1, scale_1, loc_2, scale_2))
