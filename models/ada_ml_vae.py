"""Ada-ML-VAE (Locatello et al., "Weakly-supervised disentanglement without compromises", ICML 2020, §4.1).

Ada-GVAE (``models/ada_gvae.py``: one encoder for both observations of a pair, the adaptive threshold
τ = ½ (max_j δ_j + min_j δ_j) on δ_j = KL(q(z_j | x1) ‖ q(z_j | x2)), the pair ELBO with averaged
posteriors on the dimensions below it) with the Multi-Level VAE's average (Bouchacourt et al. 2018): the
product of the two Gaussian experts, as disentanglement_lib computes it,

    v = 2 v1 v2 / (v1 + v2),    μ = (μ1 / v1 + μ2 / v2) · v / 2        (a precision-weighted mean).
"""
from __future__ import annotations

from pyrodisent.distributions.shared_posteriors import product_of_experts
from pyrodisent.registry import MODELS
from pyrodisent.zoo.ada_gvae import AdaGVAE


@MODELS.register("ada_mlvae")
class AdaMLVAE(AdaGVAE):
    """Ada-GVAE with the product of experts, not the arithmetic mean, on the shared dimensions."""

    average = staticmethod(product_of_experts)
